"""The lead's page of flagged tasks: what reviewers said was wrong, and the answer
(back to the queue, drop the task, send the pair to adjudication or override its gold),
filtered by the reason the task was in the queue."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_POST, require_safe

from annotation.access import lead_project
from annotation.label_keys import label_keys
from annotation.models import ProductImage

from .. import selectors
from ..models import Reason, ReviewTask
from ..services.errors import ReviewError
from ..services.flag_actions import flag_settle
from ..services.queue import task_flag_resolve

PAGE_SIZE = 50


@require_safe
@login_required
def flagged(request, project_id: int):
    project = lead_project(request.user, project_id)
    tasks = selectors.flagged_tasks(project)
    reason = request.GET.get("reason", "")
    if reason not in Reason.values:
        reason = ""  # an unknown reason: all flags, not an empty page
    reason_counts = {row["reason"]: row["n"] for row in tasks.order_by().values("reason").annotate(n=Count("id"))}
    if reason:
        tasks = tasks.filter(reason=reason)
    page = Paginator(tasks, PAGE_SIZE).get_page(request.GET.get("page"))
    thumbnails = first_images([task.pair.product_id for task in page.object_list])
    for task in page.object_list:
        task.thumbnail = thumbnails.get(task.pair.product_id)
    ctx = {
        "project": project,
        "page": page,
        "reason": reason,
        # Only the reasons some flag has, with how many: the filter never offers an empty choice.
        "reasons": [(value, name, reason_counts[value]) for value, name in Reason.choices if value in reason_counts],
        "labels": label_keys(project),
    }
    return TemplateResponse(request, "reviews/flagged.html", ctx)


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
    # A refused answer leaves the flag open: the row comes back with its actions, gold choices included.
    ctx = {
        "project": project,
        "task": task,
        "labels": label_keys(project),
        "error": error,
        "done": task.status != ReviewTask.Status.FLAGGED,
    }
    return TemplateResponse(request, "reviews/flagged.html#row", ctx, status=status)


@require_POST
@login_required
def flag_action(request, project_id: int, task_id: int):
    """`adjudicate` or `override` (with `value`) on a flagged task, as on the hard
    disagreements page; the answer is the row again, with what happened."""
    project = lead_project(request.user, project_id)
    task = selectors.task_of_project(project, task_id)
    raw = request.POST.get("value", "")
    value = int(raw) if raw.lstrip("-").isdigit() else None
    message, status = "", 200
    try:
        message = flag_settle(task=task, user=request.user, action=request.POST.get("action", ""), value=value)
    except ReviewError as exc:
        message, status = str(exc), exc.status
        task.refresh_from_db()  # another lead may have answered the flag meanwhile
    if not request.htmx:
        (messages.success if status == 200 else messages.error)(request, message)
        return redirect("reviews:flagged", project.id)
    ctx = {
        "project": project,
        "task": task,
        "labels": label_keys(project),
        "error": message if status != 200 else "",
        "action_message": message if status == 200 else "",
        "done": task.status != ReviewTask.Status.FLAGGED,
    }
    return TemplateResponse(request, "reviews/flagged.html#row", ctx, status=status)
