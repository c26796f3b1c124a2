"""The lead's "Retrieve & Repeat" page: search-engine connectors, schedules and the
metric history of each schedule.

Leads only (an annotator gets 403; a foreign project or connector is a 404). Testing a
connector runs one guarded request in the request cycle (its timeout is at most 120 s
and defaults to 10); "Run now" only opens a cycle and hands it to a worker.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from annotation.access import lead_project
from annotation.connectors import ConnectorError, FetchError, SpecError, connector_search
from annotation.models import MetricSnapshot, Product, RepeatSchedule, SearchConnector

from ..services.errors import ReviewError
from .forms import ConnectorForm, ProbeForm, ScheduleForm
from .services import repeat_now, top_queries

PAGE = "reviews/repeat.html"
HISTORY = 30
SPARK_W, SPARK_H = 160, 32


def _sparkline(snapshots: list[MetricSnapshot]) -> dict | None:
    """Points of nDCG over time (oldest first) scaled into the SVG box; None under two points."""
    values = [
        (s.ndcg, s.regression) for s in snapshots if s.status == MetricSnapshot.Status.DONE and s.ndcg is not None
    ]
    if len(values) < 2:
        return None
    low, high = min(v for v, _ in values), max(v for v, _ in values)
    step = SPARK_W / (len(values) - 1)

    def y(value: float) -> float:
        if high == low:  # a flat line sits in the middle, not on the floor
            return SPARK_H / 2
        return round(SPARK_H - 2 - (value - low) / (high - low) * (SPARK_H - 4), 1)

    points = [(round(i * step, 1), y(v), flag) for i, (v, flag) in enumerate(values)]
    return {
        "width": SPARK_W,
        "height": SPARK_H,
        "polyline": " ".join(f"{x},{y}" for x, y, _ in points),
        "regressions": [(x, y) for x, y, flag in points if flag],
        "low": low,
        "high": high,
    }


def _schedules(project) -> list[dict]:
    rows = []
    for schedule in (
        RepeatSchedule.objects.filter(connector__project=project).select_related("connector").order_by("id")
    ):
        history = list(schedule.snapshots.order_by("-created_at", "-id")[:HISTORY])
        rows.append({"schedule": schedule, "history": history, "spark": _sparkline(list(reversed(history)))})
    return rows


def _page(request, project, *, connector_form=None, schedule_form=None, editing=None, status: int = 200):
    connectors = list(SearchConnector.objects.filter(project=project))
    top = top_queries(project, 1)
    ctx = {
        "project": project,
        "connectors": connectors,
        "editing": editing,
        "connector_form": connector_form or ConnectorForm(project=project, instance=editing),
        "schedule_form": schedule_form or ScheduleForm(project=project),
        "schedules": _schedules(project),
        "probe_default": top[0] if top else None,
    }
    return TemplateResponse(request, PAGE, ctx, status=status)


@require_safe
@login_required
def repeat_page(request, project_id: int):
    project = lead_project(request.user, project_id)
    return _page(request, project)


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def connector_edit(request, project_id: int, connector_id: int | None = None):
    project = lead_project(request.user, project_id)
    connector = get_object_or_404(SearchConnector, id=connector_id, project=project) if connector_id else None
    if request.method != "POST":
        return _page(request, project, editing=connector)
    form = ConnectorForm(request.POST, project=project, instance=connector)
    if not form.is_valid():
        return _page(request, project, connector_form=form, editing=connector, status=400)
    saved = form.save()
    messages.success(request, f"Connector {saved.name} saved.")
    return redirect("repeat:page", project.id)


@require_POST
@login_required
def connector_test(request, project_id: int, connector_id: int):
    project = lead_project(request.user, project_id)
    connector = get_object_or_404(SearchConnector, id=connector_id, project=project)
    form = ProbeForm(request.POST)
    ctx = {"project": project, "connector": connector, "query": "", "hits": None, "problems": [], "error": ""}
    status = 200
    if not form.is_valid():
        ctx["error"], status = "Give a query to test with.", 400
    else:
        query = ctx["query"] = form.cleaned_data["query"]
        try:
            hits, ctx["problems"] = connector_search(connector=connector, query_text=query)
        except (FetchError, SpecError, ConnectorError) as exc:
            # The engine's failure is reported on the page, not as an error of this request.
            ctx["error"] = str(exc)
        else:
            known = set(
                Product.objects.filter(project=project, external_id__in=[h.product_id for h in hits]).values_list(
                    "external_id", flat=True
                )
            )
            ctx["hits"] = [(hit, hit.product_id in known) for hit in hits]
    return TemplateResponse(request, f"{PAGE}#test-result", ctx, status=status)


@require_POST
@login_required
def schedule_edit(request, project_id: int, schedule_id: int | None = None):
    project = lead_project(request.user, project_id)
    schedule = get_object_or_404(RepeatSchedule, id=schedule_id, connector__project=project) if schedule_id else None
    form = ScheduleForm(request.POST, project=project, instance=schedule)
    if not form.is_valid():
        return _page(request, project, schedule_form=form, status=400)
    saved = form.save()
    messages.success(request, f"Schedule saved: {saved}.")
    return redirect("repeat:page", project.id)


@require_POST
@login_required
def schedule_run(request, project_id: int, schedule_id: int):
    project = lead_project(request.user, project_id)
    schedule = get_object_or_404(
        RepeatSchedule.objects.select_related("connector"), id=schedule_id, connector__project=project
    )
    try:
        repeat_now(schedule=schedule, user=request.user)
    except ReviewError as exc:
        messages.error(request, str(exc))
        return _page(request, project, status=exc.status)
    messages.success(request, "Started: the run is fetched, judged and measured; the history below shows its progress.")
    return redirect("repeat:page", project.id)
