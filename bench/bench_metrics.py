"""Metrics benchmark: run_metrics over a run of 10,000 queries × 100 results.

Builds the data in SQL (generate_series) in the bench database: 10,000 queries, 200,000
products, 120 pairs per query (1.2 M pairs, 80 % with gold, values drawn from the
default 0/1/2 scale), and a run with the first 100 of each query (1 M results, ranks
1..100, a few rank ties). Then times `run_metrics(run, k=10)` from gold, and with --llm
(which also writes one human label per gold pair and one LLM label per pair, through the
CurrentLabel triggers) from the current LLM, human and "any" label, each beside gold in
the same run; --old also times the newest-label subquery per result that CurrentLabel
replaced (once per source: it takes tens of seconds).

Usage: DATABASE_URL=... python bench/bench_metrics.py [--queries N] [--results N] [--llm] [--old] [--reuse] [--repeat N]
       (--reuse keeps an existing bench project: fast re-runs)
"""

import argparse
import os
import statistics
import time
from contextlib import contextmanager

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
            "INSERT INTO annotation_query (project_id, external_id, text, locale, traffic, tags, conditions, "
            "reference_hash, created_at) "
            "SELECT %s, 'q' || g, 'query number ' || g, '', (g * 37) %% 1000, '[]', '[]', '', now() "
            "FROM generate_series(1, %s) g",
            [p, queries],
        )
        step(
            "products",
            "INSERT INTO annotation_product (project_id, external_id, title, brand, category, description, attributes, "
            "content_hash, created_at, updated_at) "
            "SELECT %s, 'p' || g, 'Product ' || g, '', '', '', '{}', md5(g::text), now(), now() FROM generate_series(0, %s - 1) g",
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
            "INSERT INTO annotation_pair (project_id, query_id, product_id, gold_value, gold_provenance, "
            "gold_policy_version, gold_updated_at, created_at) "
            "SELECT %s, query_id, product_id, gold, CASE WHEN gold IS NULL THEN '' ELSE 'imported' END, NULL, "
            "CASE WHEN gold IS NULL THEN NULL ELSE now() END, now() FROM bench_plan",
            [p],
        )
        analyze("annotation_pair")
        # Every 10th rank is shared with the next result, so the tie-breaks are exercised.
        step(
            "results",
            "INSERT INTO annotation_searchresult (run_id, query_id, product_id, pair_id, rank, score) "
            "SELECT %s, b.query_id, b.product_id, pa.id, CASE WHEN b.i %% 10 = 0 THEN b.i - 1 ELSE b.i END, 1000.0 / b.i "
            "FROM bench_plan b JOIN annotation_pair pa ON pa.project_id = %s AND pa.query_id = b.query_id "
            " AND pa.product_id = b.product_id WHERE b.i <= %s",
            [run.id, p, results],
        )
        if labels:
            step(
                "human labels (one per gold pair)",
                "INSERT INTO annotation_label (project_id, pair_id, source, rater, value, rationale, created_at) "
                "SELECT %s, id, 'human', 'annotator-' || (id %% 5), gold_value, '', now() "
                "FROM annotation_pair WHERE project_id = %s AND gold_value IS NOT NULL",
                [p, p],
            )
        if labels == "both":
            step(
                "LLM labels (one per pair)",
                "INSERT INTO annotation_label (project_id, pair_id, source, rater, value, confidence, rationale, created_at) "
                "SELECT %s, id, 'llm', 'gpt-test-1', floor(random() * 3)::smallint, random(), '', now() "
                "FROM annotation_pair WHERE project_id = %s",
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
    print(f"  {'analyze':<40} {'':>9}      {time.perf_counter() - start:7.1f} s")
    return project, run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--results", type=int, default=100)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--llm", action="store_true", help="also write LLM labels and time label_source='llm'")
    parser.add_argument("--old", action="store_true", help="also time the old newest-label subquery (with --llm)")
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
    for source in sources:
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            metrics = run_metrics(run, k=args.k, label_source=source)
            times.append(time.perf_counter() - start)
        report(f"run_metrics k={args.k} from {source}", metrics, results, times)
    if args.llm and args.old:
        for source in sources[1:]:
            with old_label_values():
                start = time.perf_counter()
                metrics = run_metrics(run, k=args.k, label_source=source)
                times = [time.perf_counter() - start]
            report(f"OLD newest-label subquery, from {source}", metrics, results, times)


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
                    "INSERT INTO annotation_label (project_id, pair_id, source, rater, value, rationale, created_at) "
                    "SELECT project_id, id, 'llm', 'write-cost', 1, '', now() FROM annotation_pair "
                    "WHERE project_id = %s ORDER BY id LIMIT %s",
                    [project_id, n],
                )
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the deferred checks, inside the timing
                seconds = time.perf_counter() - start
                transaction.set_rollback(True)
            state = "with" if enabled else "without"
            print(f"  round {round_ + 1}: {n:,} labels in one INSERT, {state} the triggers: {seconds:.2f} s")


def report(what: str, metrics, results: int, times: list[float]) -> None:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"{what}: {len(metrics.queries)} queries, {results} results: "
        f"best {min(times):.2f} s, median {statistics.median(times):.2f} s of {len(times)} (load average {load})"
    )
    means = ", ".join(
        f"{name} {mean.value:.4f} ({mean.queries} q)" for name, mean in metrics.means.items() if mean.value is not None
    )
    print(f"  means: {means}")


@contextmanager
def old_label_values():
    """run_metrics as it read labels before CurrentLabel: the newest label of the source
    per result and per pair through a correlated subquery over annotation_label."""
    from annotation.metrics import runs
    from annotation.metrics.sql import newest_label_value

    def old(queryset, label_source, *, pair="", name="v"):
        if label_source == "gold":
            return saved(queryset, label_source, pair=pair, name=name)
        return queryset.annotate(**{name: newest_label_value(label_source, pair_id="pair_id" if pair else "id")})

    saved = runs.annotate_label_value
    runs.annotate_label_value = old
    try:
        yield
    finally:
        runs.annotate_label_value = saved


if __name__ == "__main__":
    main()
