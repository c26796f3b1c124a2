"""The run metrics' reads in the ORM, for the embedded SQLite (reads.py is PostgreSQL's
SQL: FETCH … WITH TIES, array_agg): one window over the whole run. The same figures,
in the same shapes as reads.py returns them; fast enough for the runs of a trial."""

from typing import Any

from django.db.models import Case, Count, F, IntegerField, Q, RowRange, Sum, Value, When, Window
from django.db.models.functions import RowNumber

from ..models import Pair, Query, SearchResult
from .sql import annotate_label_value, result_order


def read_run(
    run_id: int, project_id: int, k: int, label_source: str, relevant_min: int
) -> tuple[list[tuple[Any, ...]], dict[int, dict[int, int]], dict[int, int]]:
    """(read_tops' rows, read_histograms' histograms, {query id: first relevant position})."""
    order = result_order()
    relevant = Case(When(v__gte=relevant_min, then=Value(1)), default=Value(0), output_field=IntegerField())
    ranked = (
        annotate_label_value(SearchResult.objects.filter(run_id=run_id), label_source, pair="pair")
        .annotate(
            rel=relevant,
            # The same window clause for both, so the database computes them in one pass.
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
    top: dict[int, list[Any]] = {}
    first_relevant: dict[int, int] = {}
    retrieved: dict[int, int] = {}
    for query_id, position, value, is_relevant, count in ranked:
        retrieved[query_id] = count
        if position <= k:
            top.setdefault(query_id, [None] * k)[position - 1] = value
        if is_relevant and position < first_relevant.get(query_id, position + 1):
            first_relevant[query_id] = position
    histograms: dict[int, dict[int, int]] = {}
    pairs = Pair.objects.filter(project_id=project_id)
    for query_id, value, count in (
        annotate_label_value(pairs, label_source)
        .filter(v__isnull=False)
        .order_by()
        .values("query_id", "v")
        .annotate(n=Count("id"))
        .values_list("query_id", "v", "n")
    ):
        histograms.setdefault(query_id, {})[value] = count
    tops = [
        (query_id, external_id, text, traffic, retrieved[query_id], top[query_id][: min(k, retrieved[query_id])])
        for query_id, external_id, text, traffic in Query.objects.filter(id__in=list(retrieved)).values_list(
            "id", "external_id", "text", "traffic"
        )
    ]
    return tops, histograms, first_relevant
