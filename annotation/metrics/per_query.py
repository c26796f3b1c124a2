"""The figures of one query (pure functions, checked against pytrec_eval in the tests)
and their means over a run; the conventions are in the package's doc."""

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..models import ScaleLevel

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
    """(product external id, rank, score) tuples in qrelay's order (see the package doc):
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
