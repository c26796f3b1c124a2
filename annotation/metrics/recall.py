"""Recall@1/5/10 and MRR per locale, as MERIT (Chow et al.) reports retrieval.

MERIT's Recall@k is a hit rate: the share of queries with a relevant result in the top k
(with one relevant product per query it is the usual recall). It is computed from the
figures `run_metrics` already has, at any k: each query's first relevant position in its
whole list and its number of relevant judged pairs. So it costs one more small read (the
queries' locales), never another pass over the run.

A query counts only when it has at least one relevant judged pair (otherwise nothing can
be found: undefined, as for MRR in the package). MRR is 1 / the first relevant position,
0 when no relevant result is in the list.
"""

from dataclasses import dataclass, field
from typing import Any

from ..models import Query
from .runs import QueryRow, RunMetrics

CUTOFFS = (1, 5, 10)
ALL_LOCALES = "all"
NO_LOCALE = "(none)"


@dataclass(frozen=True)
class LocaleRecall:
    locale: str  # a query locale, NO_LOCALE for queries without one, or ALL_LOCALES
    queries: int  # queries with a relevant judged pair: what the figures are over
    unanswerable: int  # queries without one (left out)
    recall: dict[int, float | None] = field(default_factory=dict)  # cut-off → hit rate
    mrr: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "locale": self.locale,
            "queries": self.queries,
            "unanswerable": self.unanswerable,
            **{f"recall_at_{k}": value for k, value in self.recall.items()},
            "mrr": self.mrr,
        }


def recall_figures(rows: list[QueryRow], locale: str, cutoffs: tuple[int, ...] = CUTOFFS) -> LocaleRecall:
    """The figures over some queries of a run (pure: no database)."""
    answerable = [row.metrics for row in rows if row.metrics.relevant_total > 0]
    if not answerable:
        return LocaleRecall(locale, 0, len(rows), dict.fromkeys(cutoffs), None)
    n = len(answerable)
    recall: dict[int, float | None] = {
        k: sum(1 for m in answerable if m.first_relevant is not None and m.first_relevant <= k) / n for k in cutoffs
    }
    mrr = sum(1.0 / m.first_relevant if m.first_relevant else 0.0 for m in answerable) / n
    return LocaleRecall(locale, n, len(rows) - n, recall, mrr)


def recall_by_locale(metrics: RunMetrics, cutoffs: tuple[int, ...] = CUTOFFS) -> list[LocaleRecall]:
    """One row per locale of the run's queries (sorted), then the row over all of them."""
    locales = dict(Query.objects.filter(id__in=[row.query_id for row in metrics.queries]).values_list("id", "locale"))
    groups: dict[str, list[QueryRow]] = {}
    for row in metrics.queries:
        groups.setdefault(locales.get(row.query_id) or NO_LOCALE, []).append(row)
    per_locale = [recall_figures(groups[locale], locale, cutoffs) for locale in sorted(groups)]
    return [*per_locale, recall_figures(metrics.queries, ALL_LOCALES, cutoffs)]
