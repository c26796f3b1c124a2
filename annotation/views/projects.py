"""The home page (the caller's projects), a project's page and a run's page."""

from django.contrib.auth.decorators import login_required
from django.template.response import TemplateResponse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_safe

from .. import access, selectors
from ..forms import MAX_K
from ..htmx import wants_fragment
from ..label_keys import keyed_scale
from .params import int_param, page_number


@require_safe
@login_required
def home(request):
    projects = selectors.projects_with_counts(request.user)
    return TemplateResponse(request, "annotation/home.html", {"projects": projects})


@require_safe
@login_required
def project_detail(request, project_id: int):
    project = access.project_for_user(request.user, project_id)
    # NUL can't reach PostgreSQL (it refuses to compare such strings): drop it.
    search = request.GET.get("q", "")[:200].replace("\x00", "")
    ctx = {
        "project": project,
        "search": search,
        "queries": selectors.queries_page(project, search=search, page=page_number(request)),
    }
    if wants_fragment(request):
        response = TemplateResponse(request, "annotation/project_detail.html#query-table", ctx)
    else:
        ctx.update(
            counts=selectors.project_counts(project),
            levels=keyed_scale(project),
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
    top_k = int_param(request, "k", default=selectors.RUN_TOP_K, low=1, high=MAX_K)
    query_id = int_param(request, "query", default=None, low=1)
    ctx = {
        "project": run.project,
        "run": run,
        "queries": selectors.run_queries_page(run, page=page_number(request), top_k=top_k, query_id=query_id),
        "top_k": top_k,
        "one_query": query_id is not None,
        # Annotators label blind: the LLM's label of a pair is for leads (judging/pair_detail too).
        "show_llm": access.can_see_all_labels(request.user, run.project),
    }
    return TemplateResponse(request, "annotation/run_detail.html", ctx)
