"""Run metrics: nDCG@k, P@k, irrelevant@k, Recall@k, MRR and judged coverage@k.

Two layers:
- pure functions over one query's data (`query_metrics`, `dcg`, `ideal_dcg`, …), which
  the tests check against pytrec_eval;
- `run_metrics(run, …)`, which reads a run with two or three aggregated queries (never
  one per row; reads.py, or portable.py on SQLite) and feeds the pure functions.

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

from .per_query import (
    METRICS,
    Mean,
    MetricScale,
    MetricsError,
    QueryMetrics,
    dcg,
    first_relevant_position,
    ideal_dcg,
    mean_metrics,
    ordered_results,
    query_metrics,
)
from .runs import LABEL_SOURCES, QueryRow, RunMetrics, run_metrics, unjudged_pairs
from .sql import local_settings, result_order

__all__ = [
    "LABEL_SOURCES",
    "METRICS",
    "Mean",
    "MetricScale",
    "MetricsError",
    "QueryMetrics",
    "QueryRow",
    "RunMetrics",
    "dcg",
    "first_relevant_position",
    "ideal_dcg",
    "local_settings",
    "mean_metrics",
    "ordered_results",
    "query_metrics",
    "result_order",
    "run_metrics",
    "unjudged_pairs",
]
