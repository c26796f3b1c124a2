"""Judge the judge: the lead's page of how each judge configuration compares with human
labels (reviews.calibration), and the routing-value curve the policy page draws from it."""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponseBadRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_safe

from annotation.access import lead_project
from annotation.label_keys import keyed_levels, shown_named
from annotation.models import Project

from .. import charts
from ..calibration import calibration_report
from ..calibration.figures import threshold_for_errors_caught
from ..services.policies import policy_current

PAGE_BOOT = 200  # replicates for the page's intervals: seconds at most, even on big projects
DEFAULT_CATCH = 0.8


def unit_param(raw: str | None, default: float | None) -> float | None:
    """A share in [0, 1] from the query string; ValueError when present but not one."""
    if raw in (None, ""):
        return default
    value = float(raw)  # ValueError for text
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{raw} is not between 0 and 1")
    return value


def curve_chart(project: Project, entry: dict, threshold: float) -> str:
    link = reverse("reviews:policy", args=[project.id]) + "?min_confidence="
    return mark_safe(  # charts escape every piece of text they draw
        charts.routing_curve(entry["curve"], title=f"Routing value of {entry['label']}", link=link, current=threshold)
    )


def routing_panel(project: Project, *, threshold: float, catch: float) -> dict | None:
    """For the policy page: the curve of the judge configuration with the most pairs
    compared against people, and the threshold that catches `catch` of its errors."""
    report = calibration_report(project, min_confidence=threshold, catch_target=catch, n_boot=0, segments=False)
    if not report["configurations"]:
        return None
    entry = report["configurations"][0]
    return {
        "entry": entry,
        "chart": curve_chart(project, entry, threshold),
        "catch": catch,
        "target": threshold_for_errors_caught(entry["curve"], catch),
        "others": len(report["configurations"]) - 1,
    }


@require_safe
@login_required
def calibration(request, project_id: int):
    project = lead_project(request.user, project_id, "see how the judge compares with people")
    policy = policy_current(project)
    try:
        catch = unit_param(request.GET.get("catch"), DEFAULT_CATCH)
    except ValueError:
        return HttpResponseBadRequest("catch must be a share between 0 and 1")
    assert catch is not None
    report = calibration_report(project, min_confidence=policy.min_confidence, catch_target=catch, n_boot=PAGE_BOOT)
    # The confusion tables name each level by its key and name ("1 · irrelevant").
    shown = keyed_levels(zip(report["scale"]["values"], report["scale"]["names"], strict=True))
    level_names = [str(shown[value]) for value in report["scale"]["values"]]
    for entry in report["configurations"]:
        entry["chart"] = curve_chart(project, entry, policy.min_confidence)
        entry["confusion_rows"] = list(zip(level_names, entry["confusion"]))
    ctx = {
        "project": project,
        "policy": policy,
        "report": report,
        "catch": catch,
        "level_names": level_names,
        "relevant_from": shown_named(shown, report["relevant_from"]),  # acc@2's cut, by key and name
    }
    return TemplateResponse(request, "reviews/calibration.html", ctx)
