"""Metrics benchmark: run_metrics over a run of 10,000 queries × 100 results.

Builds the data in SQL (generate_series) in the bench database: 10,000 queries, 200,000
products, 120 pairs per query (1.2 M pairs, 80 % with gold, values drawn from the
default 0/1/2 scale), and a run with the first 100 of each query (1 M results, ranks
1..100, a few rank ties). Then times `run_metrics(run, k=10)` from gold, and with --llm
(which also writes one human label per gold pair and one LLM label per pair, through the
CurrentLabel triggers) from the current LLM, human and "any" label, each beside gold in
the same run; --old also times the reads run_metrics made before session 4 of issue #16
(one window over the whole run) from each source. Every time is also printed as a multiple
of a reference timed in the same run (count(*) over the run's results), since the
machine's load varies.

Usage: DATABASE_URL=... python bench/bench_metrics.py [--queries N] [--results N] [--llm] [--old] [--reuse] [--repeat N]
       (--reuse keeps an existing bench project: fast re-runs)
"""

import argparse
import os
import statistics
import time

import _build
from _setup import analyze, setup

NAME = "bench-metrics"


def drop(name: str) -> None:
    """Delete a bench project with plain SQL: the ORM's cascade would load millions of rows."""
    from django.db import connection, transaction

    from annotation.models import Project

    project_id = Project.objects.filter(name=name).values_list("id", flat=True).first()
    if project_id is None:
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(
            "DELETE FROM annotation_searchresult WHERE run_id IN (SELECT id FROM annotation_searchrun WHERE project_id = %s)",
            [project_id],
        )
        for table in (
            "annotation_searchrun",
            "annotation_label",
            "annotation_pair",
            "annotation_query",
            "annotation_product",
        ):
            cursor.execute(f"DELETE FROM {table} WHERE project_id = %s", [project_id])
        cursor.execute("DELETE FROM annotation_scalelevel WHERE project_id = %s", [project_id])
        cursor.execute("DELETE FROM annotation_project WHERE id = %s", [project_id])


def step(label: str, sql: str, params) -> None:
    from django.db import connection

    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.rowcount
    print(f"  {label:<40} {rows:>9} rows {time.perf_counter() - start:7.1f} s")


def build(
    name: str, *, queries: int, results: int, extra_pairs: int, products: int, gold_share: float, labels: str = ""
):
    """A project with `queries` queries, each with results + extra_pairs pairs, and a run
    "r1" over the first `results` of each. Query n's i-th pair is product
    (n * 7919 + i * 13) mod products: distinct per query while 13 * pairs < products.

    labels: "" (none), "human" (one human label per gold pair, as an import writes),
    "both" (also one LLM label per pair)."""
    from django.db import connection, transaction

    from annotation.models import SearchRun
    from annotation.services import project_create

    assert 13 * (results + extra_pairs) < products
    drop(name)
    print(f"building {name}: {queries} queries × {results} results (+{extra_pairs} judged pairs outside the run)")
    project = project_create(name=name, scale="default")
    run = SearchRun.objects.create(project=project, name="r1")
    p = project.id
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT setseed(0.42)")
        step(
            "queries",
            _build.queries(
                {
                    "project_id": "%s",
                    "external_id": "'q' || g",
                    "text": "'query number ' || g",
                    "traffic": "(g * 37) %% 1000",
                },
                "FROM generate_series(1, %s) g",
            ),
            [p, queries],
        )
        step(
            "products",
            _build.products(
                {
                    "project_id": "%s",
                    "external_id": "'p' || g",
                    "title": "'Product ' || g",
                    "content_hash": "md5(g::text)",
                },
                "FROM generate_series(0, %s - 1) g",
            ),
            [p, products],
        )
        analyze("annotation_query", "annotation_product")  # plan the joins below on this project's rows
        step(
            "plan (temporary table)",
            "CREATE TEMPORARY TABLE bench_plan ON COMMIT DROP AS "
            "SELECT q.id AS query_id, pr.id AS product_id, i, "
            "CASE WHEN random() < %s THEN floor(random() * 3)::smallint END AS gold "
            "FROM annotation_query q CROSS JOIN generate_series(1, %s) i "
            "JOIN annotation_product pr ON pr.project_id = %s "
            " AND pr.external_id = 'p' || ((substr(q.external_id, 2)::bigint * 7919 + i * 13) %% %s) "
            "WHERE q.project_id = %s",
            [gold_share, results + extra_pairs, p, products, p],
        )
        step(
            "pairs",
            _build.pairs(
                {
                    "project_id": "%s",
                    "query_id": "query_id",
                    "product_id": "product_id",
                    "gold_value": "gold",
                    "gold_provenance": "CASE WHEN gold IS NULL THEN '' ELSE 'imported' END",
                    "gold_updated_at": "CASE WHEN gold IS NULL THEN NULL ELSE now() END",
                },
                "FROM bench_plan",
            ),
            [p],
        )
        analyze("annotation_pair")
        # Every 10th rank is shared with the next result, so the tie-breaks are exercised.
        step(
            "results",
            _build.insert_sql(
                "annotation.SearchResult",
                {
                    "run_id": "%s",
                    "query_id": "b.query_id",
                    "product_id": "b.product_id",
                    "pair_id": "pa.id",
                    "rank": "CASE WHEN b.i %% 10 = 0 THEN b.i - 1 ELSE b.i END",
                    "score": "1000.0 / b.i",
                },
                "FROM bench_plan b JOIN annotation_pair pa ON pa.project_id = %s AND pa.query_id = b.query_id "
                " AND pa.product_id = b.product_id WHERE b.i <= %s",
            ),
            [run.id, p, results],
        )
        if labels:
            step(
                "human labels (one per gold pair)",
                _build.labels(
                    {
                        "project_id": "%s",
                        "pair_id": "id",
                        "source": "'human'",
                        "rater": "'annotator-' || (id %% 5)",
                        "value": "gold_value",
                    },
                    "FROM annotation_pair WHERE project_id = %s AND gold_value IS NOT NULL",
                ),
                [p, p],
            )
        if labels == "both":
            step(
                "LLM labels (one per pair)",
                _build.labels(
                    {
                        "project_id": "%s",
                        "pair_id": "id",
                        "source": "'llm'",
                        "rater": "'gpt-test-1'",
                        "value": "floor(random() * 3)::smallint",
                        "confidence": "random()",
                    },
                    "FROM annotation_pair WHERE project_id = %s",
                ),
                [p, p],
            )
    start = time.perf_counter()
    with connection.cursor() as cursor:
        for table in (
            "annotation_query",
            "annotation_product",
            "annotation_pair",
            "annotation_searchresult",
            "annotation_label",
            "annotation_currentlabel",
        ):
            cursor.execute(f"ANALYZE {table}")
        # As autovacuum does after a large insert: the visibility map lets the metrics
        # read the results from the covering index alone.
        cursor.execute("VACUUM annotation_searchresult")
    print(f"  {'vacuum, analyze':<40} {'':>9}      {time.perf_counter() - start:7.1f} s")
    return project, run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--results", type=int, default=100)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--llm", action="store_true", help="also write LLM labels and time label_source='llm'")
    parser.add_argument("--old", action="store_true", help="also time the old reads (a window over the whole run)")
    parser.add_argument(
        "--write-cost",
        type=int,
        default=0,
        metavar="N",
        help="only time inserting N labels in one statement with and without the label triggers (rolled back)",
    )
    parser.add_argument("--reuse", action="store_true", help="keep an existing bench project")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per label source (default 3)")
    parser.add_argument("--database", default=None, help="bench database name (default qrelay_bench_metrics)")
    args = parser.parse_args()
    setup(args.database, fresh=not args.reuse)
    from annotation.metrics import run_metrics
    from annotation.models import SearchRun

    run = SearchRun.objects.filter(project__name=NAME, name="r1").first()
    if run is None or not args.reuse:
        _, run = build(
            NAME,
            queries=args.queries,
            results=args.results,
            extra_pairs=20,
            products=200_000,
            gold_share=0.8,
            labels="both" if args.llm else "",
        )
    if args.write_cost:
        write_cost(run.project_id, args.write_cost)
        return
    results = run.results.count()
    sources = ["gold", "llm", "human", "any"] if args.llm else ["gold"]
    report_times("reference: count(*) over the run's results", results, [reference_count(run) for _ in range(3)])
    for source in sources:
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            metrics = run_metrics(run, k=args.k, label_source=source)
            times.append(time.perf_counter() - start)
        report(f"run_metrics k={args.k} from {source}", metrics, results, times)
    if args.old:
        for source in sources:
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                old_reads(run, args.k, source)
                times.append(time.perf_counter() - start)
            report_times(f"OLD reads (whole-run window), from {source}", results, times)


def write_cost(project_id: int, n: int, rounds: int = 3) -> None:
    """What the CurrentLabel and LabelWrites triggers add to a bulk label write: N new LLM
    labels in one INSERT … SELECT (as an import writes them), with the triggers, then with
    them disabled inside the transaction; each rolled back, alternating."""
    from django.db import connection, transaction

    triggers = [f"annotation_{name}" for name in ("currentlabel_insert", "labelwrites_insert")]
    for round_ in range(rounds):
        for enabled in (True, False):
            with transaction.atomic(), connection.cursor() as cursor:
                if not enabled:
                    for trigger in triggers:
                        cursor.execute(f"ALTER TABLE annotation_label DISABLE TRIGGER {trigger}")
                start = time.perf_counter()
                cursor.execute(
                    _build.labels(
                        {
                            "project_id": "project_id",
                            "pair_id": "id",
                            "source": "'llm'",
                            "rater": "'write-cost'",
                            "value": "1",
                        },
                        "FROM annotation_pair WHERE project_id = %s ORDER BY id LIMIT %s",
                    ),
                    [project_id, n],
                )
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the deferred checks, inside the timing
                seconds = time.perf_counter() - start
                transaction.set_rollback(True)
            state = "with" if enabled else "without"
            print(f"  round {round_ + 1}: {n:,} labels in one INSERT, {state} the triggers: {seconds:.2f} s")


REFERENCE: list[float] = []


def report_times(what: str, results: int, times: list[float]) -> None:
    """Best and median, and the best as a multiple of the reference count(*) (the first
    figure reported)."""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    if not REFERENCE:
        REFERENCE.append(min(times))
    print(
        f"{what}, {results} results: best {min(times):.3f} s ({min(times) / REFERENCE[0]:.1f}× the reference), "
        f"median {statistics.median(times):.3f} s of {len(times)} (load average {load})"
    )


def report(what: str, metrics, results: int, times: list[float]) -> None:
    report_times(f"{what}: {len(metrics.queries)} queries", results, times)
    means = ", ".join(
        f"{name} {mean.value:.4f} ({mean.queries} q)" for name, mean in metrics.means.items() if mean.value is not None
    )
    print(f"  means: {means}")


def reference_count(run) -> float:
    """A fixed yardstick timed in the same run: count(*) over the run's results, which
    reads every one of them once. The metrics' times divided by it travel between
    machines and loads better than seconds."""
    from django.db import connection

    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM annotation_searchresult WHERE run_id = %s", [run.id])
        cursor.fetchone()
    return time.perf_counter() - start


def old_reads(run, k: int, label_source: str) -> int:
    """The reads run_metrics made before issue #16's session 4: one window over the whole
    run (every result joined to its product and label, sorted), the histogram aggregate
    with a semi-join over the run's results, and the queries' texts. Kept here as the
    reference the new reads are compared with; returns the rows read."""
    from django.db.models import Case, Count, F, IntegerField, Q, RowRange, Sum, Value, When, Window
    from django.db.models.functions import RowNumber

    from annotation.metrics import MetricScale
    from annotation.metrics.sql import annotate_label_value, big_sort, result_order
    from annotation.models import Pair, Query, SearchResult

    scale = MetricScale.for_project(run.project_id)
    order = result_order()
    relevant = Case(When(v__gte=scale.relevant_min_value, then=Value(1)), default=Value(0), output_field=IntegerField())
    window = dict(partition_by=[F("query_id")], order_by=order, frame=RowRange(start=None, end=0))
    with big_sort():
        top = list(
            annotate_label_value(SearchResult.objects.filter(run=run), label_source, pair="pair")
            .annotate(
                rel=relevant,
                pos=Window(RowNumber(), **window),
                rel_seen=Window(Sum(relevant), **window),
                retrieved=Window(Count("id"), partition_by=[F("query_id")]),
            )
            .filter(Q(pos__lte=k) | Q(rel=1, rel_seen=1))
            .order_by()
            .values_list("query_id", "pos", "v", "rel", "retrieved")
        )
        in_run = SearchResult.objects.filter(run=run).values("query_id")
        pairs = Pair.objects.filter(project_id=run.project_id, query_id__in=in_run)
        histograms = list(
            annotate_label_value(pairs, label_source)
            .filter(v__isnull=False)
            .order_by()
            .values("query_id", "v")
            .annotate(n=Count("id"))
            .values_list("query_id", "v", "n")
        )
        info = list(Query.objects.filter(id__in=in_run).values_list("id", "external_id", "text", "traffic"))
    return len(top) + len(histograms) + len(info)


if __name__ == "__main__":
    main()
