"""Run metrics: nDCG@k, P@k, irrelevant@k, Recall@k, MRR and judged coverage@k.

Two layers:
- pure functions over one query's data (`query_metrics`, `dcg`, `ideal_dcg`, …), which
  the tests check against pytrec_eval;
- `run_metrics(run, …)`, which reads a run with three aggregated queries (never one per
  row) and feeds the pure functions.

Conventions, chosen to agree with trec_eval where it defines the figure:
- A query's list is ordered by `rank` ascending, then `score` descending (missing scores
  last), then product external id *descending* by code point. The last key is
  trec_eval's own tie-break (it sorts equal scores by docno descending), so the figures
  of a run exported with `export_run` and scored by trec_eval are the same.
- Positions, not the stored rank values, are what count: a list ranked 1, 2, 5 has its
  third result at position 3 (discount log2(4), reciprocal rank 1/3), as in trec_eval.
- Unjudged results have gain 0 and are not relevant, as in trec_eval, but they are
  never *irrelevant*: irrelevant@k counts only results labelled at the lowest level,
  and every figure comes with the judged coverage of the top k it was computed on.
- P@k and irrelevant@k divide by k even when the list is shorter (trec_eval's P@k);
  coverage@k divides by the results actually in the top k.
- nDCG@k's ideal list is built from *all* judged pairs of the query (not only those in
  the run), with linear gains from the project's scale; only positive gains enter it.
- Undefined is None, not 0: nDCG when no judged pair has a positive gain, Recall@k and
  MRR when the query has no relevant judged pair. trec_eval reports 0 there, so its
  averages can be lower than ours; ours say how many queries each mean is over.
- A query with no judged pair at all (in the list or elsewhere) has no metrics, only
  coverage 0, like trec_eval skipping a query missing from the qrels.
"""

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models import Case, Count, F, IntegerField, OuterRef, Q, RowRange, Subquery, Sum, Value, When, Window
from django.db.models.functions import Collate, RowNumber

from .models import Label, Pair, Query, ScaleLevel, SearchResult, SearchRun

LABEL_SOURCES = ("gold", "llm", "human", "any")
# The per-query figures, in the order they are shown; "mrr" is a query's reciprocal rank.
METRICS = ("ndcg", "precision", "irrelevant", "recall", "mrr", "coverage")


class MetricsError(ValueError):
    pass


# --- the scale as the metrics see it ----------------------------------------------------


@dataclass(frozen=True)
class MetricScale:
    """Gains per label value, the relevant cut and the lowest (irrelevant) value."""

    gains: Mapping[int, float]
    relevant_min_value: int
    irrelevant_value: int

    @classmethod
    def from_levels(cls, levels: Iterable[tuple[int, float]], relevant_min_value: int | None = None) -> "MetricScale":
        """levels: (value, gain) pairs. The relevant cut defaults to the smallest value
        whose gain is positive."""
        gains = {int(value): float(gain) for value, gain in levels}
        if not gains:
            raise MetricsError("the project has no label scale")
        if relevant_min_value is None:
            positive = [value for value, gain in gains.items() if gain > 0]
            if not positive:
                raise MetricsError("no label of the scale has a positive gain, so nothing can be relevant")
            relevant_min_value = min(positive)
        elif relevant_min_value not in gains:
            raise MetricsError(f"relevant_min_value {relevant_min_value} is not a value of the scale ({sorted(gains)})")
        return cls(gains=gains, relevant_min_value=relevant_min_value, irrelevant_value=min(gains))

    @classmethod
    def for_project(cls, project_id: int, relevant_min_value: int | None = None) -> "MetricScale":
        return cls.from_levels(
            ScaleLevel.objects.filter(project_id=project_id).values_list("value", "gain"), relevant_min_value
        )

    def is_relevant(self, value: int | None) -> bool:
        return value is not None and value >= self.relevant_min_value


# --- pure functions over one query --------------------------------------------------


def dcg(gains: Sequence[float], k: int) -> float:
    """Σ gain_i / log2(i + 1) over positions i = 1..k."""
    return sum(gain / math.log2(position + 1) for position, gain in enumerate(gains[:k], start=1))


def ideal_dcg(judged: Mapping[int, int], scale: MetricScale, k: int) -> float:
    """The DCG of the best possible top k, from a histogram {label value: pairs}."""
    ordered: list[float] = []
    for value in sorted(judged, key=lambda v: scale.gains[v], reverse=True):
        gain = scale.gains[value]
        if gain <= 0 or len(ordered) >= k:
            break
        ordered.extend([gain] * min(judged[value], k - len(ordered)))
    return dcg(ordered, k)


def first_relevant_position(ranked: Sequence[int | None], scale: MetricScale) -> int | None:
    for position, value in enumerate(ranked, start=1):
        if scale.is_relevant(value):
            return position
    return None


@dataclass(frozen=True)
class QueryMetrics:
    """One query's figures at cut-off k. Counts say what each share is made of."""

    k: int
    retrieved: int  # results of the query in the run
    retrieved_at_k: int  # min(k, retrieved)
    judged_at_k: int
    relevant_at_k: int
    irrelevant_at_k: int
    judged_total: int  # judged pairs of the query, in the run or not
    relevant_total: int
    first_relevant: int | None  # position of the first relevant result in the whole list
    ndcg: float | None
    precision: float | None
    irrelevant: float | None
    recall: float | None
    mrr: float | None
    coverage: float | None


_FROM_LIST = object()


def query_metrics(
    ranked: Sequence[int | None],
    judged: Mapping[int, int] | Iterable[int],
    *,
    scale: MetricScale,
    k: int,
    retrieved: int | None = None,
    first_relevant: Any = _FROM_LIST,
) -> QueryMetrics:
    """The figures of one query.

    ranked: the label values of the run's results in order (None = unjudged); at least
        the top k. judged: the label values of all judged pairs of the query, as a list or
        a histogram {value: count}. retrieved: the length of the whole list, when ranked
        holds only its top k. first_relevant: the position of the first relevant result
        in the whole list (None if there is none), when ranked is cut short; by default it
        is found in ranked.
    """
    if k < 1:
        raise MetricsError("k must be at least 1")
    histogram = Counter(judged) if not isinstance(judged, Mapping) else judged
    top = list(ranked[:k])
    retrieved = len(ranked) if retrieved is None else retrieved
    if first_relevant is _FROM_LIST:
        first_relevant = first_relevant_position(ranked, scale)
    judged_at_k = sum(1 for value in top if value is not None)
    relevant_at_k = sum(1 for value in top if scale.is_relevant(value))
    irrelevant_at_k = sum(1 for value in top if value == scale.irrelevant_value)
    judged_total = sum(histogram.values())
    relevant_total = sum(count for value, count in histogram.items() if scale.is_relevant(value))
    coverage = judged_at_k / len(top) if top else None
    counts = dict(
        k=k,
        retrieved=retrieved,
        retrieved_at_k=len(top),
        judged_at_k=judged_at_k,
        relevant_at_k=relevant_at_k,
        irrelevant_at_k=irrelevant_at_k,
        judged_total=judged_total,
        relevant_total=relevant_total,
        first_relevant=first_relevant,
        coverage=coverage,
    )
    if judged_total == 0:
        return QueryMetrics(**counts, ndcg=None, precision=None, irrelevant=None, recall=None, mrr=None)
    ideal = ideal_dcg(histogram, scale, k)
    ndcg = dcg([0.0 if value is None else scale.gains[value] for value in top], k) / ideal if ideal > 0 else None
    return QueryMetrics(
        **counts,
        ndcg=ndcg,
        precision=relevant_at_k / k,
        irrelevant=irrelevant_at_k / k,
        recall=relevant_at_k / relevant_total if relevant_total else None,
        mrr=(1.0 / first_relevant if first_relevant else 0.0) if relevant_total else None,
    )


def ordered_results(results: Iterable[tuple[str, int, float | None]]) -> list[tuple[str, int, float | None]]:
    """(product external id, rank, score) tuples in qrelay's order (see the module doc):
    rank asc, score desc with missing scores last, external id desc by code point."""
    by_id_desc = sorted(results, key=lambda r: r[0], reverse=True)
    # Python's sort is stable, so equal (rank, score) keep the id-descending order.
    return sorted(by_id_desc, key=lambda r: (r[1], r[2] is None, -(r[2] or 0.0)))


# --- means ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Mean:
    value: float | None
    queries: int  # how many queries the mean is over (those where the figure is defined)


def mean_metrics(rows: Iterable[QueryMetrics]) -> dict[str, Mean]:
    sums = dict.fromkeys(METRICS, 0.0)
    counts = dict.fromkeys(METRICS, 0)
    for row in rows:
        for name in METRICS:
            value = getattr(row, name)
            if value is not None:
                sums[name] += value
                counts[name] += 1
    return {name: Mean(sums[name] / counts[name] if counts[name] else None, counts[name]) for name in METRICS}


# --- the service over the database ----------------------------------------------------


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


def _label_value(label_source: str, *, gold: str, pair_id: str):
    """An expression for a pair's label value: its gold value (field path `gold`), or the
    newest label of a source of the pair whose id is at `pair_id`."""
    if label_source == "gold":
        return F(gold)
    labels = Label.objects.filter(pair_id=OuterRef(pair_id))
    if label_source != "any":
        labels = labels.filter(source=label_source)
    return Subquery(labels.order_by("-created_at", "-id").values("value")[:1], output_field=IntegerField())


def _binary_collation() -> str:
    # Code-point order, as trec_eval's strcmp and Python's str comparison.
    return "C" if connection.vendor == "postgresql" else "BINARY"


@contextmanager
def local_settings(**settings: str):
    """PostgreSQL settings for the block, inside a transaction: set_config(…, is_local)
    ends with the transaction, and the previous values are put back after the block, since
    a local setting would outlive a released savepoint and leak into an enclosing
    transaction. (After an error, the rollback restores them.) No-op elsewhere."""
    with transaction.atomic():
        if connection.vendor != "postgresql":
            yield
            return
        names = list(settings)
        with connection.cursor() as cursor:
            cursor.execute("SELECT " + ", ".join(["current_setting(%s)"] * len(names)), names)
            saved = cursor.fetchone()
            pairs = [value for name in names for value in (name, settings[name])]
            cursor.execute("SELECT " + ", ".join(["set_config(%s, %s, true)"] * len(names)), pairs)
        yield
        with connection.cursor() as cursor:
            pairs = [value for name, old in zip(names, saved) for value in (name, old)]
            cursor.execute("SELECT " + ", ".join(["set_config(%s, %s, true)"] * len(names)), pairs)


def _big_sort():
    """Settings for sorting a whole run at once: enough work_mem to sort a million
    results in memory rather than on disk, and no JIT, whose compile time (seconds) the
    planner's cost estimate for such a sort always triggers but never earns back."""
    return local_settings(work_mem="64MB", jit="off")


def result_order(prefix: str = "") -> list:
    """ORDER BY terms for a run's results within a query (see the module doc)."""
    return [
        F(f"{prefix}rank").asc(),
        F(f"{prefix}score").desc(nulls_last=True),
        Collate(F(f"{prefix}product__external_id"), _binary_collation()).desc(),
    ]


def _read_top(run: SearchRun, scale: MetricScale, k: int, label_source: str):
    """The label values of every query's top k ({query id: [value or None] * k}), the
    position of its first relevant result wherever it is ({query id: position}) and the
    length of its list ({query id: results}).

    A row number and a running count of relevant results over one window, so the
    database sorts the run once; only the top-k rows and each first relevant row come
    back."""
    order = result_order()
    relevant = Case(When(v__gte=scale.relevant_min_value, then=Value(1)), default=Value(0), output_field=IntegerField())
    ranked = (
        SearchResult.objects.filter(run=run)
        .annotate(v=_label_value(label_source, gold="pair__gold_value", pair_id="pair_id"))
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

    with _big_sort():
        top, first_relevant, retrieved = _read_top(run, scale, k, label_source)
        # The histogram of judged values over all the query's pairs, in the run or not,
        # gives the ideal list and the relevant total.
        pairs = Pair.objects.filter(
            project_id=run.project_id, query_id__in=SearchResult.objects.filter(run=run).values("query_id")
        )
        histograms: dict[int, dict[int, int]] = {}
        for query_id, value, count in (
            pairs.annotate(v=_label_value(label_source, gold="gold_value", pair_id="id"))
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


def unjudged_pairs(run: SearchRun, *, k: int | None = None, label_source: str = "gold"):
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
    return (
        pairs.annotate(v=_label_value(label_source, gold="gold_value", pair_id="id"))
        .filter(v__isnull=True)
        .order_by("id")
        .values_list("id", flat=True)
    )
