"""The lead's agreement dashboard and the hard-disagreements page.

The dashboard reads cached snapshots (reviews.dashboard.snapshot): a page view never
waits for a million labels to be aggregated, except the very first one of a project.
Recommendations are worked out at render time from the cached figures and the lead's
current (or draft) target, so moving the target is instant.
"""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST, require_safe
from django_htmx.http import HttpResponseClientRefresh

from annotation.access import lead_project
from annotation.htmx import wants_fragment
from annotation.label_keys import keyed_levels, label_keys

from .. import charts
from ..agreement.data import agreement_supported
from ..agreement.subsets import judge_vs_gold_table
from ..dashboard.disagreements import (
    UNTAGGED,
    category_counts,
    disagreement_tag_set,
    gold_set_message,
    hard_disagreements,
    max_gap,
    override_gold,
    rows_for_page,
    send_to_adjudication,
)
from ..dashboard.policy import (
    TO_HUMANS,
    policy_accept_recommendations,
    rules_after_accepting,
    segment_recommendations,
)
from ..dashboard.snapshot import dashboard_part
from ..models import ErrorCategory
from ..routing import SEGMENT_DIMENSIONS, segment_set
from ..services.errors import ReviewError
from ..services.policies import policy_current

DIMENSION_NAMES = {
    "tag": "Query tag",
    "category": "Product category",
    "locale": "Locale",
    "model": "LLM model",
    "prompt": "Prompt version",
    "mode": "Judging mode",
}
PAGE_SIZE = 25


def _float(raw, default: float, low: float, high: float) -> float | None:
    """A number from the query string; None (→ 400) when present but not a number in range."""
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if low <= value <= high else None


def _settings(request, policy) -> tuple[str, float, int] | None:
    """Segment dimension, target α and minimum n from the request, the policy's by default."""
    data = request.POST if request.method == "POST" else request.GET
    by = data.get("by") or "tag"
    target = _float(data.get("target"), policy.target_alpha, -1, 1)
    min_n = _float(data.get("min_n"), policy.min_segment_n, 1, 1_000_000)
    if by not in SEGMENT_DIMENSIONS or target is None or min_n is None or min_n != int(min_n):
        return None
    return by, target, int(min_n)


def _charts(core: dict) -> dict:
    summary = core["summary"]
    # "1 · irrelevant": the key a reviewer presses, then the name; never the stored value.
    # The snapshot's own scale names the axes, so they always match its counts.
    shown = keyed_levels((level["value"], level["name"]) for level in summary["scale"])
    scale_names = [str(shown[level["value"]]) for level in summary["scale"]]
    distribution = core["distribution"]
    shown_dist = keyed_levels(zip(distribution["values"], distribution["names"], strict=True))
    confusion = summary["llm_vs_gold"].get("confusion") or {}
    return {
        "over_time": mark_safe(  # charts.py escapes every text it writes
            charts.line_chart(
                [(row["week"][5:], row["agreement"]) for row in core["over_time"]],
                title="LLM–human agreement per week (share of human labels matching the LLM)",
            )
        ),
        "confusion": mark_safe(
            charts.heatmap(
                confusion.get("matrix") or [],
                rows=scale_names,
                columns=scale_names,
                title="Confusion matrix: human gold (rows) vs LLM (columns)",
                row_title="human gold",
                column_title="LLM",
            )
        ),
        "distribution": mark_safe(
            charts.grouped_bars(
                [(row["source"], row["counts"]) for row in distribution["sources"]],
                series=[str(shown_dist[value]) for value in distribution["values"]],
                title="Label distribution per source",
            )
        ),
    }


def accepting_changes(policy, *, by: str, rows: list[dict], target: float, min_n: int) -> bool:
    """Whether "Accept recommendations" would save anything: the same comparison that
    policy_accept_recommendations makes before it writes a new version."""
    if by not in SEGMENT_DIMENSIONS:
        return False  # segments of this dimension cannot be routed
    rules = rules_after_accepting(policy.route_segments, by=by, recommendations=rows)
    return (
        segment_set(rules) != segment_set(policy.route_segments)
        or target != policy.target_alpha
        or min_n != policy.min_segment_n
    )


@require_safe
@login_required
def dashboard(request, project_id: int):
    project = lead_project(request.user, project_id)
    policy = policy_current(project)
    chosen = _settings(request, policy)
    if chosen is None:
        return HttpResponseBadRequest(
            "by must be a segment dimension, target a number in [-1, 1], min_n a positive integer"
        )
    by, target, min_n = chosen
    if not agreement_supported():
        # The embedded mode (SQLite) runs everything else; these aggregations are PostgreSQL SQL.
        return TemplateResponse(request, "reviews/dashboard_computing.html", {"project": project, "unsupported": True})
    segments = dashboard_part(project, f"segments:{by}")
    core = dashboard_part(project, "core") if not wants_fragment(request) or request.GET.get("waiting") else None
    if segments.get("pending") or (core and core.get("pending")):
        template = "reviews/dashboard_computing.html" + ("#poll" if wants_fragment(request) else "")
        response = TemplateResponse(request, template, {"project": project, "by": by})
        patch_vary_headers(response, ["HX-Request"])
        return response
    if request.GET.get("waiting") and wants_fragment(request):
        return HttpResponseClientRefresh()  # the first figures are in: show the whole page
    rows = segment_recommendations(segments["data"]["rows"], by=by, policy=policy, target=target, min_n=min_n)
    ctx = {
        "project": project,
        "policy": policy,
        "by": by,
        "by_name": DIMENSION_NAMES[by],
        "dimensions": list(DIMENSION_NAMES.items()),
        "target": target,
        "min_n": min_n,
        "segments": segments,
        "rows": rows,
        "to_humans": sum(1 for row in rows if row["recommendation"] == TO_HUMANS),
        "accept_changes": accepting_changes(policy, by=by, rows=rows, target=target, min_n=min_n),
    }
    if wants_fragment(request):
        # Moving the target or the dimension redraws the segment table only.
        response = TemplateResponse(request, "reviews/dashboard.html#segments", ctx)
    else:
        assert core is not None  # read above for every whole page
        ctx.update(
            core=core,
            summary=core["data"]["summary"],
            annotators=core["data"]["annotators"],
            charts=_charts(core["data"]),
            judge_vs_gold=judge_vs_gold_table(project),  # RAIR figures: reviews/_judge_vs_gold.html
        )
        response = TemplateResponse(request, "reviews/dashboard.html", ctx)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_POST
@login_required
def dashboard_accept(request, project_id: int):
    project = lead_project(request.user, project_id)
    policy = policy_current(project)
    chosen = _settings(request, policy)
    if chosen is None:
        return HttpResponseBadRequest(
            "by must be a segment dimension, target a number in [-1, 1], min_n a positive integer"
        )
    by, target, min_n = chosen
    if not agreement_supported():
        return HttpResponseBadRequest("agreement figures need PostgreSQL; nothing to accept")
    # The figures the lead was looking at: the cached snapshot, not a fresh recomputation.
    segments = dashboard_part(project, f"segments:{by}")
    if segments.get("pending"):
        # Evicted from the cache meanwhile: never accept figures nobody has seen.
        messages.info(request, "The figures are being recomputed; accept them again when the page shows them.")
        return redirect(f"{reverse('reviews:dashboard', args=[project.id])}?{urlencode({'by': by})}")
    rows = segment_recommendations(segments["data"]["rows"], by=by, policy=policy, target=target, min_n=min_n)
    accepted = policy_accept_recommendations(
        project=project, user=request.user, by=by, recommendations=rows, target=target, min_n=min_n
    )
    if not accepted.created:
        messages.info(request, f"Nothing changed: version {accepted.policy.version} already routes these segments.")
    elif accepted.in_background:
        messages.success(
            request,
            f"Saved version {accepted.policy.version}: rerouting in the background (progress on the policy page).",
        )
    else:
        assert accepted.moves is not None  # a new version is always rerouted
        messages.success(
            request,
            f"Saved version {accepted.policy.version}: {accepted.moves.to_humans} pair(s) sent to humans, "
            f"{accepted.moves.to_llm} pair(s) settled by the LLM instead.",
        )
    return redirect(f"{reverse('reviews:dashboard', args=[project.id])}?{urlencode({'by': by})}")


# --- hard disagreements ------------------------------------------------------------------------


def _gap(request, project) -> int | None:
    largest = max_gap(project)
    raw = request.GET.get("gap", "")
    if not raw:
        return largest
    try:
        gap = int(raw)
    except ValueError:
        return None
    return gap if 1 <= gap <= largest else None


@require_safe
@login_required
def disagreements(request, project_id: int):
    project = lead_project(request.user, project_id)
    gap = _gap(request, project)
    if gap is None:
        return HttpResponseBadRequest("gap must be a whole number of scale steps between 1 and the scale's width")
    category = request.GET.get("category", "")
    if category and category != UNTAGGED and category not in ErrorCategory.values:
        return HttpResponseBadRequest("unknown error category")
    paginator = Paginator(hard_disagreements(project, gap=gap, category=category), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    ctx = {
        "project": project,
        "gap": gap,
        "gaps": list(range(max_gap(project), 0, -1)),
        "page": page,
        "rows": rows_for_page(list(page.object_list)),
        "labels": label_keys(project),
        "categories": ErrorCategory.choices,
        "category": category,
        "untagged": UNTAGGED,
        "counts": category_counts(project),
    }
    template = "reviews/disagreements.html#list" if wants_fragment(request) else "reviews/disagreements.html"
    response = TemplateResponse(request, template, ctx)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_POST
@login_required
def disagreement_tag(request, project_id: int, pair_id: int):
    project = lead_project(request.user, project_id)
    pair = hard_disagreements(project, gap=1).filter(id=pair_id).first()
    if pair is None:
        raise Http404("no such disagreement in this project")
    category = request.POST.get("category", "")
    if category and category not in ErrorCategory.values:
        return HttpResponseBadRequest("unknown error category")
    disagreement_tag_set(project=project, pair=pair, user=request.user, category=category)
    if not request.htmx:
        return redirect("reviews:disagreements", project.id)
    pair.error_category = category
    ctx = {
        "project": project,
        "row": rows_for_page([pair])[0],
        "labels": label_keys(project),
        "categories": ErrorCategory.choices,
        "counts": category_counts(project),
        "oob": True,
    }
    return TemplateResponse(request, "reviews/disagreements.html#tagged", ctx)


@require_POST
@login_required
def disagreement_action(request, project_id: int, pair_id: int):
    """A lead's action on a hard disagreement: `adjudicate` (open an adjudication task)
    or `override` (set gold to `value`, recorded as the lead's label, provenance
    adjudicated). The answer is the row again, with what happened."""
    project = lead_project(request.user, project_id)
    pair = hard_disagreements(project, gap=1).filter(id=pair_id).first()
    if pair is None:
        raise Http404("no such disagreement in this project")
    action, message, status = request.POST.get("action", ""), "", 200
    try:
        if action == "adjudicate":
            send_to_adjudication(project=project, pair=pair, user=request.user)
            message = "Sent to adjudication: it waits in the adjudication queue."
        elif action == "override":
            raw = request.POST.get("value", "")
            if not raw.lstrip("-").isdigit():
                raise ReviewError("choose the gold label", status=400)
            override_gold(project=project, pair=pair, user=request.user, value=int(raw))
            message = gold_set_message(project, int(raw))
        else:
            raise ReviewError(f"unknown action {action!r}: adjudicate or override", status=400)
    except ReviewError as exc:
        message, status = str(exc), exc.status
    if not request.htmx:
        (messages.success if status == 200 else messages.error)(request, message)
        return redirect("reviews:disagreements", project.id)
    # Its gold as it is now (it may agree with the LLM after an override); the LLM side is as read.
    pair.refresh_from_db(fields=["gold_value", "gold_provenance", "gold_policy_version", "gold_updated_at"])
    ctx = {
        "project": project,
        "row": rows_for_page([pair])[0],
        "labels": label_keys(project),
        "categories": ErrorCategory.choices,
        "action_message": message,
        "action_error": status != 200,
    }
    return TemplateResponse(request, "reviews/disagreements.html#row", ctx, status=status)
