"""Evaluate pages: a run's metrics, and two runs compared.

Thin views over annotation.metrics and annotation.comparison, which do all the
computing; these only validate the query string, sort and page the rows, and add the
coverage each figure was computed on (never a figure without it). Objects come through
access-checked selectors, so a foreign id is a 404; a bad k, label source or run choice
is a 400 that shows the form's errors.
"""

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.template.response import TemplateResponse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_safe

from .. import access
from ..comparison import LOWER_IS_BETTER, compare_run_metrics, worst_queries
from ..forms import (
    DEFAULT_K,
    FILLABLE_SOURCES,
    METRIC_TITLES,
    SOURCE_CHOICES,
    CompareForm,
    RunMetricsForm,
)
from ..htmx import wants_fragment
from ..label_keys import label_keys
from ..metrics import METRICS, MetricsError, QueryRow, RunMetrics, run_metrics
from ..metrics.recall import recall_by_locale
from ..models import Label, Project, SearchRun
from . import charts
from .params import page_number

METRIC_ROWS_PER_PAGE = 50
WORST_N = 10
# The judging app rates its offline baseline under names starting so (judging.offline,
# one per version); its figures must not pass for an LLM's.
OFFLINE_RATER_PREFIX = "offline-baseline"
SHOWN_RATERS = 10


def metric_title(name: str, k: int) -> str:
    return METRIC_TITLES[name].replace("@k", f"@{k}")


def label_raters(project: Project, source: str) -> list[str]:
    """Who wrote the labels that provisional figures come from (LLM model names), so
    the page can say whether they are an LLM's or the offline baseline's."""
    if source not in ("llm", "any"):
        return []
    raters = Label.objects.filter(project=project, source="llm").order_by("rater").values_list("rater", flat=True)
    return list(raters.distinct()[:SHOWN_RATERS])


def coverage_of(rows: list[QueryRow]) -> float | None:
    """Judged share of the top-k results of these queries, pooled."""
    retrieved = sum(row.metrics.retrieved_at_k for row in rows)
    return sum(row.metrics.judged_at_k for row in rows) / retrieved if retrieved else None


def mean_rows(metrics: RunMetrics) -> list[dict]:
    """Each mean with the number of queries it is over and the judged coverage of those
    queries' top k: a mean over well-judged queries reads differently from one over
    half-judged ones."""
    rows = []
    for name in METRICS:
        if name == "coverage":
            continue
        defined = [row for row in metrics.queries if getattr(row.metrics, name) is not None]
        mean = metrics.means[name]
        rows.append(
            {
                "name": name,
                "title": metric_title(name, metrics.k),
                "value": mean.value,
                "queries": mean.queries,
                "coverage": coverage_of(defined),
            }
        )
    return rows


def sorted_rows(rows: list[QueryRow], metric: str, order: str) -> list[QueryRow]:
    """Worst first (lowest, or highest for irrelevant@k) or best first; queries where the
    metric is undefined come last either way, heavier traffic first among equals."""
    sign = -1 if metric in LOWER_IS_BETTER else 1
    if order == "best":
        sign = -sign
    defined = [row for row in rows if getattr(row.metrics, metric) is not None]
    undefined = [row for row in rows if getattr(row.metrics, metric) is None]
    defined.sort(key=lambda row: (sign * getattr(row.metrics, metric), -row.traffic, row.external_id))
    undefined.sort(key=lambda row: (-row.traffic, row.external_id))
    return defined + undefined


def _respond(request, template: str, fragment: str, ctx: dict, status: int = 200) -> TemplateResponse:
    name = f"{template}#{fragment}" if wants_fragment(request) else template
    response = TemplateResponse(request, name, ctx, status=status)
    # The same URL answers a fragment or a page: caches must tell them apart.
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_safe
@login_required
def run_metrics_page(request, project_id: int, run_id: int):
    run = access.run_for_user(request.user, project_id, run_id)
    project = run.project
    # Defaults first, so that the form shows the figures' settings on a first visit too.
    form = RunMetricsForm({"k": DEFAULT_K, "source": "gold", "sort": "ndcg", "order": "worst", **request.GET.dict()})
    ctx: dict[str, object] = {"project": project, "run": run, "form": form}
    template = "annotation/run_metrics.html"
    if not form.is_valid():
        return _respond(request, template, "metrics", ctx, status=400)
    k, source, sort, order = (form.cleaned_data[name] for name in ("k", "source", "sort", "order"))
    access.require_label_source(request.user, project, source)
    try:
        metrics = run_metrics(run, k=k, label_source=source)
    except MetricsError as exc:
        # The project's scale, not the request, is at fault (e.g. no positive gain).
        ctx["error"] = str(exc)
        return _respond(request, template, "metrics", ctx, status=409)
    rows = sorted_rows(metrics.queries, sort, order)
    # Any: the page's rows become (row, metric values) pairs for the table.
    page: Page[Any] = Paginator(rows, METRIC_ROWS_PER_PAGE).get_page(page_number(request))
    page.object_list = [(row, [getattr(row.metrics, name) for name in METRICS]) for row in page.object_list]
    raters = label_raters(project, source)
    ctx.update(
        metrics=metrics,
        labels=label_keys(project),  # the relevance cut-offs by key and name
        k=k,
        source=source,
        source_title=dict(SOURCE_CHOICES)[source],
        sort=sort,
        order=order,
        columns=[{"name": name, "title": metric_title(name, k)} for name in METRICS],
        means=mean_rows(metrics),
        rows=page,
        recall_rows=recall_by_locale(metrics),
        raters=raters,
        offline=any(rater.startswith(OFFLINE_RATER_PREFIX) for rater in raters),
        can_fill=metrics.holes > 0 and source in FILLABLE_SOURCES and access.can_manage_jobs(request.user, project),
        ndcg_histogram=ndcg_histogram(metrics),
    )
    return _respond(request, template, "metrics", ctx)


@require_safe
@login_required
def run_compare(request, project_id: int):
    project = access.project_for_user(request.user, project_id)
    template = "annotation/run_compare.html"
    ctx: dict[str, object] = {"project": project}
    if "a" not in request.GET or "b" not in request.GET:
        # A first visit (or one from a run's page, ?b=): nothing computed yet; B is that
        # run or the newest, A the newest other run.
        ctx["form"] = CompareForm(project=project, initial=_initial_runs(project, request.GET.get("b", "")))
        return _respond(request, template, "comparison", ctx)
    form = CompareForm({"k": DEFAULT_K, "source": "gold", "metric": "ndcg", **request.GET.dict()}, project=project)
    ctx["form"] = form
    if not form.is_valid():
        return _respond(request, template, "comparison", ctx, status=400)
    run_a, run_b, metric, k, source = (form.cleaned_data[name] for name in ("a", "b", "metric", "k", "source"))
    access.require_label_source(request.user, project, source)
    try:
        metrics_a = run_metrics(run_a, k=k, label_source=source)
        metrics_b = run_metrics(run_b, k=k, label_source=source)
        comparison = compare_run_metrics(metrics_a, metrics_b, metric=metric)
    except MetricsError as exc:
        ctx["error"] = str(exc)
        return _respond(request, template, "comparison", ctx, status=409)
    raters = label_raters(project, source)
    title = metric_title(metric, k)
    links_b = {row.external_id: row.query_id for row in metrics_b.queries}
    ctx.update(
        run_a=run_a,
        run_b=run_b,
        metrics_a=metrics_a,
        metrics_b=metrics_b,
        metric=metric,
        metric_title=title,
        k=k,
        source=source,
        source_title=dict(SOURCE_CHOICES)[source],
        comparison=comparison,
        worsened=[
            {"delta": d, "delta_text": f"{d.delta:+.3f}", "query_id": links_b.get(d.external_id)}
            for d in comparison.worsened(WORST_N)
        ],
        delta_text=None if comparison.mean_delta is None else f"{comparison.mean_delta:+.4f}",
        ci_text=None if comparison.ci is None else f"[{comparison.ci[0]:+.4f}, {comparison.ci[1]:+.4f}]",
        sides=[
            _side("A", run_a, metrics_a, metric, comparison.mean_a),
            _side("B", run_b, metrics_b, metric, comparison.mean_b),
        ],
        lower_is_better=metric in LOWER_IS_BETTER,
        raters=raters,
        offline=any(rater.startswith(OFFLINE_RATER_PREFIX) for rater in raters),
        worst_n=WORST_N,
        recall_sides=[(run_a.name, recall_by_locale(metrics_a)), (run_b.name, recall_by_locale(metrics_b))],
        interval_chart=interval_chart(comparison, run_a, run_b, title),
    )
    return _respond(request, template, "comparison", ctx)


def ndcg_histogram(metrics: RunMetrics):
    """Where the queries' nDCG@k fall, in tenths: a mean hides a run that is perfect on
    half its queries and useless on the rest."""
    values = [row.metrics.ndcg for row in metrics.queries if row.metrics.ndcg is not None]
    title = metric_title("ndcg", metrics.k)
    return charts.histogram(values, title=f"Queries by {title}", x_title=title)


def interval_chart(comparison, run_a, run_b, title: str):
    """Each run's mean over the paired queries with its own 95% bootstrap interval, side
    by side (the paired interval of the difference is in the figures above)."""
    rows = [
        {"label": f"A · {run_a.name}", "mean": comparison.mean_a, "values": [d.a for d in comparison.deltas]},
        {"label": f"B · {run_b.name}", "mean": comparison.mean_b, "values": [d.b for d in comparison.deltas]},
    ]
    for row in rows:
        row["ci"] = charts.mean_interval(row.pop("values"))
    return charts.intervals(rows, title=f"{title} of A and B with 95% bootstrap intervals")


def _initial_runs(project: Project, wanted_b: str) -> dict:
    runs = list(SearchRun.objects.filter(project=project).order_by("-created_at", "-id").values_list("id", flat=True))
    b = int(wanted_b) if wanted_b.isdigit() and int(wanted_b) in runs else (runs[0] if runs else None)
    a = next((run for run in runs if run != b), None)
    initial = {"k": DEFAULT_K, "source": "gold", "metric": "ndcg"}
    return initial | {name: value for name, value in (("a", a), ("b", b)) if value is not None}


def _side(letter: str, run, metrics: RunMetrics, metric: str, paired_mean: float | None) -> dict:
    mean = metrics.means[metric]
    return {
        "letter": letter,
        "run": run,
        "paired_mean": paired_mean,
        "mean": mean.value,
        "mean_queries": mean.queries,
        "queries": len(metrics.queries),
        "coverage": metrics.coverage,
        "holes": metrics.holes,
        "worst": [(row, getattr(row.metrics, metric)) for row in worst_queries(metrics, metric=metric, n=WORST_N)],
    }
