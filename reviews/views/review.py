"""Review pages: the queue, the keyboard-driven review card and the run status page
(the lead's routing policy is in policy.py).

Thin views: projects and tasks come through access-checked selectors (a foreign id is
a 404), every state change goes through reviews.services, and its ReviewError becomes
the status it names (409 stale, 403 not a lead, 400 bad input).
"""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import (
    require_POST,
    require_safe,
)

from annotation.access import is_lead, project_for_user, require_lead, run_for_user
from annotation.htmx import wants_fragment
from annotation.models import GoldProvenance, Project
from judging.jobs import JobError
from judging.selectors import run_has_active_job

from .. import selectors
from ..card_rules import intent_counts
from ..forms import FlagForm, SubmitForm
from ..models import Reason, ReviewTask
from ..services.errors import ReviewError
from ..services.evaluate import run_evaluate, run_status
from ..services.queue import task_claim_next, task_flag, task_skip, task_submit, task_undo

CARD = "reviews/review.html#card"


def _queue_filter(request) -> tuple[str | None, str]:
    """The reason filter and task kind of the review session, from the query string.
    Unknown values are ignored rather than passed on to a query."""
    reason = request.GET.get("reason", "")
    kind = request.GET.get("kind", "")
    return (
        reason if reason in Reason.values else None,
        ReviewTask.Kind.ADJUDICATION if kind == ReviewTask.Kind.ADJUDICATION else ReviewTask.Kind.LABEL,
    )


def _filter_qs(reason: str | None, kind: str, tag: str | None = None) -> str:
    params = {}
    if reason:
        params["reason"] = reason
    if kind == ReviewTask.Kind.ADJUDICATION:
        params["kind"] = kind
    if tag:
        params["tag"] = tag
    return urlencode(params)


def _tag_filter(request) -> str | None:
    """The query-tag filter (an intent or `needs:<attribute>`, judging/intents.py)."""
    return request.GET.get("tag", "").strip()[:60].replace("\x00", "") or None


# --- queue ---------------------------------------------------------------------------


@require_safe
@login_required
def queue(request, project_id: int):
    project = project_for_user(request.user, project_id)
    reason, _ = _queue_filter(request)
    total, per_reason = selectors.queue_counts(project)
    lead = is_lead(request.user, project)
    ctx = {
        "project": project,
        "reason": reason,
        "reason_name": selectors.REASON_NAMES.get(reason, "") if reason else "",
        "total": total,
        "per_reason": per_reason,
        "selected_count": next((r.count for r in per_reason if r.reason == reason), 0) if reason else total,
        "labels_today": selectors.labels_today(request.user, project),
        "is_lead": lead,
        "adjudication_total": selectors.queue_size(project, ReviewTask.Kind.ADJUDICATION) if lead else 0,
        "flagged": selectors.flagged_count(project) if lead else 0,
        "intent_counts": intent_counts(project),
    }
    return TemplateResponse(request, "reviews/queue.html", ctx)


# --- the review card -------------------------------------------------------------------


def _card_response(
    request,
    project,
    *,
    task: ReviewTask | None,
    reason: str | None,
    kind: str,
    status: int = 200,
    notice: str = "",
    problem: str = "",
):
    """The card for `task`, the empty-queue card or a problem (409/400), as a fragment
    for htmx and as the whole review page otherwise."""
    ctx = {
        "project": project,
        "reason": reason,
        "reason_name": selectors.REASON_NAMES.get(reason, "") if reason else "",
        "kind": kind,
        "adjudication": kind == ReviewTask.Kind.ADJUDICATION,
        "filter_qs": _filter_qs(reason, kind, _tag_filter(request)),
        "labels_today": selectors.labels_today(request.user, project),
        "queue_size": selectors.queue_size(project, kind, reason),
        "undo_task": selectors.undoable_task(request.user, project) if kind == ReviewTask.Kind.LABEL else None,
        "notice": notice,
        "problem": problem,
        "task": None,
    }
    if task is not None and not problem:
        ctx.update(selectors.card_context(task))
    if not problem:
        ctx.update(selectors.progress_context(project, request.user, kind, reason, task))
    template = CARD if wants_fragment(request) else "reviews/review.html"
    response = TemplateResponse(request, template, ctx, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _problem_response(request, project, exc: ReviewError, *, reason: str | None, kind: str):
    """A refused state change: 403 is Django's, 409 (stale) and 400 replace the card
    with the message and a way on."""
    if exc.status == 403:
        raise PermissionDenied(str(exc))
    message = str(exc)
    sentence = f"{message[:1].upper()}{message[1:]}."
    return _card_response(request, project, task=None, reason=reason, kind=kind, status=exc.status, problem=sentence)


def _next_card(request, project, *, reason: str | None, kind: str, notice: str = ""):
    try:
        task = task_claim_next(project=project, user=request.user, reason=reason, kind=kind, tag=_tag_filter(request))
    except ReviewError as exc:
        return _problem_response(request, project, exc, reason=reason, kind=kind)
    return _card_response(request, project, task=task, reason=reason, kind=kind, notice=notice)


@require_safe
@login_required
def review(request, project_id: int):
    project = project_for_user(request.user, project_id)
    reason, kind = _queue_filter(request)
    if kind == ReviewTask.Kind.ADJUDICATION:
        require_lead(request.user, project)
    return _next_card(request, project, reason=reason, kind=kind)


def _after_action(request, project, task: ReviewTask, *, notice: str = ""):
    """POST-redirect-GET without htmx; the next card as a fragment with it."""
    reason, _ = _queue_filter(request)
    kind = task.kind
    if not request.htmx:
        url = reverse("reviews:review", args=[project.id])
        query = _filter_qs(reason, kind, _tag_filter(request))
        return redirect(f"{url}?{query}" if query else url)
    return _next_card(request, project, reason=reason, kind=kind, notice=notice)


def _task_or_404(request, project_id: int, task_id: int) -> tuple[Project, ReviewTask]:
    project = project_for_user(request.user, project_id)
    task = selectors.task_of_project(project, task_id)
    if task.kind == ReviewTask.Kind.ADJUDICATION:
        require_lead(request.user, project)
    return project, task


@require_POST
@login_required
def submit(request, project_id: int, task_id: int):
    project, task = _task_or_404(request, project_id, task_id)
    reason, _ = _queue_filter(request)
    form = SubmitForm(request.POST)
    try:
        if not form.is_valid():
            raise ReviewError("choose one of the labels of the scale", status=400)
        data = form.cleaned_data
        task_submit(
            task=task,
            user=request.user,
            value=data["value"],
            time_spent_ms=data["time_spent_ms"],
            applied_rules=request.POST.getlist("applied_rules")[:50],
        )
    except ReviewError as exc:
        return _problem_response(request, project, exc, reason=reason, kind=task.kind)
    return _after_action(request, project, task)


@require_POST
@login_required
def skip(request, project_id: int, task_id: int):
    project, task = _task_or_404(request, project_id, task_id)
    reason, _ = _queue_filter(request)
    try:
        task_skip(task=task, user=request.user)
    except ReviewError as exc:
        return _problem_response(request, project, exc, reason=reason, kind=task.kind)
    return _after_action(request, project, task, notice="Skipped: you will not be offered that pair again.")


@require_POST
@login_required
def flag(request, project_id: int, task_id: int):
    project, task = _task_or_404(request, project_id, task_id)
    reason, _ = _queue_filter(request)
    form = FlagForm(request.POST)
    try:
        if not form.is_valid():
            raise ReviewError("a flag needs a comment saying what is wrong (at most 2000 characters)", status=400)
        task_flag(task=task, user=request.user, comment=form.cleaned_data["comment"])
    except ReviewError as exc:
        return _problem_response(request, project, exc, reason=reason, kind=task.kind)
    return _after_action(request, project, task, notice="Flagged for a lead.")


@require_POST
@login_required
def undo(request, project_id: int, task_id: int):
    project, task = _task_or_404(request, project_id, task_id)
    reason, _ = _queue_filter(request)
    try:
        task = task_undo(task=task, user=request.user)
    except ReviewError as exc:
        return _problem_response(request, project, exc, reason=reason, kind=task.kind)
    if not request.htmx:
        # The reopened task is the user's earliest-expiring claim: the review page shows it.
        return _after_action(request, project, task)
    return _card_response(
        request, project, task=task, reason=reason, kind=task.kind, notice="Undone: label this pair again."
    )


# --- run status ---------------------------------------------------------------------------


def _run_status_response(request, run, *, error: str = "", status: int = 200):
    counts = run_status(run)
    names = dict(GoldProvenance.choices)
    gold = [
        (names.get(key.removeprefix("gold_"), key.removeprefix("gold_")), value)
        for key, value in sorted(counts.items())
        if key.startswith("gold_")
    ]
    ctx = {
        "project": run.project,
        "run": run,
        "status": counts,
        "gold": gold,
        "gold_total": sum(value for _, value in gold),
        "is_lead": is_lead(request.user, run.project),
        "active_job": run_has_active_job(run),
        "error": error,
    }
    return TemplateResponse(request, "reviews/run_status.html", ctx, status=status)


@require_safe
@login_required
def run_status_page(request, project_id: int, run_id: int):
    run = run_for_user(request.user, project_id, run_id)
    return _run_status_response(request, run)


@require_POST
@login_required
def run_evaluate_start(request, project_id: int, run_id: int):
    run = run_for_user(request.user, project_id, run_id)
    require_lead(request.user, run.project)
    # Two jobs over the same holes would pay for every pair twice.
    if run_has_active_job(run):
        return _run_status_response(request, run, error="A judging job for this run is still active.", status=409)
    try:
        job = run_evaluate(run=run, user=request.user)
    except JobError as exc:  # JobConflict (409): another request started a job first
        return _run_status_response(request, run, error=str(exc), status=exc.status)
    messages.success(request, f"Evaluation started: judged pairs were routed; {job.total} pair(s) left to judge.")
    return redirect("reviews:run_status", run.project_id, run.id)
