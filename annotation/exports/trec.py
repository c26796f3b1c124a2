"""A run as a TREC run file, and the check every TREC file needs (no whitespace in ids)."""

import re
from collections.abc import Iterator
from itertools import pairwise
from typing import Literal

from ..metrics import result_order
from ..models import Product, Query, SearchResult, SearchRun
from .tables import CHUNK, ExportError, snapshot

_WHITESPACE = r"\s"


def refuse_whitespace_ids(queries, products, what: str) -> None:
    """TREC files are split on whitespace, so an id containing any cannot be written."""
    query = queries.filter(external_id__regex=_WHITESPACE).values_list("external_id", flat=True).first()
    product = products.filter(external_id__regex=_WHITESPACE).values_list("external_id", flat=True).first()
    if query is not None or product is not None:
        which = f"query id {query!r}" if query is not None else f"product id {product!r}"
        raise ExportError(f"cannot write {what}: {which} contains whitespace, which the TREC format cannot hold")


def _trec_keeps_order(results: list[tuple[str, float | None]]) -> bool:
    """Whether trec_eval, which sorts by score descending and then docno descending,
    reads these (docno, score) rows in the order given."""
    # A missing score cannot be written, even for a query with a single result.
    scored = [(docno, score) for docno, score in results if score is not None]
    if len(scored) < len(results):
        return False
    for (id_a, score_a), (id_b, score_b) in pairwise(scored):
        if score_a < score_b or (score_a == score_b and id_a < id_b):
            return False
    return True


def _score_text(score: float) -> str:
    return repr(float(score))  # the shortest text that reads back as the same float


def export_run_trec(
    run: SearchRun, *, tag: str | None = None, scores: Literal["auto", "rank"] = "auto", chunk_size: int = CHUNK
) -> Iterator[str]:
    """The run as `query_id Q0 product_id rank score tag`, in qrelay's order per query.

    rank is the position in that order (1, 2, …). trec_eval ignores it and orders by
    score, so with scores="auto" a query's stored scores are written only where they
    give trec_eval the same order; elsewhere (missing scores, scores that disagree with
    the ranks) the query gets scores n, n−1, …, 1 from its positions, and "rank" does that
    for every query. Either way trec_eval scores the file as qrelay does.
    """
    if scores not in ("auto", "rank"):
        raise ExportError(f"unknown scores mode {scores!r}; choose auto or rank")
    tag = re.sub(r"\s+", "_", (tag or run.name).strip()) or "qrelay"
    results = SearchResult.objects.filter(run=run)
    refuse_whitespace_ids(
        Query.objects.filter(id__in=results.values("query_id")),
        Product.objects.filter(id__in=results.values("product_id")),
        "a TREC run",
    )
    rows = results.order_by("query__external_id", "query_id", *result_order()).values_list(
        "query_id", "query__external_id", "product__external_id", "score"
    )

    def write_query(qid: str, ranked: list[tuple[str, float | None]]) -> str:
        keep = scores == "auto" and _trec_keeps_order(ranked)
        n = len(ranked)
        return "".join(
            # keep holds only when every score is set; `is not None` tells the type checker so.
            f"{qid} Q0 {pid} {position} {_score_text(score) if keep and score is not None else n - position + 1} {tag}\n"
            for position, (pid, score) in enumerate(ranked, start=1)
        )

    def blocks() -> Iterator[str]:
        # One query's results are held at a time: a list is short, the run can be huge.
        current: int | None = None
        qid = ""
        ranked: list[tuple[str, float | None]] = []
        out: list[str] = []
        pending = 0
        with snapshot():
            for query_id, external_id, pid, score in rows.iterator(chunk_size=chunk_size):
                if query_id != current:
                    if ranked:
                        out.append(write_query(qid, ranked))
                        pending += len(ranked)
                        if pending >= chunk_size:
                            yield "".join(out)
                            out, pending = [], 0
                    current, qid, ranked = query_id, external_id, []
                ranked.append((pid, score))
        if ranked:
            out.append(write_query(qid, ranked))
        if out:
            yield "".join(out)

    return blocks()
