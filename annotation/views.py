from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.template.response import TemplateResponse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_safe

from . import access, selectors
from .forms import MAX_K
from .htmx import wants_fragment

# Stored images are re-encoded by the importer, so the extension the server chose is
# trustworthy; anything else on disk is not served at all.
IMAGE_CONTENT_TYPES = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


@require_safe
@login_required
def home(request):
    projects = selectors.projects_with_counts(request.user)
    return TemplateResponse(request, "annotation/home.html", {"projects": projects})


def _page_number(request) -> int:
    # Out-of-range numbers are clamped by Paginator.get_page; junk means the first page.
    try:
        return int(request.GET.get("page", 1))
    except ValueError:
        return 1


@require_safe
@login_required
def project_detail(request, project_id: int):
    project = access.project_for_user(request.user, project_id)
    # NUL can't reach PostgreSQL (it refuses to compare such strings): drop it.
    search = request.GET.get("q", "")[:200].replace("\x00", "")
    ctx = {
        "project": project,
        "search": search,
        "queries": selectors.queries_page(project, search=search, page=_page_number(request)),
    }
    if wants_fragment(request):
        response = TemplateResponse(request, "annotation/project_detail.html#query-table", ctx)
    else:
        ctx.update(
            counts=selectors.project_counts(project),
            levels=project.levels.all(),
            runs=selectors.runs_with_counts(project),
            is_lead=access.is_lead(request.user, project),
        )
        response = TemplateResponse(request, "annotation/project_detail.html", ctx)
    # The same URL answers a fragment or a page: caches must tell them apart.
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_safe
@login_required
def run_detail(request, project_id: int, run_id: int):
    run = access.run_for_user(request.user, project_id, run_id)
    # The metrics page links a query to its results at the page's k; bad values there
    # fall back to the whole run at the default k, since this page only displays.
    top_k = _int_param(request, "k", default=selectors.RUN_TOP_K, low=1, high=MAX_K)
    query_id = _int_param(request, "query", default=None, low=1)
    ctx = {
        "project": run.project,
        "run": run,
        "queries": selectors.run_queries_page(run, page=_page_number(request), top_k=top_k, query_id=query_id),
        "top_k": top_k,
        "one_query": query_id is not None,
        # Annotators label blind: the LLM's label of a pair is for leads (judging/pair_detail too).
        "show_llm": access.can_see_all_labels(request.user, run.project),
    }
    return TemplateResponse(request, "annotation/run_detail.html", ctx)


def _int_param(request, name: str, *, default: int | None, low: int, high: int | None = None) -> int | None:
    try:
        value = int(request.GET[name])
    except (KeyError, ValueError):
        return default
    if value < low or (high is not None and value > high):
        return default
    return value


@require_safe
@login_required
def product_image(request, image_id: int):
    image = selectors.product_image_for_user(request.user, image_id)
    root = Path(settings.MEDIA_ROOT).resolve()
    try:
        # resolve() follows symlinks too, so a link pointing out of MEDIA_ROOT is refused.
        path = (root / image.stored_name).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            raise Http404("image file not found")
        content_type = IMAGE_CONTENT_TYPES.get(path.suffix.lower().removeprefix("."))
        if content_type is None:
            raise Http404("not a servable image type")
        handle = path.open("rb")
    except (OSError, ValueError):
        raise Http404("image file not found") from None
    response = FileResponse(handle, content_type=content_type)
    response["Content-Disposition"] = "inline"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=3600"
    return response
