"""Where a run's pairs stand (reviews.services.pair_states), as a card that the run page
and the metrics page load: each state counted and named, one judge action for the pairs
that truly lack a judgment, the waiting ones linked to the review queue."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_POST, require_safe

from annotation import access
from annotation.forms import MAX_K
from annotation.htmx import wants_fragment
from annotation.models import SearchRun
from judging import hooks
from judging.jobs import JobError, judge_job_create
from judging.selectors import run_has_active_job

from ..services.pair_states import run_pair_states
from ..services.route import route_pairs

TEMPLATE = "reviews/run_states.html"
# While a judge job of the run is active the card fetches itself again this often, so the
# counts move without a reload. Only then: each fetch counts every pair of the run by state.
POLL_SECONDS = 5


def _k(data) -> int | None:
    """The top-k cut the card counts in; none (or anything else) means every pair."""
    value = data.get("k", "")
    return int(value) if value.isdigit() and 1 <= int(value) <= MAX_K else None


def _respond(
    request, run: SearchRun, k: int | None, *, message: str = "", error: str = "", status: int = 200, started=False
):
    project = run.project
    ctx = {
        "project": project,
        "run": run,
        "k": k,
        "states": run_pair_states(run, k=k),
        "is_lead": access.is_lead(request.user, project),
        "active_job": run_has_active_job(run),
        "poll_seconds": POLL_SECONDS,
        "message": message,
        "error": error,
        "started": started,
    }
    template = f"{TEMPLATE}#states" if wants_fragment(request) else TEMPLATE
    response = TemplateResponse(request, template, ctx, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_safe
@login_required
def run_states(request, project_id: int, run_id: int):
    run = access.run_for_user(request.user, project_id, run_id)
    return _respond(request, run, _k(request.GET))


@require_POST
@login_required
def run_states_judge(request, project_id: int, run_id: int):
    """Judge the pairs (of the top k) that are not judged or whose judging failed, and
    route them when the job is done; nothing else, since the rest would come from the
    cache and change nothing."""
    run = access.run_for_user(request.user, project_id, run_id)
    access.require_lead(request.user, run.project, "start judging jobs")
    k = _k(request.POST)
    if run_has_active_job(run):
        return _respond(request, run, k, error="A judging job for this run is still active.", status=409)
    pair_ids = run_pair_states(run, k=k).to_judge
    if not pair_ids:
        return _respond(request, run, k, error="Every pair here has a judgment already.", status=409)
    try:
        job = judge_job_create(
            project=run.project,
            run=run,
            pair_ids=pair_ids,
            holes_only=True,
            user=request.user,
            on_done=hooks.after_run_judged(),
        )
    except JobError as exc:  # JobConflict (409): another request started a job first
        return _respond(request, run, k, error=str(exc), status=exc.status)
    if not request.htmx:
        return redirect("run_detail", run.project_id, run.id)
    message = f"Judging job {job.id} started for {job.total} pair{'' if job.total == 1 else 's'}."
    return _respond(request, run, k, message=message, started=True)


@require_POST
@login_required
def run_states_route(request, project_id: int, run_id: int):
    """Route the judged pairs that routing has not seen: gold or a review task each."""
    run = access.run_for_user(request.user, project_id, run_id)
    access.require_lead(request.user, run.project, "route pairs")
    k = _k(request.POST)
    pair_ids = run_pair_states(run, k=k).ids["judged"]
    summary = route_pairs(project=run.project, pair_ids=pair_ids)
    if not request.htmx:
        return redirect("run_detail", run.project_id, run.id)
    message = (
        f"Routed {len(pair_ids)} judged pair(s): {summary.auto_accepted} to gold, {summary.to_humans} to reviewers."
    )
    return _respond(request, run, k, message=message)
