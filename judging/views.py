"""Judging pages: the run page's judging panel, the job list, the pair page.

Thin views: objects come through access-checked selectors (a foreign id is a 404),
writes go to judging.jobs, and spending money (starting or cancelling a job) needs the
lead or admin role in the project.
"""

from typing import Any

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_POST, require_safe

from annotation import access
from annotation.access import project_for_user, run_for_user
from annotation.forms import FILLABLE_SOURCES, MetricSettingsForm
from annotation.htmx import wants_fragment
from annotation.metrics import unjudged_pairs
from annotation.models import SearchRun

from . import hooks, selectors
from .jobs import JobError, judge_job_cancel, judge_job_create
from .models import JudgeJob
from .services import judge_config_for

PANEL_ID = "judging-panel"


def _page_number(request) -> int:
    try:
        return int(request.GET.get("page", 1))
    except ValueError:
        return 1


def duration_text(seconds: int | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _panel_response(request, run: SearchRun, *, error: str = "", status: int = 200) -> TemplateResponse:
    project = run.project
    config = judge_config_for(project)
    job = selectors.latest_run_job(run)
    active = job is not None and job.status in JudgeJob.ACTIVE
    figures = selectors.job_figures(job) if job else None
    ctx = {
        "project": project,
        "run": run,
        "job": job,
        "figures": figures,
        "eta_text": duration_text(figures.eta_seconds) if figures else "",
        "active": active,
        "setup": selectors.judge_setup(config),
        # No hole count: the panel no longer offers a judge action (the pair-states card
        # counts what lacks a judgment), and counting read every pair of the run.
        "can_manage": access.can_manage_jobs(request.user, project),
        "error": error,
        "panel_id": PANEL_ID,
    }
    template = "judging/run_panel.html#panel" if wants_fragment(request) else "judging/run_panel.html"
    response = TemplateResponse(request, template, ctx, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_safe
@login_required
def run_judging_panel(request, project_id: int, run_id: int):
    run = run_for_user(request.user, project_id, run_id)
    return _panel_response(request, run)


@require_POST
@login_required
def run_judge_start(request, project_id: int, run_id: int):
    run = run_for_user(request.user, project_id, run_id)
    access.require_lead(request.user, run.project, "start or cancel judging jobs")
    # Two jobs over the same holes would pay for every pair twice.
    if selectors.run_has_active_job(run):
        return _panel_response(request, run, error="A judging job for this run is still active.", status=409)
    try:
        judge_job_create(project=run.project, run=run, holes_only=True, user=request.user)
    except JobError as exc:  # JobConflict (409): another request started a job first
        return _panel_response(request, run, error=str(exc), status=exc.status)
    if request.htmx:
        return _panel_response(request, run)
    return redirect("run_detail", run.project_id, run.id)


@require_POST
@login_required
def run_fill_holes(request, project_id: int, run_id: int):
    """Judge exactly the top-k pairs that the run's metrics page (same k and label
    source) reports without a label; the answer is the run's judging panel, which
    follows the job's progress."""
    run = run_for_user(request.user, project_id, run_id)
    access.require_lead(request.user, run.project, "start or cancel judging jobs")
    form = MetricSettingsForm(request.POST)
    if not form.is_valid():
        errors = "; ".join(f"{field}: {' '.join(str(m) for m in messages)}" for field, messages in form.errors.items())
        return _panel_response(request, run, error=f"Bad request: {errors}", status=400)
    if selectors.run_has_active_job(run):
        return _panel_response(request, run, error="A judging job for this run is still active.", status=409)
    k, source = form.cleaned_data["k"], form.cleaned_data["source"]
    if source not in FILLABLE_SOURCES:
        error = "An LLM job cannot fill missing human labels: route the pairs to review."
        return _panel_response(request, run, error=error, status=400)
    holes = list(unjudged_pairs(run, k=k, label_source=source))
    if not holes:
        return _panel_response(request, run, error=f"No holes: every top-{k} result has a {source} label.", status=409)
    try:
        # Not holes_only: a pair the model judged already but that lacks gold is still a
        # hole; its judgment comes from the cache for free and it gets routed.
        judge_job_create(
            project=run.project,
            run=run,
            pair_ids=holes,
            holes_only=False,
            user=request.user,
            # Judged pairs become gold only when reviews routes them (auto-accept or a
            # review task); reviews registers that task as this hook.
            on_done=hooks.after_run_judged() if source == "gold" else "",
        )
    except JobError as exc:  # JobConflict (409): another request started a job first
        return _panel_response(request, run, error=str(exc), status=exc.status)
    if request.htmx:
        return _panel_response(request, run)
    return redirect("run_detail", run.project_id, run.id)


@require_POST
@login_required
def job_cancel(request, project_id: int, job_id: int):
    job = selectors.job_for_user(request.user, project_id, job_id)
    project = job.project
    access.require_lead(request.user, project, "start or cancel judging jobs")
    cancelled = judge_job_cancel(job=job)
    job.refresh_from_db()
    status = 200 if cancelled else 409
    error = "" if cancelled else f"The job is already {job.get_status_display().lower()}."
    if not request.htmx:
        return redirect("judging:job_list", project.id)
    if request.htmx.target == PANEL_ID and job.run is not None:
        return _panel_response(request, job.run, error=error, status=status)
    ctx = {
        "project": project,
        "job": job,
        "figures": selectors.job_figures(job),
        "can_manage": True,
        "error": error,
    }
    return TemplateResponse(request, "judging/job_list.html#job-row", ctx, status=status)


@require_safe
@login_required
def job_list(request, project_id: int):
    project = project_for_user(request.user, project_id)
    ctx = {
        "project": project,
        "jobs": selectors.jobs_page(project, page=_page_number(request)),
        "can_manage": access.can_manage_jobs(request.user, project),
        "setup": selectors.judge_setup(judge_config_for(project)),
    }
    template = "judging/job_list.html#job-table" if wants_fragment(request) else "judging/job_list.html"
    response = TemplateResponse(request, template, ctx)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_safe
@login_required
def pair_detail(request, project_id: int, pair_id: int):
    pair = selectors.pair_for_user(request.user, project_id, pair_id)
    ctx: dict[str, Any] = {"project": pair.project, "pair": pair, "query": pair.query, "product": pair.product}
    ctx.update(selectors.pair_details(pair))
    if not access.can_see_all_labels(request.user, pair.project):
        # Annotators label blind (audits, second raters): the LLM's and other people's
        # labels of a pair are for leads, or the blind card could be looked up here.
        ctx.update(labels=[], unlabelled_judgments=[], labels_hidden=True)
    return TemplateResponse(request, "judging/pair_detail.html", ctx)
