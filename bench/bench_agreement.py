"""Agreement benchmark: the dashboard's figures for a project with 1,000,000 labels.

Builds (with generate_series, in SQL, in its own database `qrelay_bench_agreement`) a
project of 600,000 pairs: every pair has an LLM label with its Judgment (two models,
two prompt versions, text/vision mode), 20,000 pairs were judged twice; 190,000 pairs
were labelled by two of 20 annotators (a label task each, reasons audit /
low-confidence / style-sensitive), spread over ~60 days; gold is human where the two
agree, adjudicated where they do not, llm-auto elsewhere. The LLM is right about 75% of
the time, each annotator about 85%. 620,000 + 380,000 = 1,000,000 labels.

Then it times project_agreement_summary (what the dashboard renders first) and the
slices, each as the median of a few runs after one warm-up, and prints the figures.
Last, the dashboard page itself through Django's test client: cold (nothing cached: the
first view of a project computes its snapshot inline), warm (the snapshot from the
cache: every later view), the background refresh a label write triggers, and the hard
disagreements page.

Freshness (--freshness, or with the dashboard): 1,000 new labels written as an import or
a judge chunk writes them (one INSERT, no dashboard_touch), then how long until the page
knows its snapshot is behind, and until the refresh a worker runs has stored figures
that include them.

Usage: DATABASE_URL=... CELERY_BROKER_URL=redis://... python bench/bench_agreement.py
       [--reuse] [--boot N] [--runs N] [--only-dashboard] [--freshness]
"""

import argparse
import json
import os
import statistics
import time

import _build
from _setup import analyze, setup

NAME = "bench-agreement"
DATABASE = "qrelay_bench_current_agreement"
QUERIES = 20_000
PRODUCTS = 50_000
PAIRS = 600_000
REJUDGED = 20_000
HUMAN_PAIRS = 190_000
ANNOTATORS = 20


def timed_sql(label: str, sql: str, params) -> None:
    from django.db import connection

    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.rowcount
    print(f"  {label:<40} {rows:>9,} rows {time.perf_counter() - start:7.1f} s")


def drop(project_id: int) -> None:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for table in ("reviews_reviewtask", "reviews_routingpolicy", "judging_judgment", "annotation_label"):
            cursor.execute(f"DELETE FROM {table} WHERE project_id = %s", [project_id])
        for table in ("annotation_pair", "annotation_query", "annotation_product", "annotation_scalelevel"):
            cursor.execute(f"DELETE FROM {table} WHERE project_id = %s", [project_id])
        cursor.execute("DELETE FROM annotation_project WHERE id = %s", [project_id])


def build():
    """Pair g (1-based) has query g mod QUERIES and product (k·1000 + q) mod PRODUCTS with
    k = g div QUERIES (unique per query). Its true label is a hash of g; the LLM and
    each annotator move it by one step with a hashed chance."""
    from django.db import connection, transaction

    from annotation.services import project_create

    project = project_create(name=NAME, locales=["de-DE", "en-GB", "fr-FR"])
    pid = project.id
    print(f"building project {NAME} (id {pid}) in database {DATABASE}")
    started = time.perf_counter()
    # truth(g) and noise: cheap integer hashes, so every figure is reproducible.
    truth = "(((%(g)s) * 2654435761) %% 1000003 %% 3)"
    noisy = (
        "CASE WHEN (({g}) * 40503 + {salt}) %% 997 %% 100 < {pct} "
        "THEN LEAST(2, GREATEST(0, {t} + CASE WHEN ({g}) %% 2 = 0 THEN 1 ELSE -1 END)) ELSE {t} END"
    )
    with transaction.atomic():
        timed_sql(
            "queries",
            _build.queries(
                {
                    "project_id": "%s",
                    "external_id": "'q' || g",
                    "text": "'query ' || g",
                    "locale": "(ARRAY['de-DE', 'en-GB', 'fr-FR'])[g %% 3 + 1]",
                    "traffic": "(g * 7919) %% 500",
                    "tags": """CASE g %% 10 WHEN 0 THEN '["brand"]' WHEN 1 THEN '["style-sensitive"]'
                               WHEN 2 THEN '["brand", "negation"]' WHEN 3 THEN '["colour"]' ELSE '[]' END::jsonb""",
                },
                "FROM generate_series(0, %s - 1) g",
            ),
            [pid, QUERIES],
        )
        timed_sql(
            "products",
            _build.products(
                {
                    "project_id": "%s",
                    "external_id": "'p' || g",
                    "title": "'Product ' || g",
                    "brand": "'brand' || (g %% 300)",
                    "category": "'category ' || (g %% 30)",
                    "content_hash": "md5(g::text)",
                },
                "FROM generate_series(0, %s - 1) g",
            ),
            [pid, PRODUCTS],
        )
        analyze("annotation_query", "annotation_product")  # plan the pairs on this project's rows
        timed_sql(
            "pairs",
            _build.pairs(
                {"project_id": "%(p)s", "query_id": "q.id", "product_id": "pr.id"},
                """FROM generate_series(1, %(n)s) g
               JOIN annotation_query q ON q.project_id = %(p)s AND q.external_id = 'q' || (g %% %(nq)s)
               JOIN annotation_product pr ON pr.project_id = %(p)s
                    AND pr.external_id = 'p' || (((g / %(nq)s) * 1000 + g %% %(nq)s) %% %(np)s)""",
            ),
            {"p": pid, "n": PAIRS, "nq": QUERIES, "np": PRODUCTS},
        )
        cursor = connection.cursor()
        cursor.execute("SELECT min(id) FROM annotation_pair WHERE project_id = %s", [pid])
        first = cursor.fetchone()[0]
        g = f"(p.id - {first} + 1)"
        t = truth.replace("%(g)s", g)
        timed_sql(
            "LLM labels (+ re-judged)",
            _build.labels(
                {
                    "project_id": "%(p)s",
                    "pair_id": "l.pair_id",
                    "source": "'llm'",
                    "rater": "l.rater",
                    "value": "l.value",
                    "confidence": "l.confidence",
                    "created_at": "l.created_at",
                },
                f"""FROM (SELECT p.id AS pair_id, CASE WHEN {g} %% 4 = 0 THEN 'model-b' ELSE 'model-a' END AS rater,
                             {noisy.format(g=g, salt=1, pct=25, t=t)} AS value, 0.8 AS confidence,
                             now() - interval '90 days' AS created_at
                      FROM annotation_pair p WHERE p.project_id = %(p)s
                      UNION ALL
                      SELECT p.id, 'model-a', {noisy.format(g=g, salt=7, pct=20, t=t)}, 0.9, now() - interval '30 days'
                      FROM annotation_pair p WHERE p.project_id = %(p)s AND {g} <= %(re)s) l""",
            ),
            {"p": pid, "re": REJUDGED},
        )
        timed_sql(
            "judgments",
            _build.judgments(
                {
                    "cache_key": "md5('bench-agreement' || l.id)",
                    "model": "l.rater",
                    "prompt_version": "CASE WHEN l.id %% 3 = 0 THEN 'judgment-v2' ELSE 'judgment-v1' END",
                    "calls": "1",
                    "created_at": "l.created_at",
                    "project_id": "l.project_id",
                    "pair_id": "l.pair_id",
                    "product_id": "p.product_id",
                    "label_id": "l.id",
                    "backend": "'openai'",
                    "mode": "CASE WHEN l.id %% 5 = 0 THEN 'vision' ELSE 'text' END",
                    "status": "'ok'",
                    "value": "l.value",
                    "confidence": "l.confidence",
                    "samples": "jsonb_build_array(l.value)",
                },
                """FROM annotation_label l JOIN annotation_pair p ON p.id = l.pair_id
                   WHERE l.project_id = %s AND l.source = 'llm'""",
            ),
            [pid],
        )
        # Human pair k (every third pair, from the first) goes to annotators r1 = k mod 20
        # and r2 = r1 + 1 + (k div 20 mod 19): two different people. Each labels ~300 a day.
        timed_sql(
            "human labels",
            f"""WITH hp AS (
                    SELECT p.id, {g} AS g, ({g} - 1) / 3 AS k FROM annotation_pair p
                    WHERE p.project_id = %(p)s AND {g} %% 3 = 1 AND ({g} - 1) / 3 < %(hp)s
                ), slots AS (
                    SELECT hp.*, 1 AS slot, k %% %(a)s AS r FROM hp
                    UNION ALL
                    SELECT hp.*, 2, (k %% %(a)s + 1 + (k / %(a)s) %% (%(a)s - 1)) %% %(a)s FROM hp
                )
                """
            + _build.labels(
                {
                    "project_id": "%(p)s",
                    "pair_id": "id",
                    "source": "'human'",
                    "rater": "'annotator-' || lpad(r::text, 2, '0')",
                    "value": noisy.format(g="g", salt="11 * slot + r", pct=15, t=truth.replace("%(g)s", "g")),
                    "created_at": "now() - interval '70 days' + (k / 20 / 300) * interval '1 day' "
                    "+ (k %% 6000) * interval '4 seconds'",
                },
                "FROM slots",
            ),
            {"p": pid, "hp": HUMAN_PAIRS, "a": ANNOTATORS},
        )
        timed_sql(
            "review tasks (done)",
            _build.review_tasks(
                {
                    "project_id": "l.project_id",
                    "pair_id": "l.pair_id",
                    "kind": "'label'",
                    "slot": "row_number() OVER (PARTITION BY l.pair_id ORDER BY l.id)",
                    "reasons": "jsonb_build_array(r.reason)",
                    "reason": "r.reason",
                    "priority": "1.0",
                    "blind": "r.reason = 'audit'",
                    "policy_version": "1",
                    "status": "'done'",
                    "label_id": "l.id",
                    "created_at": "l.created_at",
                    "completed_at": "l.created_at",
                },
                """FROM annotation_label l
               CROSS JOIN LATERAL (SELECT (ARRAY['audit', 'low-confidence', 'low-confidence', 'style-sensitive'])
                                          [l.pair_id %% 4 + 1] AS reason) r
               WHERE l.project_id = %s AND l.source = 'human'""",
            ),
            [pid],
        )
        timed_sql(
            "gold: human / adjudicated",
            """UPDATE annotation_pair p SET
                      gold_value = CASE WHEN h.lo = h.hi THEN h.lo ELSE h.hi END,
                      gold_provenance = CASE WHEN h.lo = h.hi THEN 'human' ELSE 'adjudicated' END,
                      gold_policy_version = 1, gold_updated_at = now()
               FROM (SELECT pair_id, min(value) AS lo, max(value) AS hi FROM annotation_label
                     WHERE project_id = %s AND source = 'human' GROUP BY pair_id) h
               WHERE p.id = h.pair_id""",
            [pid],
        )
        timed_sql(
            "gold: llm-auto",
            """UPDATE annotation_pair p SET gold_value = l.value, gold_provenance = 'llm-auto', gold_policy_version = 1,
                      gold_updated_at = now()
               FROM annotation_label l
               WHERE l.pair_id = p.id AND l.source = 'llm' AND p.project_id = %s AND p.gold_value IS NULL""",
            [pid],
        )
    with connection.cursor() as cursor:
        for table in (
            "annotation_query",
            "annotation_product",
            "annotation_pair",
            "annotation_label",
            "judging_judgment",
            "reviews_reviewtask",
        ):
            cursor.execute(f"VACUUM ANALYZE {table}")
    print(f"  built in {time.perf_counter() - started:.1f} s (with VACUUM ANALYZE)")
    return project


def timed(label: str, runs: int, fn):
    fn()  # warm-up: plans, caches
    samples = []
    result = None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - start)
    print(
        f"  {label:<58} median {statistics.median(samples) * 1000:7.0f} ms   (min {min(samples) * 1000:.0f}, max {max(samples) * 1000:.0f})"
    )
    return result


def fig(f: dict) -> str:
    if f["value"] is None:
        return f"— ({f['reason']})"
    ci = "" if f["ci"] is None else f" [{f['ci'][0]:.3f}, {f['ci'][1]:.3f}]"
    return f"{f['value']:.3f}{ci} n={f['n']:,}"


def explain(sql_of, project, scale) -> None:
    """EXPLAIN ANALYZE of a data statement, captured from the cursor."""
    from django.db import connection, transaction

    captured = []

    def capture(execute, sql, params, many, context):
        if "SET LOCAL" not in sql:
            captured.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        sql_of(project, scale)
    sql, params = captured[-1]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute("SET LOCAL enable_nestloop = off")
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, params)
        print("\n".join("    " + row[0] for row in cursor.fetchall()))


def bench_dashboard(project, runs: int) -> None:
    """The page a lead opens: cold, warm, the refresh behind a label write, disagreements."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.test import Client
    from django.urls import reverse

    from annotation.models import Membership, Role
    from reviews.dashboard.snapshot import PARTS, _key, dashboard_refresh

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    lead, _ = get_user_model().objects.get_or_create(username="bench-lead")
    Membership.objects.update_or_create(project=project, user=lead, defaults={"role": Role.LEAD})
    client = Client()
    client.force_login(lead)
    url = reverse("reviews:dashboard", args=[project.id])
    print(f"dashboard page ({settings.CACHES['default']['BACKEND'].rsplit('.', 1)[-1]}):")
    for part in PARTS:
        cache.delete(_key(project, part))
    start = time.perf_counter()
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    print(
        f"  {'GET agreement/ cold (computes the snapshot inline)':<58} once   {(time.perf_counter() - start) * 1000:7.0f} ms"
    )
    timed("GET agreement/ warm (snapshot from the cache)", runs, lambda: client.get(url))
    timed(
        "GET agreement/?by=category, htmx fragment, warm",
        runs,
        lambda: client.get(url, {"by": "category"}, HTTP_HX_REQUEST="true"),
    )
    start = time.perf_counter()
    entry = dashboard_refresh(project=project, part="core")
    print(
        f"  {'refresh task: core snapshot (after a label write)':<58} once   {(time.perf_counter() - start) * 1000:7.0f} ms"
    )
    print(f"    (of which the figures: {entry['compute_seconds'] * 1000:.0f} ms)")
    dis = reverse("reviews:disagreements", args=[project.id])
    timed("GET agreement/disagreements/ (page 1 of the hard ones)", runs, lambda: client.get(dis))
    print()


def bench_freshness(project, rounds: int = 3) -> None:
    """A snapshot, then 1,000 new human labels by a new rater in one statement (as an
    import or a judge chunk writes them, without dashboard_touch), then: the page's
    staleness check, and the refresh the worker runs, until the stored figures count
    them. Each round adds 1,000 more labels, on the next 1,000 pairs (as a reviewer's
    day moves through the queue; rounds on the same pairs would pile raters on them)."""
    from django.db import connection, transaction

    from reviews.dashboard.snapshot import _stale, dashboard_part, dashboard_refresh, label_writes
    from reviews.tasks import dashboard_refresh_task

    # The refresh runs here, timed, as the worker would run it: nothing goes to the broker.
    dashboard_refresh_task.delay = lambda *args: None  # type: ignore[method-assign]
    from reviews.agreement.tallies import BUILT, refresh_tallies

    print("freshness after 1,000 new labels (no dashboard_touch):")
    with connection.cursor() as cursor:  # time the first build of the tallies on its own
        cursor.execute(f"DELETE FROM {BUILT} WHERE project_id = %s", [project.id])
    start = time.perf_counter()
    pairs = refresh_tallies(project)
    print(f"  first build of the agreement tallies: {pairs:,} pairs in {time.perf_counter() - start:.1f} s")
    dashboard_refresh(project=project, part="core")
    for round_ in range(rounds):
        rater = f"fresh-rater-{round_}-{time.time_ns()}"
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                _build.labels(
                    {
                        "project_id": "project_id",
                        "pair_id": "id",
                        "source": "'human'",
                        "rater": "%s",
                        "value": "coalesce(gold_value, 0)",
                    },
                    "FROM annotation_pair WHERE project_id = %s ORDER BY id LIMIT 1000 OFFSET %s",
                ),
                [rater, project.id, 1000 * round_],
            )
        written = time.perf_counter()
        start = time.perf_counter()
        writes = label_writes(project)
        count_ms = (time.perf_counter() - start) * 1000
        part = dashboard_part(project, "core")  # what the page does: serve, and queue the refresh
        detected = time.perf_counter() - written
        assert part["stale"], "the snapshot should be behind the new labels"
        stored = {}

        def points_stored(points, stored=stored, written=written, rater=rater):
            stored["at"] = time.perf_counter() - written
            assert rater in {row["rater"] for row in points["data"]["annotators"]["annotators"]}
            assert not _stale(project, points, 300)

        entry = dashboard_refresh(project=project, part="core", on_points=points_stored)  # the queued task
        fresh = time.perf_counter() - written
        raters = {row["rater"] for row in entry["data"]["annotators"]["annotators"]}
        assert rater in raters and not _stale(project, entry, 300)
        print(
            f"  round {round_ + 1}: label write count {writes:,} read in {count_ms:.1f} ms; stale seen after "
            f"{detected * 1000:.0f} ms; fresh point figures stored {stored['at']:.2f} s after the write, "
            f"with bootstrap CIs {fresh:.2f} s (load {os.getloadavg()[0]:.1f})"
        )
    print()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reuse", action="store_true", help="keep an existing bench project")
    parser.add_argument("--boot", type=int, default=1000, help="bootstrap replicates")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of the summary's statement")
    parser.add_argument("--json", action="store_true", help="also print the summary as JSON")
    parser.add_argument("--only-dashboard", action="store_true", help="time the dashboard page only")
    parser.add_argument("--freshness", action="store_true", help="time freshness after 1,000 new labels only")
    parser.add_argument("--database", default=DATABASE, help="the bench's own database")
    args = parser.parse_args()
    setup(args.database, fresh=not args.reuse)
    from django.db import connection

    from annotation.models import Project
    from reviews.agreement import (
        agreement_by_segment,
        annotator_agreement,
        human_pairwise_agreement,
        project_agreement_summary,
        scale_of,
    )
    from reviews.agreement.data import agreement_tables
    from reviews.dashboard.snapshot import agreement_figures

    existing = Project.objects.filter(name=NAME).first()
    if existing and not args.reuse:
        drop(existing.id)
        existing = None
    project = existing or build()
    print(f"project: labels {project.labels.count():,}, pairs {project.pairs.count():,}")
    print(f"PostgreSQL {connection.cursor().connection.info.server_version}, bootstrap {args.boot} replicates")
    one, five, fifteen = os.getloadavg()
    print(f"load average at start: {one:.2f} {five:.2f} {fifteen:.2f} (timings are wall clock)\n")

    scale = scale_of(project)
    boot = {"n_boot": args.boot}
    if args.freshness:
        bench_freshness(project)
        return
    bench_dashboard(project, args.runs)
    bench_freshness(project)
    if args.only_dashboard:
        return
    timed("data: the summary's one statement", args.runs, lambda: agreement_tables(project, scale, counts=True))
    summary = timed("project_agreement_summary", args.runs, lambda: project_agreement_summary(project, **boot))
    timed("project_agreement_summary, no bootstrap", args.runs, lambda: project_agreement_summary(project, n_boot=0))
    timed(
        "agreement_figures('project_agreement_summary'): a cache hit",
        args.runs,
        lambda: agreement_figures(project, "project_agreement_summary", **boot),
    )
    slices = {}
    for by in ("tag", "category", "locale", "reason", "label", "model", "prompt", "mode"):
        slices[by] = timed(
            f"agreement_by_segment(by={by!r})", args.runs, lambda by=by: agreement_by_segment(project, by, **boot)
        )
    annotators = timed(
        "annotator_agreement (20 annotators, 10 position buckets)",
        args.runs,
        lambda: annotator_agreement(project, **boot),
    )
    timed(
        "human_pairwise_agreement (detail per pair of raters)",
        args.runs,
        lambda: human_pairwise_agreement(project, **boot),
    )

    print("\nsummary figures:")
    print("  counts", summary["counts"])
    print("  α all raters (LLM as one)   ", fig(summary["alpha"]))
    print("  α humans                    ", fig(summary["alpha_humans"]))
    for name in ("kappa", "weighted_kappa", "agreement"):
        print(f"  LLM vs human {name:<16}", fig(summary["llm_vs_human"][name]))
    for name in ("accuracy", "binary_accuracy", "macro_f1", "kappa", "weighted_kappa", "alpha"):
        print(f"  LLM vs gold  {name:<16}", fig(summary["llm_vs_gold"][name]))
    for name in ("kappa", "weighted_kappa", "agreement"):
        print(f"  human vs human {name:<14}", fig(summary["human_vs_human"][name]))
    print("  confusion LLM vs gold (rows gold, cols LLM):", summary["llm_vs_gold"]["confusion"]["matrix"])
    print("\nby tag:")
    for row in slices["tag"]:
        print(f"  {row['segment']:<16} pairs {row['n_pairs']:>7,}  κ LLM–human {fig(row['llm_vs_human']['kappa'])}")
    print("by mode:")
    for row in slices["mode"]:
        print(f"  {row['segment']:<16} pairs {row['n_pairs']:>7,}  acc vs gold {fig(row['llm_vs_gold']['accuracy'])}")
    print("fatigue, all annotators:")
    for b in annotators["all"]["by_position"]:
        print(
            f"  labels {b['from']:>3}–{b['to'] or '':<4} agreement vs consensus {fig(b['vs_consensus']['agreement'])}"
        )
    if args.explain:
        print("\nEXPLAIN ANALYZE of the summary's statement:")
        explain(lambda p, s: agreement_tables(p, s, counts=True), project, scale)
    if args.json:
        print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
