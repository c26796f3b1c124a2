"""Policy benchmark: the what-if preview and reroute_apply of a threshold change at about
1,000,000 auto-accepted pairs.

Builds (in SQL, in its own database `qrelay_bench_policy`) a project of 1,125,000 judged
pairs routed under version 1 (min. confidence 0.5): about 1.0M auto-accepted as gold,
the rest (low confidence, samples that disagree) in review as open tasks. Then it times:
- the preview of raising min. confidence to 0.6 (reroute_preview, SQL), and the whole
  what-if the policy page computes (preview + whatif_figures);
- applying it: a RerouteJob run batch by batch, as the worker task does;
- the preview and apply of lowering it back to 0.5 (open tasks back to the LLM);
- with --old, the previous preview (signals and routing.decide per pair in Python).
Before each step it VACUUM ANALYZEs the tables rerouting rewrites (this server runs with
autovacuum off), and each figure is printed with a reference timed in the same run (a
count(*) of the signals): on the shared machine the ratio is what compares between runs.
--batches 25000,100000 applies with each batch size in turn.

Usage: DATABASE_URL=... python bench/bench_policy.py [--pairs N] [--reuse] [--old] [--database NAME] [--batches N,…]
"""

import argparse
import statistics
import time
from collections import Counter
from decimal import Decimal

import _build
from _setup import setup

NAME = "bench-policy"
QUERIES = 10_000
PRODUCTS = 50_000


def run_sql(label: str, sql: str, params) -> None:
    from django.db import connection

    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.rowcount
    print(f"  {label:<36} {rows:>9} rows {time.perf_counter() - start:7.1f} s")


def drop(project_id: int) -> None:
    """Delete the project with plain SQL: the ORM's cascade would load a million rows."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for table in (
            "reviews_reroutejob",
            "reviews_reviewtask",
            "reviews_routingpolicy",
            "judging_judgment",
            "reviews_pairsignal",
            "annotation_label",
            "annotation_pair",
            "annotation_query",
            "annotation_product",
            "annotation_membership",
            "annotation_scalelevel",
        ):
            cursor.execute(f"DELETE FROM {table} WHERE project_id = %s", [project_id])
        cursor.execute("DELETE FROM annotation_project WHERE id = %s", [project_id])


def build(pairs: int):
    """Pair g (1-based) has query g mod QUERIES and product (7q + 443k) mod PRODUCTS with
    k = g div QUERIES (unique per query for k < 113), confidence 0.5 + (g·7919 mod 500)/1000,
    except every 11th at 0.3; every 50th has samples that disagree."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from annotation.models import Membership, Query, Role
    from annotation.services import project_create
    from reviews.models import RoutingPolicy

    assert pairs <= QUERIES * 113
    project = project_create(name=NAME)
    pid = project.id
    RoutingPolicy.objects.create(project=project, version=1, min_confidence=0.5, audit_rate=0.0, note="bench")
    lead, _ = get_user_model().objects.get_or_create(username="bench-policy-lead")
    Membership.objects.create(project=project, user=lead, role=Role.LEAD)
    print(f"building project {NAME} (id {pid}): {pairs:,} judged pairs")
    started = time.perf_counter()
    with transaction.atomic():
        run_sql(
            "queries",
            _build.queries(
                {
                    "project_id": "%s",
                    "external_id": "'q' || g",
                    "text": "'query ' || g || CASE WHEN g %% 97 = 0 THEN ' elegant' ELSE '' END",
                    "locale": "'de-DE'",
                    "traffic": "(g * 7919) %% 500",
                },
                "FROM generate_series(0, %s - 1) g",
            ),
            [pid, QUERIES],
        )
        run_sql(
            "products",
            _build.products(
                {
                    "project_id": "%s",
                    "external_id": "'p' || g",
                    "title": "'Product ' || g",
                    "brand": "'brand' || (g %% 300)",
                    "category": "'cat' || (g %% 20)",
                    "content_hash": "md5(g::text)",
                },
                "FROM generate_series(0, %s - 1) g",
            ),
            [pid, PRODUCTS],
        )
        q0 = Query.objects.filter(project=project).order_by("id").values_list("id", flat=True).first()
        with connection.cursor() as cursor:
            cursor.execute("SELECT min(id) FROM annotation_product WHERE project_id = %s", [pid])
            p0 = cursor.fetchone()[0]
        run_sql(
            "pairs",
            _build.pairs(
                {
                    "project_id": "%(p)s",
                    "query_id": "%(q0)s + g %% %(nq)s",
                    "product_id": "%(p0)s + ((g %% %(nq)s) * 7 + (g / %(nq)s) * 443) %% %(np)s",
                },
                "FROM generate_series(1, %(n)s) g ORDER BY g",
            ),
            {"p": pid, "n": pairs, "nq": QUERIES, "np": PRODUCTS, "q0": q0, "p0": p0},
        )
        run_sql(
            "judgments",
            _build.judgments(
                {
                    "cache_key": "md5('bench-policy' || p.id)",
                    "model": "'bench-judge'",
                    "prompt_version": "'judgment-v1'",
                    "calls": "1",
                    "cost_eur": "0.0001",
                    "project_id": "p.project_id",
                    "pair_id": "p.id",
                    "product_id": "p.product_id",
                    "backend": "'openai'",
                    "mode": "'text'",
                    "status": "'ok'",
                    "value": "p.id %% 3",
                    "confidence": "CASE WHEN p.id %% 11 = 0 THEN 0.3 ELSE 0.5 + ((p.id * 7919) %% 500) / 1000.0 END",
                    "samples": """CASE WHEN p.id %% 50 = 0 THEN jsonb_build_array(p.id %% 3, (p.id + 1) %% 3)
                                       ELSE jsonb_build_array(p.id %% 3, p.id %% 3) END""",
                },
                "FROM annotation_pair p WHERE p.project_id = %s",
            ),
            [pid],
        )
    with connection.cursor() as cursor:
        for table in (
            "annotation_pair",
            "judging_judgment",
            "reviews_pairsignal",
            "annotation_query",
            "annotation_product",
        ):
            cursor.execute(f"ANALYZE {table}")
    print(f"  judged in {time.perf_counter() - started:.1f} s; routing under version 1 …")
    started = time.perf_counter()
    route_all(project)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE annotation_pair")
        cursor.execute("ANALYZE reviews_reviewtask")
    print(f"  routed in {time.perf_counter() - started:.1f} s")
    return project


def route_all(project) -> None:
    """Version 1's routing, in SQL (routing_sql, the twin of decide): gold or an open task."""
    from django.db import connection, transaction

    from reviews.routing import PolicyView
    from reviews.routing_sql import decisions_sql
    from reviews.services.policies import policy_current

    view = PolicyView.of(policy_current(project))
    sql, params = decisions_sql(project, view, "SELECT id FROM annotation_pair WHERE project_id = %(project)s")
    params["project"] = project.id
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            _build.review_tasks(
                {
                    "project_id": "%(project)s",
                    "pair_id": "d.pair_id",
                    "kind": "'label'",
                    "slot": "1",
                    "reasons": "to_jsonb(d.reasons)",
                    "reason": "d.reasons[1]",
                    "priority": "d.priority",
                    "blind": "d.blind",
                    "policy_version": "1",
                    "status": "'open'",
                },
                f"FROM ({sql}) d WHERE d.to_humans",
            ),
            params,
        )
        cursor.execute(
            f"""UPDATE annotation_pair p SET gold_value = j.value, gold_provenance = 'llm-auto',
                       gold_policy_version = 1, gold_updated_at = now()
                FROM ({sql}) d JOIN judging_judgment j ON j.pair_id = d.pair_id
                WHERE p.id = d.pair_id AND NOT d.to_humans AND NOT d.invalid""",
            params,
        )


def vacuum() -> float:
    """VACUUM ANALYZE the tables rerouting rewrites, before each timed step. This server
    runs with autovacuum off: without it every apply left ~200k dead pair rows and 200k
    cancelled tasks, and each later run of the bench scanned more (1.0M dead rows in
    annotation_pair after five applies), which a server with autovacuum would not."""
    from django.db import connection

    start = time.perf_counter()
    with connection.cursor() as cursor:
        for table in ("annotation_pair", "reviews_reviewtask", "reviews_pairsignal"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    return time.perf_counter() - start


def reference_count() -> int:
    """A plain scan of the signals, timed in the same run: the machine is shared, and the
    preview's time over this one is the figure comparable between runs."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM reviews_pairsignal")
        return cursor.fetchone()[0]


def timed(fn, repeat: int = 3):
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def old_preview(project, view):
    """The previous reroute_preview: every auto-accepted pair's signals and decide() in Python."""
    from annotation.models import GoldProvenance, Pair
    from reviews.routing import decide
    from reviews.services.route import latest_judgments, signals_for

    to_humans, reasons = 0, Counter()
    ids = list(
        Pair.objects.filter(project=project, gold_provenance=GoldProvenance.LLM_AUTO).values_list("id", flat=True)
    )
    for start in range(0, len(ids), 20_000):
        chunk = list(Pair.objects.filter(id__in=ids[start : start + 20_000]).select_related("query"))
        for s in signals_for(chunk, latest_judgments([p.id for p in chunk])).values():
            decision = decide(s, view)
            if decision.to_humans:
                to_humans += 1
                reasons.update(decision.reasons)
    return to_humans, reasons


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=1_125_000)
    parser.add_argument("--reuse", action="store_true", help="keep an existing bench project (skips the build)")
    parser.add_argument("--old", action="store_true", help="also time the previous Python preview")
    parser.add_argument("--database", default="qrelay_bench_policy", help="the bench database's name")
    parser.add_argument(
        "--batches",
        default="",
        help="comma-separated batch sizes to apply with, each 0.6 then 0.5 (default: BATCH_PAIRS)",
    )
    args = parser.parse_args()
    setup(database=args.database, fresh=not args.reuse)

    from django.contrib.auth import get_user_model
    from django.db import transaction

    from annotation.models import GoldProvenance, Pair, Project
    from reviews.dashboard.policy import whatif_figures
    from reviews.models import ReviewTask
    from reviews.routing import PolicyView
    from reviews.services.policies import policy_current, policy_update
    from reviews.services.reroute import reroute_job_start, reroute_preview, reroute_run

    existing = Project.objects.filter(name=NAME).first()
    if existing and not args.reuse:
        print(f"dropping the previous {NAME} project …")
        drop(existing.id)
        existing = None
    project = existing or build(args.pairs)
    lead = get_user_model().objects.get(username="bench-policy-lead")

    def counts():
        auto = Pair.objects.filter(project=project, gold_provenance=GoldProvenance.LLM_AUTO).count()
        open_tasks = ReviewTask.objects.filter(project=project, status=ReviewTask.Status.OPEN).count()
        return auto, open_tasks

    from reviews.services import reroute

    sizes = [int(n) for n in args.batches.split(",") if n] or [reroute.BATCH_PAIRS]
    for size, threshold in [(size, threshold) for size in sizes for threshold in (0.6, 0.5)]:
        reroute.BATCH_PAIRS = size
        print(f"\nVACUUM ANALYZE of pairs, tasks, signals: {vacuum():.1f} s")
        current = policy_current(project)
        auto, open_tasks = counts()
        print(
            f"\nversion {current.version} (min. confidence {current.min_confidence}): "
            f"{auto:,} auto-accepted, {open_tasks:,} open tasks; draft: min. confidence {threshold}"
        )
        view = PolicyView.of(current)
        view = PolicyView(**{**view.__dict__, "version": current.version + 1, "min_confidence": threshold})
        seconds, preview = timed(lambda view=view: reroute_preview(project=project, policy=view))
        print(
            f"  what-if preview (SQL)              {seconds * 1000:8.0f} ms   to humans {preview.to_humans:,}, "
            f"back to the LLM {preview.to_llm:,}"
        )
        seconds, _ = timed(
            lambda view=view: whatif_figures(
                project=project, view=view, moves=reroute_preview(project=project, policy=view), hourly_rate=Decimal(30)
            )
        )
        print(
            f"  preview + what-if figures (page)   {seconds * 1000:8.0f} ms   (median of 3: keystrokes reuse the cached basis)"
        )
        reference, _ = timed(reference_count)
        print(
            f"  reference: count(*) of PairSignal  {reference * 1000:8.0f} ms   (preview / reference: the ratio to compare)"
        )
        if args.old and threshold == 0.6:
            start = time.perf_counter()
            old = old_preview(project, PolicyView(**{**view.__dict__, "audit_rate": 0.0}))
            print(
                f"  old preview (Python decide)        {(time.perf_counter() - start) * 1000:8.0f} ms   "
                f"to humans {old[0]:,} (same: {old[0] == preview.to_humans and old[1] == preview.reasons})"
            )
        with transaction.atomic():
            policy = policy_update(project=project, user=lead, note="bench", min_confidence=threshold)
            job = reroute_job_start(project=project, user=lead, policy=policy)
        start = time.perf_counter()
        job = reroute_run(job.id)  # what the worker task runs
        seconds = time.perf_counter() - start
        reference, _ = timed(reference_count)
        print(
            f"  reroute_apply (job, {job.batches_done} batches)      {seconds:8.1f} s    to humans {job.to_humans:,}, "
            f"back to the LLM {job.to_llm:,} (as previewed: "
            f"{(job.to_humans, job.to_llm) == (preview.to_humans, preview.to_llm)}); batch {size:,} pair ids; "
            f"{seconds / reference:,.0f}× the reference count(*) ({reference * 1000:.0f} ms)"
        )


if __name__ == "__main__":
    main()
