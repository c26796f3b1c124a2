"""`run_metrics(run, …)`: reads a run with two or three aggregated queries (reads.py)
and feeds the per-query figures; `unjudged_pairs`: the holes a judge job should fill."""

from dataclasses import asdict, dataclass, field
from typing import Any

from django.db import connection
from django.db.models import F, QuerySet, Window
from django.db.models.functions import RowNumber

from ..models import Pair, SearchResult, SearchRun
from .per_query import (
    Mean,
    MetricScale,
    MetricsError,
    QueryMetrics,
    first_relevant_position,
    mean_metrics,
    query_metrics,
)
from .portable import read_run
from .reads import read_first_relevant, read_histograms, read_tops
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

    if connection.vendor == "postgresql":
        with big_sort():
            tops = read_tops(run.id, k, label_source)
            histograms = read_histograms(run.project_id, label_source)
            # MRR looks past the top k, but only a query with a relevant pair and none in
            # its top k needs the rest of its list.
            deeper = [
                row[0]
                for row in tops
                if not any(scale.is_relevant(value) for value in row[5])
                and any(scale.is_relevant(value) for value in histograms.get(row[0], {}))
            ]
            first_relevant = (
                read_first_relevant(run.id, deeper, label_source, scale.relevant_min_value) if deeper else {}
            )
    else:
        tops, histograms, first_relevant = read_run(run.id, run.project_id, k, label_source, scale.relevant_min_value)

    rows: list[QueryRow] = []
    for query_id, external_id, text, traffic, count, values in sorted(tops, key=lambda row: row[1]):
        metrics = query_metrics(
            values,
            histograms.get(query_id, {}),
            scale=scale,
            k=k,
            retrieved=count,
            first_relevant=first_relevant.get(query_id, first_relevant_position(values, scale)),
        )
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
