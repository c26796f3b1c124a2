"""The lead's routing policy page: the thresholds as a form with a live what-if preview
(field errors shown inline as they are typed), applying a change as a new version,
reverting to an earlier version, and the progress of a rerouting that runs in a worker."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from annotation.access import project_for_user, require_lead

from .. import selectors
from ..dashboard.policy import whatif_figures
from ..forms import PolicyForm
from ..models import RerouteJob
from ..services.errors import ReviewError
from ..services.policies import policy_current
from ..services.reroute import (
    PolicyChange,
    policy_change,
    policy_revert,
    reroute_enqueue,
    reroute_latest,
    reroute_preview,
)
from .calibration import DEFAULT_CATCH, routing_panel, unit_param


def _policy_page(request, project, form: PolicyForm, *, routing: dict | None, status: int = 200, picked: str = ""):
    current = policy_current(project)
    ctx = {
        "project": project,
        "policy": current,
        "form": form,
        "versions": selectors.policy_versions(project),
        "preview": None,
        "picked": picked,
        "routing": routing,
        "reroute": reroute_latest(project),
    }
    if form.is_bound and form.is_valid():
        ctx["preview"] = _preview(project, form, current)
    return TemplateResponse(request, "reviews/policy.html", ctx, status=status)


def _shown(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(value) or "none"
    return str(value)


def _preview(project, form: PolicyForm, current) -> dict:
    # The next version's number: that is the version Apply would save.
    view = form.policy_view(current.version + 1)
    moves = reroute_preview(project=project, policy=view)
    return {
        "to_humans": moves.to_humans,
        "to_llm": moves.to_llm,
        "reasons": [(selectors.REASON_NAMES.get(str(r), str(r)), n) for r, n in moves.reasons.most_common()],
        "whatif": whatif_figures(project=project, view=view, moves=moves, hourly_rate=form.cleaned_data["hourly_rate"]),
    }


def _saved(request, change: PolicyChange) -> None:
    job = change.job
    if job is not None and job.status == RerouteJob.Status.RUNNING:
        messages.success(
            request, f"Saved version {change.policy.version}: rerouting in the background (progress below)."
        )
        return
    messages.success(
        request,
        f"Saved version {change.policy.version}: {change.moves.to_humans} pair(s) sent to humans, "
        f"{change.moves.to_llm} pair(s) settled by the LLM instead.",
    )


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def policy(request, project_id: int):
    project = project_for_user(request.user, project_id)
    require_lead(request.user, project)
    current = policy_current(project)
    # The curve is drawn from every human-labelled pair's judgments: read once per request.
    routing = routing_panel(project, threshold=current.min_confidence, catch=_catch(request))
    if request.method != "POST":
        form = PolicyForm.for_policy(current)
        picked = _picked_threshold(request, routing)
        if picked is not None:
            # A point picked on the routing-value curve: shown in the form, saved only by Apply.
            form.initial["min_confidence"] = picked[0]
        return _policy_page(request, project, form, routing=routing, picked=picked[1] if picked else "")
    form = PolicyForm.for_policy(current, data=request.POST)
    if not form.is_valid():
        return _policy_page(request, project, form, routing=routing, status=400)
    changes = form.changes()
    if not changes:
        messages.info(request, f"Nothing changed: version {current.version} stays current.")
        return redirect("reviews:policy", project.id)
    _saved(request, policy_change(project=project, user=request.user, note=form.cleaned_data["note"], **changes))
    return redirect("reviews:policy", project.id)


def _catch(request) -> float:
    try:
        catch = unit_param(request.GET.get("catch"), DEFAULT_CATCH)
    except ValueError:
        return DEFAULT_CATCH
    return DEFAULT_CATCH if catch is None else catch


def _picked_threshold(request, routing: dict | None) -> tuple[float, str] | None:
    """?min_confidence=T (a point on the curve) or ?catch=S (the cheapest threshold that
    catches S of the judge's errors): the threshold and a sentence saying where it came from."""
    try:
        threshold = unit_param(request.GET.get("min_confidence"), None)
    except ValueError:
        return None
    if threshold is not None:
        return threshold, f"Min. confidence {threshold:.3f} picked on the routing-value curve."
    if "catch" not in request.GET:
        return None
    if routing is None or routing["target"] is None or routing["target"]["threshold"] is None:
        return None
    target = routing["target"]
    return target["threshold"], (
        f"Min. confidence {target['threshold']:.3f} catches {target['errors_caught']:.0%} of the judge's errors "
        f"and sends {target['to_humans']:.0%} of the pairs to humans."
    )


@require_POST
@login_required
def policy_preview(request, project_id: int):
    project = project_for_user(request.user, project_id)
    require_lead(request.user, project)
    current = policy_current(project)
    form = PolicyForm.for_policy(current, data=request.POST)
    # `inline_errors`: the fragment also carries each field's errors (or none) for the
    # slots beside the inputs, swapped out of band, so an invalid value never leaves an
    # old preview up with nothing said.
    ctx = {"project": project, "policy": current, "form": form, "preview": None, "inline_errors": True}
    if form.is_valid():
        ctx["preview"] = _preview(project, form, current)
        ctx["changes"] = [
            (form[name].label, _shown(getattr(current, name)), _shown(value)) for name, value in form.changes().items()
        ]
    return TemplateResponse(request, "reviews/policy.html#preview", ctx)


@require_POST
@login_required
def policy_revert_view(request, project_id: int, version: int):
    project = project_for_user(request.user, project_id)
    try:
        change = policy_revert(project=project, user=request.user, version=version)
    except ReviewError as exc:
        if exc.status == 404:
            raise Http404(str(exc)) from exc
        raise
    if change is None:
        messages.info(request, f"Version {version}'s thresholds are the current ones: nothing changed.")
    else:
        _saved(request, change)
    return redirect("reviews:policy", project.id)


@require_safe
@login_required
def reroute_progress(request, project_id: int, job_id: int):
    """The progress panel of a rerouting job, polled by the page while it runs."""
    project = project_for_user(request.user, project_id)
    require_lead(request.user, project)
    job = RerouteJob.objects.filter(project=project, id=job_id).select_related("policy").first()
    if job is None:
        raise Http404("no such rerouting")
    return TemplateResponse(request, "reviews/policy.html#reroute", {"project": project, "reroute": job})


@require_POST
@login_required
def reroute_resume(request, project_id: int, job_id: int):
    """Hand a stalled rerouting to a worker again: it carries on after its last batch."""
    project = project_for_user(request.user, project_id)
    require_lead(request.user, project)
    job = RerouteJob.objects.filter(project=project, id=job_id, status=RerouteJob.Status.RUNNING).first()
    if job is None:
        raise Http404("no such running rerouting")
    reroute_enqueue(job)
    messages.info(request, f"Rerouting under v{job.policy.version} handed to a worker again.")
    return redirect("reviews:policy", project.id)
