"""The lead's page of flagged tasks: what reviewers said was wrong, and the answer
(back to the queue, or drop the task)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_POST, require_safe

from annotation.access import lead_project
from annotation.models import ProductImage

from .. import selectors
from ..models import ReviewTask
from ..services.errors import ReviewError
from ..services.queue import task_flag_resolve

PAGE_SIZE = 50


@require_safe
@login_required
def flagged(request, project_id: int):
    project = lead_project(request.user, project_id)
    page = Paginator(selectors.flagged_tasks(project), PAGE_SIZE).get_page(request.GET.get("page"))
    thumbnails = first_images([task.pair.product_id for task in page.object_list])
    for task in page.object_list:
        task.thumbnail = thumbnails.get(task.pair.product_id)
    return TemplateResponse(request, "reviews/flagged.html", {"project": project, "page": page})


def first_images(product_ids: list[int]) -> dict[int, int]:
    """{product id: id of its first stored image}, in one query."""
    found: dict[int, int] = {}
    rows = (
        ProductImage.objects.filter(product_id__in=product_ids, status=ProductImage.Status.STORED)
        .order_by("product_id", "position", "id")
        .values_list("product_id", "id")
    )
    for product_id, image_id in rows:
        found.setdefault(product_id, image_id)
    return found


@require_POST
@login_required
def flag_resolve(request, project_id: int, task_id: int):
    project = lead_project(request.user, project_id)
    task = selectors.task_of_project(project, task_id)
    error, status = "", 200
    try:
        task = task_flag_resolve(task=task, user=request.user, action=request.POST.get("action", ""))
    except ReviewError as exc:
        error, status = str(exc), exc.status
    if not request.htmx:  # a plain form post: back to the list (POST-redirect-GET)
        if error:
            messages.error(request, error)
        return redirect("reviews:flagged", project.id)
    ctx = {"project": project, "task": task, "error": error, "done": task.status != ReviewTask.Status.FLAGGED}
    return TemplateResponse(request, "reviews/flagged.html#row", ctx, status=status)
