"""Two runs side by side: per-query deltas, the mean difference with a paired bootstrap
confidence interval, wins/ties/losses, the queries that got worse most, and the
worst-performing queries of a run.

Pairing is by query: only queries that both runs answer and where the metric is defined
in both (e.g. nDCG needs a relevant judged pair) enter the paired figures; the others
are counted, never silently dropped.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .metrics import METRICS, MetricsError, QueryRow, RunMetrics, run_metrics
from .models import SearchRun

# Metrics where lower is better; for them a drop is a win.
LOWER_IS_BETTER = frozenset({"irrelevant"})
# Two figures closer than this are a tie: float noise must not count as a win.
TIE_TOLERANCE = 1e-9
# Resamples are drawn in blocks, so memory stays at BLOCK_DRAWS indices whatever the size.
BLOCK_DRAWS = 5_000_000


def paired_bootstrap_ci(
    deltas: Sequence[float], *, resamples: int = 10_000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float] | None:
    """Percentile bootstrap confidence interval of the mean of per-query deltas (b − a).

    Resampling the deltas, not the two runs separately, keeps the pairing: a query that is
    hard for both runs does not widen the interval. Seeded, so the same input gives the
    same interval. None when there are no deltas.
    """
    values = np.asarray(deltas, dtype=float)
    n = values.size
    if n == 0:
        return None
    if not 0 < confidence < 1:
        raise MetricsError("confidence must be between 0 and 1")
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    block = max(1, BLOCK_DRAWS // n)
    for start in range(0, resamples, block):
        size = min(block, resamples - start)
        means[start : start + size] = values[rng.integers(0, n, size=(size, n))].mean(axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return float(low), float(high)


@dataclass(frozen=True)
class QueryDelta:
    external_id: str
    text: str
    traffic: int
    a: float
    b: float

    @property
    def delta(self) -> float:
        return self.b - self.a

    def to_dict(self) -> dict[str, Any]:
        return {
            "query_id": self.external_id,
            "query": self.text,
            "traffic": self.traffic,
            "a": self.a,
            "b": self.b,
            "delta": self.delta,
        }


@dataclass
class Comparison:
    """Run b against run a (the baseline) on one metric: delta = b − a."""

    metric: str
    run_a: str
    run_b: str
    deltas: list[QueryDelta]
    mean_a: float | None
    mean_b: float | None
    mean_delta: float | None
    ci: tuple[float, float] | None
    confidence: float
    wins: int  # queries where b is better than a (for irrelevant@k: lower)
    ties: int
    losses: int
    only_in_a: int = 0  # queries only one run answers
    only_in_b: int = 0
    undefined: int = 0  # queries both answer, with the metric undefined in one or both
    notes: list[str] = field(default_factory=list)

    def _gain(self, d: QueryDelta) -> float:
        """How much better b is than a on this query (positive = better)."""
        return -d.delta if self.metric in LOWER_IS_BETTER else d.delta

    @property
    def significant(self) -> bool:
        """The confidence interval excludes 0."""
        return self.ci is not None and (self.ci[0] > 0 or self.ci[1] < 0)

    def worsened(self, n: int = 10) -> list[QueryDelta]:
        """The n queries that got worse most from a to b, heavier traffic first among equals."""
        worse = [d for d in self.deltas if self._gain(d) < -TIE_TOLERANCE]
        return sorted(worse, key=lambda d: (self._gain(d), -d.traffic, d.external_id))[:n]

    def improved(self, n: int = 10) -> list[QueryDelta]:
        better = [d for d in self.deltas if self._gain(d) > TIE_TOLERANCE]
        return sorted(better, key=lambda d: (-self._gain(d), -d.traffic, d.external_id))[:n]

    def to_dict(self, n: int = 10) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "run_a": self.run_a,
            "run_b": self.run_b,
            "queries": len(self.deltas),
            "mean_a": self.mean_a,
            "mean_b": self.mean_b,
            "mean_delta": self.mean_delta,
            "ci": list(self.ci) if self.ci else None,
            "confidence": self.confidence,
            "significant": self.significant,
            "wins": self.wins,
            "ties": self.ties,
            "losses": self.losses,
            "only_in_a": self.only_in_a,
            "only_in_b": self.only_in_b,
            "undefined": self.undefined,
            "worsened": [d.to_dict() for d in self.worsened(n)],
            "improved": [d.to_dict() for d in self.improved(n)],
            "notes": self.notes,
        }


def compare_rows(
    rows_a: Sequence[QueryRow],
    rows_b: Sequence[QueryRow],
    *,
    metric: str = "ndcg",
    run_a: str = "a",
    run_b: str = "b",
    resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Comparison:
    """The paired comparison of two runs' per-query rows on one metric."""
    if metric not in METRICS:
        raise MetricsError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    by_a: Mapping[str, QueryRow] = {row.external_id: row for row in rows_a}
    by_b: Mapping[str, QueryRow] = {row.external_id: row for row in rows_b}
    deltas: list[QueryDelta] = []
    undefined = 0
    for external_id in sorted(by_a.keys() & by_b.keys()):
        a, b = getattr(by_a[external_id].metrics, metric), getattr(by_b[external_id].metrics, metric)
        if a is None or b is None:
            undefined += 1
            continue
        row = by_b[external_id]
        deltas.append(QueryDelta(external_id, row.text, row.traffic, a, b))
    differences = [d.delta for d in deltas]
    direction = -1 if metric in LOWER_IS_BETTER else 1
    wins = sum(1 for x in differences if direction * x > TIE_TOLERANCE)
    losses = sum(1 for x in differences if direction * x < -TIE_TOLERANCE)
    n = len(deltas)
    comparison = Comparison(
        metric=metric,
        run_a=run_a,
        run_b=run_b,
        deltas=deltas,
        mean_a=sum(d.a for d in deltas) / n if n else None,
        mean_b=sum(d.b for d in deltas) / n if n else None,
        mean_delta=sum(differences) / n if n else None,
        ci=paired_bootstrap_ci(differences, resamples=resamples, confidence=confidence, seed=seed),
        confidence=confidence,
        wins=wins,
        ties=n - wins - losses,
        losses=losses,
        only_in_a=len(by_a.keys() - by_b.keys()),
        only_in_b=len(by_b.keys() - by_a.keys()),
        undefined=undefined,
    )
    if n and n < 30:
        comparison.notes.append(f"only {n} paired queries: the bootstrap interval is rough")
    return comparison


def compare_runs(
    run_a: SearchRun,
    run_b: SearchRun,
    *,
    metric: str = "ndcg",
    k: int = 10,
    relevant_min_value: int | None = None,
    label_source: str = "gold",
    resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Comparison:
    """Run b against baseline run a, both scored with the same labels, k and cut."""
    if run_a.project_id != run_b.project_id:
        raise MetricsError("runs of different projects cannot be compared: their labels and scales differ")
    metrics_a = run_metrics(run_a, k=k, relevant_min_value=relevant_min_value, label_source=label_source)
    metrics_b = run_metrics(run_b, k=k, relevant_min_value=relevant_min_value, label_source=label_source)
    return compare_run_metrics(
        metrics_a, metrics_b, metric=metric, resamples=resamples, confidence=confidence, seed=seed
    )


def compare_run_metrics(
    metrics_a: RunMetrics,
    metrics_b: RunMetrics,
    *,
    metric: str = "ndcg",
    resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Comparison:
    """compare_rows over two run_metrics results (computed with the same settings)."""
    settings_a = (metrics_a.k, metrics_a.label_source, metrics_a.relevant_min_value)
    settings_b = (metrics_b.k, metrics_b.label_source, metrics_b.relevant_min_value)
    if settings_a != settings_b:
        raise MetricsError(f"the two runs were scored differently (k, labels, cut): {settings_a} vs {settings_b}")
    comparison = compare_rows(
        metrics_a.queries,
        metrics_b.queries,
        metric=metric,
        run_a=metrics_a.run_name,
        run_b=metrics_b.run_name,
        resamples=resamples,
        confidence=confidence,
        seed=seed,
    )
    comparison.notes = metrics_a.notes + comparison.notes
    return comparison


def worst_queries(metrics: RunMetrics, *, metric: str = "ndcg", n: int = 10) -> list[QueryRow]:
    """The run's n lowest-scoring queries on metric (where it is defined), heavier
    traffic first among equals: where improving the engine pays most. For irrelevant@k,
    where lower is better, the highest-scoring."""
    if metric not in METRICS:
        raise MetricsError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    sign = -1 if metric in LOWER_IS_BETTER else 1
    defined = [row for row in metrics.queries if getattr(row.metrics, metric) is not None]
    return sorted(defined, key=lambda row: (sign * getattr(row.metrics, metric), -row.traffic, row.external_id))[:n]
