"""The three statements `run_metrics` reads a run with, in SQL: each query's top k
(with its length), each query's histogram of label values, and, only for the queries
that need it, the position of the first relevant result past the top k.

Per query, not per result: the top k come from an index range scan of each query's
first k ranks (FETCH FIRST k ROWS WITH TIES, so every result that can sort into the
top k is a candidate), and only those candidates are joined to their products (the
tie-break) and label values, then sorted. The whole run is sorted only for the queries
whose first relevant result lies past the top k (for MRR), which in a judged run are few.
"""

from typing import Any

from django.db import connection

# qrelay's order within a query (see the package doc); `c` is a result, `p` its product.
ORDER = 'c.rank, c.score DESC NULLS LAST, p.external_id COLLATE "C" DESC'


def _value(label_source: str) -> tuple[str, str]:
    """The label value of result `c` (column `pair_id`): (join clause, value expression).
    Gold is on the pair; any other source is its CurrentLabel row (one index probe)."""
    if label_source == "gold":
        return "JOIN annotation_pair lp ON lp.id = c.pair_id", "lp.gold_value"
    return (
        "LEFT JOIN annotation_currentlabel lv ON lv.pair_id = c.pair_id AND lv.source = %(source)s",
        "lv.value",
    )


def read_tops(run_id: int, k: int, label_source: str) -> list[tuple[Any, ...]]:
    """One row per query of the run: (query id, external id, text, traffic, results in
    the run, [label value or None of the first min(k, results) results, in order])."""
    join, value = _value(label_source)
    sql = f"""
        SELECT q.id, q.external_id, q.text, q.traffic, s.retrieved, top.vs
        FROM (
            SELECT query_id, count(*) AS retrieved FROM annotation_searchresult
            WHERE run_id = %(run)s GROUP BY query_id
        ) s
        JOIN annotation_query q ON q.id = s.query_id
        CROSS JOIN LATERAL (
            SELECT array_agg(t.v ORDER BY t.pos) AS vs FROM (
                SELECT {value} AS v,
                       row_number() OVER (ORDER BY c.rank, c.score DESC NULLS LAST, c.tied_id COLLATE "C" DESC) AS pos
                FROM (
                    -- The product id breaks a tie of (rank, score) only: looked up for those.
                    SELECT r.rank, r.score, r.pair_id,
                           CASE WHEN count(*) OVER (PARTITION BY r.rank, r.score) > 1 THEN
                               (SELECT p.external_id FROM annotation_product p WHERE p.id = r.product_id)
                           END AS tied_id
                    FROM (
                        SELECT rank, score, product_id, pair_id FROM annotation_searchresult
                        WHERE run_id = %(run)s AND query_id = s.query_id
                        ORDER BY rank FETCH FIRST %(k)s ROWS WITH TIES
                    ) r
                ) c
                {join}
            ) t
            WHERE t.pos <= %(k)s
        ) top
        """
    with connection.cursor() as cursor:
        cursor.execute(sql, {"run": run_id, "k": k, "source": label_source})
        return cursor.fetchall()


def read_histograms(project_id: int, label_source: str) -> dict[int, dict[int, int]]:
    """{query id: {label value: pairs}} over all labelled pairs of the project's queries,
    in a run or not: the ideal lists and the relevant totals."""
    # Over the whole project, not only the run's queries: a filter by the run's queries
    # costs more than it saves (an array of 10,000 ids is planned as an index scan).
    if label_source == "gold":
        sql = """
            SELECT query_id, gold_value, count(*) FROM annotation_pair
            WHERE project_id = %(project)s AND gold_value IS NOT NULL
            GROUP BY query_id, gold_value
            """
    else:
        sql = """
            SELECT pa.query_id, lv.value, count(*) FROM annotation_pair pa
            JOIN annotation_currentlabel lv ON lv.pair_id = pa.id AND lv.source = %(source)s
            WHERE pa.project_id = %(project)s
            GROUP BY pa.query_id, lv.value
            """
    histograms: dict[int, dict[int, int]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, {"project": project_id, "source": label_source})
        for query_id, value, count in cursor.fetchall():
            histograms.setdefault(query_id, {})[value] = count
    return histograms


def read_first_relevant(run_id: int, query_ids: list[int], label_source: str, relevant_min: int) -> dict[int, int]:
    """{query id: position of its first relevant result} over the queries' whole lists
    (queries without one are left out)."""
    join, value = _value(label_source)
    sql = f"""
        SELECT query_id, min(pos) FROM (
            SELECT c.query_id, {value} AS v,
                   row_number() OVER (PARTITION BY c.query_id ORDER BY {ORDER}) AS pos
            FROM annotation_searchresult c
            JOIN annotation_product p ON p.id = c.product_id
            {join}
            WHERE c.run_id = %(run)s AND c.query_id = ANY(%(queries)s)
        ) t
        WHERE t.v >= %(relevant)s
        GROUP BY query_id
        """
    with connection.cursor() as cursor:
        cursor.execute(sql, {"run": run_id, "queries": query_ids, "source": label_source, "relevant": relevant_min})
        return dict(cursor.fetchall())
