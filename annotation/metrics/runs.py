"""`run_metrics(run, …)`: reads a run with three aggregated queries (never one per row)
and feeds the per-query figures; `unjudged_pairs`: the holes a judge job should fill."""

from dataclasses import asdict, dataclass, field
from typing import Any

from django.db.models import Case, Count, F, IntegerField, Q, QuerySet, RowRange, Sum, Value, When, Window
from django.db.models.functions import RowNumber

from ..models import Pair, Query, SearchResult, SearchRun
from .per_query import Mean, MetricScale, MetricsError, QueryMetrics, mean_metrics, query_metrics
from .sql import annotate_label_value, big_sort, result_order

LABEL_SOURCES = ("gold", "llm", "human", "any")


@dataclass(frozen=True)
class QueryRow:
    query_id: int
    external_id: str
    text: str
    traffic: int
    metrics: QueryMetrics

    def to_dict(self) -> dict[str, Any]:
        return {"query_id": self.external_id, "query": self.text, "traffic": self.traffic, **asdict(self.metrics)}


@dataclass
class RunMetrics:
    run_id: int
    run_name: str
    project_id: int
    k: int
    label_source: str
    relevant_min_value: int
    irrelevant_value: int
    queries: list[QueryRow]
    means: dict[str, Mean]
    judged_at_k: int = 0  # over all queries: judged results in the top k
    retrieved_at_k: int = 0
    unjudged_queries: int = 0  # queries without a single judged pair
    notes: list[str] = field(default_factory=list)

    @property
    def provisional(self) -> bool:
        """True when the figures come from unreviewed labels rather than gold."""
        return self.label_source != "gold"

    @property
    def coverage(self) -> float | None:
        """Judged share of all top-k results, pooled over the queries."""
        return self.judged_at_k / self.retrieved_at_k if self.retrieved_at_k else None

    @property
    def holes(self) -> int:
        """Unjudged results in the top k: what a judge job would have to fill."""
        return self.retrieved_at_k - self.judged_at_k

    def row(self, external_id: str) -> QueryRow | None:
        return next((row for row in self.queries if row.external_id == external_id), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run_name,
            "k": self.k,
            "label_source": self.label_source,
            "provisional": self.provisional,
            "relevant_min_value": self.relevant_min_value,
            "irrelevant_value": self.irrelevant_value,
            "queries": len(self.queries),
            "unjudged_queries": self.unjudged_queries,
            "coverage": self.coverage,
            "holes": self.holes,
            "means": {name: asdict(mean) for name, mean in self.means.items()},
            "notes": self.notes,
            "per_query": [row.to_dict() for row in self.queries],
        }


def _read_top(
    run: SearchRun, scale: MetricScale, k: int, label_source: str
) -> tuple[dict[int, list[int | None]], dict[int, int], dict[int, int]]:
    """The label values of every query's top k ({query id: [value or None] * k}), the
    position of its first relevant result wherever it is ({query id: position}) and the
    length of its list ({query id: results}).

    A row number and a running count of relevant results over one window, so the
    database sorts the run once; only the top-k rows and each first relevant row come
    back."""
    order = result_order()
    relevant = Case(When(v__gte=scale.relevant_min_value, then=Value(1)), default=Value(0), output_field=IntegerField())
    ranked = (
        annotate_label_value(SearchResult.objects.filter(run=run), label_source, pair="pair")
        .annotate(
            rel=relevant,
            # The same window clause for both, so PostgreSQL computes them in one pass.
            pos=Window(RowNumber(), partition_by=[F("query_id")], order_by=order, frame=RowRange(start=None, end=0)),
            rel_seen=Window(
                Sum(relevant), partition_by=[F("query_id")], order_by=order, frame=RowRange(start=None, end=0)
            ),
            retrieved=Window(Count("id"), partition_by=[F("query_id")]),
        )
        .filter(Q(pos__lte=k) | Q(rel=1, rel_seen=1))
        .order_by()
        .values_list("query_id", "pos", "v", "rel", "retrieved")
    )
    top: dict[int, list[int | None]] = {}
    first_relevant: dict[int, int] = {}
    retrieved: dict[int, int] = {}
    # A plain fetch, not .iterator(): a server-side cursor makes PostgreSQL plan for the
    # first rows (nested loops), three times slower here, and the rows are few anyway:
    # at most k + 1 per query.
    for query_id, position, value, is_relevant, count in ranked:
        retrieved[query_id] = count
        if position <= k:
            top.setdefault(query_id, [None] * k)[position - 1] = value
        if is_relevant and position < first_relevant.get(query_id, position + 1):
            first_relevant[query_id] = position
    return top, first_relevant, retrieved


def run_metrics(
    run: SearchRun,
    *,
    k: int = 10,
    relevant_min_value: int | None = None,
    label_source: str = "gold",
) -> RunMetrics:
    """Per-query figures and their means for a run at cut-off k.

    label_source: "gold" (the pairs' gold values) or, before there is gold, the newest
    label per pair of "llm", "human" or "any" source; such figures are provisional and
    say so (`provisional`, `notes`).
    """
    if label_source not in LABEL_SOURCES:
        raise MetricsError(f"unknown label source {label_source!r}; choose one of {', '.join(LABEL_SOURCES)}")
    if k < 1:
        raise MetricsError("k must be at least 1")
    scale = MetricScale.for_project(run.project_id, relevant_min_value)

    with big_sort():
        top, first_relevant, retrieved = _read_top(run, scale, k, label_source)
        # The histogram of judged values over all the query's pairs, in the run or not,
        # gives the ideal list and the relevant total.
        pairs = Pair.objects.filter(
            project_id=run.project_id, query_id__in=SearchResult.objects.filter(run=run).values("query_id")
        )
        histograms: dict[int, dict[int, int]] = {}
        for query_id, value, count in (
            annotate_label_value(pairs, label_source)
            .filter(v__isnull=False)
            .order_by()
            .values("query_id", "v")
            .annotate(n=Count("id"))
            .values_list("query_id", "v", "n")
        ):
            histograms.setdefault(query_id, {})[value] = count
        info = {
            row[0]: row[1:]
            for row in Query.objects.filter(id__in=SearchResult.objects.filter(run=run).values("query_id")).values_list(
                "id", "external_id", "text", "traffic"
            )
        }

    rows: list[QueryRow] = []
    for query_id in sorted(retrieved, key=lambda q: info[q][0]):
        count = retrieved[query_id]
        values = top.get(query_id, [])[: min(k, count)]
        metrics = query_metrics(
            values,
            histograms.get(query_id, {}),
            scale=scale,
            k=k,
            retrieved=count,
            first_relevant=first_relevant.get(query_id),
        )
        external_id, text, traffic = info[query_id]
        rows.append(QueryRow(query_id, external_id, text, traffic, metrics))

    result = RunMetrics(
        run_id=run.id,
        run_name=run.name,
        project_id=run.project_id,
        k=k,
        label_source=label_source,
        relevant_min_value=scale.relevant_min_value,
        irrelevant_value=scale.irrelevant_value,
        queries=rows,
        means=mean_metrics(row.metrics for row in rows),
        judged_at_k=sum(row.metrics.judged_at_k for row in rows),
        retrieved_at_k=sum(row.metrics.retrieved_at_k for row in rows),
        unjudged_queries=sum(1 for row in rows if row.metrics.judged_total == 0),
    )
    if result.provisional:
        result.notes.append(
            f"provisional: computed from the newest {label_source} label of each pair, not from reviewed gold labels"
        )
    return result


def unjudged_pairs(run: SearchRun, *, k: int | None = None, label_source: str = "gold") -> "QuerySet[Pair, int]":
    """The pairs of the run's results (within the top k of each query, if k is given)
    that have no label of label_source: the holes a judge job should fill. A queryset of
    Pair ids, so callers can hand it to a job without loading it."""
    if label_source not in LABEL_SOURCES:
        raise MetricsError(f"unknown label source {label_source!r}")
    results = SearchResult.objects.filter(run=run)
    if k is not None:
        results = results.annotate(
            pos=Window(RowNumber(), partition_by=[F("query_id")], order_by=result_order())
        ).filter(pos__lte=k)
    pairs = Pair.objects.filter(id__in=results.values("pair_id"))
    return annotate_label_value(pairs, label_source).filter(v__isnull=True).order_by("id").values_list("id", flat=True)
