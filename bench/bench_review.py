"""Review-queue benchmark: "submit + next card" against a big project on PostgreSQL.

Builds (with generate_series, in SQL) a project of 1,000,000 pairs, each with an LLM
label and judgment, 800,000 of them auto-accepted as gold and 200,000 in review as open
label tasks, plus a history of tasks the annotators did before. Then it measures the
server time of one reviewer step, task_submit of the current card followed by
task_claim_next for the next one, as p50/p95/p99 over many steps by several users
(one after another, and at the same time on threads), and prints EXPLAIN ANALYZE of the
claim query.

Usage: DATABASE_URL=... python bench/bench_review.py [--pairs N] [--tasks N] [--steps N]
       [--users N] [--reuse]   (--reuse keeps an existing bench project: fast re-runs)
"""

import argparse
import statistics
import time

import _build
from _setup import analyze, setup

NAME = "bench-review"
QUERIES = 20_000
PRODUCTS = 50_000


def drop(project_id: int) -> None:
    """Delete the project with plain SQL: the ORM's cascade would load a million rows."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(
            "DELETE FROM reviews_taskskip WHERE task_id IN (SELECT id FROM reviews_reviewtask WHERE project_id = %s)",
            [project_id],
        )
        for table in (
            "reviews_reviewtask",
            "reviews_routingpolicy",
            "judging_judgment",
            "judging_judgeconfig",
            "annotation_label",
        ):
            cursor.execute(f"DELETE FROM {table} WHERE project_id = %s", [project_id])
        for table in (
            "annotation_pair",
            "annotation_query",
            "annotation_product",
            "annotation_membership",
            "annotation_scalelevel",
        ):
            cursor.execute(f"DELETE FROM {table} WHERE project_id = %s", [project_id])
        cursor.execute("DELETE FROM annotation_project WHERE id = %s", [project_id])


def timed(label: str, sql: str, params) -> None:
    from django.db import connection

    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.rowcount
    print(f"  {label:<44} {rows:>9} rows {time.perf_counter() - start:7.1f} s")


def open_tasks(where: str) -> str:
    """Open label tasks for pairs in review, priority = low-confidence weight × (1 + traffic)."""
    return _build.review_tasks(
        {
            "project_id": "%s",
            "pair_id": "p.id",
            "kind": "'label'",
            "slot": "1",
            "reasons": """'["low-confidence"]'::jsonb""",
            "reason": "'low-confidence'",
            "priority": "3.0 * (1 + q.traffic)",
            "blind": "false",
            "policy_version": "1",
            "status": "'open'",
        },
        "FROM annotation_pair p JOIN annotation_query q ON q.id = p.query_id\n" + where,
    )


def build(pairs: int, tasks: int, users: int, history: int):
    """The project, in SQL. Pair i (1-based) has query i mod QUERIES and product
    (k * 1000 + q) mod PRODUCTS with k = i div QUERIES: unique per query for k < 50."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from annotation.models import Membership, Role
    from annotation.services import project_create
    from reviews.models import RoutingPolicy

    assert pairs <= QUERIES * 50 and tasks + history * users <= pairs // 5 + pairs // 25
    project = project_create(name=NAME)
    pid = project.id
    RoutingPolicy.objects.create(project=project, version=1, note="bench")
    User = get_user_model()
    people = [User.objects.get_or_create(username=f"bench-annotator-{i:02d}")[0] for i in range(users)]
    Membership.objects.bulk_create([Membership(project=project, user=u, role=Role.ANNOTATOR) for u in people])
    print(f"building project {NAME} (id {pid}): {pairs:,} pairs, {tasks:,} open tasks")
    started = time.perf_counter()
    with transaction.atomic():
        timed(
            "queries",
            _build.queries(
                {
                    "project_id": "%s",
                    "external_id": "'q' || g",
                    "text": "'query ' || g",
                    "locale": "'de-DE'",
                    "traffic": "(g * 7919) %% 500",
                },
                "FROM generate_series(0, %s - 1) g",
            ),
            [pid, QUERIES],
        )
        timed(
            "products",
            _build.products(
                {
                    "project_id": "%s",
                    "external_id": "'p' || g",
                    "title": "'Product ' || g",
                    "brand": "'brand' || (g %% 300)",
                    "category": "'cat'",
                    "content_hash": "md5(g::text)",
                },
                "FROM generate_series(0, %s - 1) g",
            ),
            [pid, PRODUCTS],
        )
        # The pairs join the new queries and products: plan that on their statistics.
        analyze("annotation_query", "annotation_product")
        # Every 5th pair and 1 in 25 more are in review (room for the history below); the
        # others are auto-accepted gold.
        timed(
            "pairs",
            _build.pairs(
                {
                    "project_id": "%(p)s",
                    "query_id": "q.id",
                    "product_id": "pr.id",
                    "gold_value": "CASE WHEN g %% 5 = 0 OR g %% 25 = 1 THEN NULL ELSE g %% 3 END",
                    "gold_provenance": "CASE WHEN g %% 5 = 0 OR g %% 25 = 1 THEN '' ELSE 'llm-auto' END",
                    "gold_policy_version": "CASE WHEN g %% 5 = 0 OR g %% 25 = 1 THEN NULL ELSE 1 END",
                    "gold_updated_at": "CASE WHEN g %% 5 = 0 OR g %% 25 = 1 THEN NULL ELSE now() END",
                },
                """FROM generate_series(1, %(n)s) g
               JOIN annotation_query q ON q.project_id = %(p)s AND q.external_id = 'q' || (g %% %(nq)s)
               JOIN annotation_product pr ON pr.project_id = %(p)s
                    AND pr.external_id = 'p' || (((g / %(nq)s) * 1000 + g %% %(nq)s) %% %(np)s)""",
            ),
            {"p": pid, "n": pairs, "nq": QUERIES, "np": PRODUCTS},
        )
        analyze("annotation_pair")
        timed(
            "LLM labels",
            _build.labels(
                {
                    "project_id": "%s",
                    "pair_id": "id",
                    "source": "'llm'",
                    "rater": "'bench-judge'",
                    "value": "id %% 3",
                    "confidence": "CASE WHEN id %% 5 = 0 THEN 0.4 ELSE 0.9 END",
                },
                "FROM annotation_pair WHERE project_id = %s",
            ),
            [pid, pid],
        )
        timed(
            "judgments",
            _build.judgments(
                {
                    "cache_key": "md5('bench' || l.id)",
                    "model": "'bench-judge'",
                    "prompt_version": "'judgment-v1'",
                    "calls": "1",
                    "project_id": "l.project_id",
                    "pair_id": "l.pair_id",
                    "product_id": "p.product_id",
                    "label_id": "l.id",
                    "backend": "'openai'",
                    "mode": "'text'",
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
        # The review queue: one slot per pair, priority = low-confidence weight × (1 + traffic).
        timed(
            "open review tasks",
            open_tasks(
                """WHERE p.project_id = %s AND p.gold_value IS NULL
                   ORDER BY p.id LIMIT %s"""
            ),
            [pid, pid, tasks],
        )
        analyze("annotation_label", "reviews_reviewtask")
        # Past work: each annotator already did `history` tasks of the highest priorities
        # (done, with a human label, human gold), as after some days of reviewing.
        if history:
            timed(
                "history: done tasks",
                """WITH picked AS (
                       SELECT t.id, t.pair_id, row_number() OVER (ORDER BY t.priority DESC, t.id) - 1 AS n
                       FROM reviews_reviewtask t WHERE t.project_id = %s ORDER BY t.priority DESC, t.id LIMIT %s
                   ), assigned AS (
                       SELECT picked.*, (SELECT id FROM auth_user WHERE username = 'bench-annotator-' ||
                                         lpad((n %% %s)::text, 2, '0')) AS user_id
                       FROM picked
                   ), labels AS ("""
                + _build.labels(
                    {
                        "project_id": "%s",
                        "pair_id": "pair_id",
                        "source": "'human'",
                        "rater": "'bench'",
                        "user_id": "user_id",
                        "value": "1",
                    },
                    "FROM assigned RETURNING id, pair_id, user_id",
                )
                + """)
                   UPDATE reviews_reviewtask t SET status = 'done', claimed_by_id = labels.user_id, label_id = labels.id,
                          lease_expires_at = now() - interval '1 day', completed_at = now()
                   FROM labels WHERE t.pair_id = labels.pair_id AND t.project_id = %s""",
                [pid, history * users, users, pid, pid],
            )
            timed(
                "history: human gold",
                """UPDATE annotation_pair p SET gold_value = 1, gold_provenance = 'human', gold_policy_version = 1,
                          gold_updated_at = now()
                   FROM reviews_reviewtask t WHERE t.pair_id = p.id AND t.project_id = %s AND t.status = 'done'""",
                [pid],
            )
        # Top up so that `tasks` stay open after the history.
        timed(
            "open review tasks (top-up)",
            open_tasks(
                """WHERE p.project_id = %s AND p.gold_value IS NULL
                     AND NOT EXISTS (SELECT 1 FROM reviews_reviewtask t WHERE t.pair_id = p.id)
                   ORDER BY p.id LIMIT %s"""
            ),
            [pid, pid, history * users],
        )
        # A tenth of the open tasks are for style-sensitive queries, a few audits: the queue
        # can be filtered by reason.
        timed(
            "reasons: style-sensitive / audit",
            """UPDATE reviews_reviewtask SET
                      reason = CASE WHEN pair_id %% 50 = 0 THEN 'audit' ELSE 'style-sensitive' END,
                      reasons = CASE WHEN pair_id %% 50 = 0 THEN '["audit"]'::jsonb ELSE '["style-sensitive"]'::jsonb END,
                      blind = pair_id %% 50 = 0
               WHERE project_id = %s AND status = 'open' AND pair_id %% 10 = 0""",
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


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    q = statistics.quantiles(ordered, n=100, method="inclusive")
    return f"p50 {q[49]:6.1f}  p95 {q[94]:6.1f}  p99 {q[98]:6.1f}  max {ordered[-1]:6.1f} ms"


def step_loop(
    project_id: int, user_id: int, steps: int, reason: str | None = None, http: bool = False
) -> list[tuple[float, float]]:
    """Claim a card, then `steps` times: submit it and claim the next, timed together.
    Returns (wall ms, ms inside cursor.execute: round trips, server time and, on a busy
    machine, waiting to be scheduled again) per step.

    http=True times the whole request a reviewer's browser makes instead: the htmx POST
    of the label through Django's handler (session, access checks, the submit view) that
    answers with the next card's HTML."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from annotation.models import Project
    from reviews.models import ReviewTask
    from reviews.services.queue import task_claim_next, task_submit

    project = Project.objects.get(id=project_id)
    user = get_user_model().objects.get(id=user_id)
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    in_db = [0.0]

    def clock(execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            in_db[0] += time.perf_counter() - start

    def post_label(task: ReviewTask, value: int) -> None:
        url = reverse("reviews:submit", args=[project.id, task.id])
        data = {"value": value, "time_spent_ms": 1500, **({"reason": reason} if reason else {})}
        response = client.post(url, data, HTTP_HX_REQUEST="true")
        if response.status_code != 200:
            raise SystemExit(f"submit answered {response.status_code}: {response.content[:300]!r}")

    out = []
    try:
        with connection.execute_wrapper(clock):
            task = task_claim_next(project=project, user=user, reason=reason)
            for i in range(steps):
                if task is None:
                    break
                in_db[0] = 0.0
                start = time.perf_counter()
                if http:
                    post_label(task, i % 3)
                else:
                    task_submit(task=task, user=user, value=i % 3, time_spent_ms=1500)
                    task = task_claim_next(project=project, user=user, reason=reason)
                out.append(((time.perf_counter() - start) * 1000, in_db[0] * 1000))
                if http:  # the card the response showed, looked up outside the timing
                    task = (
                        ReviewTask.objects.filter(claimed_by=user, status=ReviewTask.Status.CLAIMED)
                        .order_by("-lease_expires_at")
                        .first()
                    )
    finally:
        connection.close()
    return out


def _child(args, results) -> None:
    results.put(step_loop(*args))


def measure(
    project, people, steps: int, *, concurrent: bool, reason: str | None = None, http: bool = False
) -> list[tuple[float, float]]:
    import multiprocessing

    from django.db import connections

    per_user = max(steps // len(people), 1)
    jobs = [(project.id, user.id, per_user, reason, http) for user in people]
    if not concurrent:
        # One user at a time: the latency of a step with nothing else running.
        return [sample for job in jobs for sample in step_loop(*job)]
    # At the same time, one process per user (threads would queue on the GIL, and
    # measure Python rather than the server).
    connections.close_all()
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    children = [context.Process(target=_child, args=(job, results)) for job in jobs]
    for child in children:
        child.start()
    samples = [sample for _ in children for sample in results.get()]
    for child in children:
        child.join()
    return samples


def explain_claim(project, user, reason: str | None = None) -> None:
    from django.db import connection, transaction

    from reviews.models import ReviewTask
    from reviews.services.queue import _claimable

    candidates = _claimable(project, user, ReviewTask.Kind.LABEL)
    if reason:
        candidates = candidates.filter(reason=reason)
    query = candidates.select_for_update(skip_locked=True).order_by("-priority", "id")[:1]
    with transaction.atomic(), connection.cursor() as cursor:
        sql, params = query.query.sql_with_params()
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, params)
        print("\n".join("    " + row[0] for row in cursor.fetchall()))
        transaction.set_rollback(True)  # EXPLAIN ANALYZE took the row lock


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--tasks", type=int, default=200_000)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--users", type=int, default=5)
    parser.add_argument("--history", type=int, default=2_000, help="done tasks per annotator before the run")
    parser.add_argument("--reuse", action="store_true", help="keep an existing bench project")
    args = parser.parse_args()
    setup(fresh=not args.reuse)
    from django.contrib.auth import get_user_model
    from django.db import connection

    from annotation.models import Project
    from reviews.models import ReviewTask

    existing = Project.objects.filter(name=NAME).first()
    if existing and not args.reuse:
        drop(existing.id)
        existing = None
    project = existing or build(args.pairs, args.tasks, 20, args.history)
    people = list(get_user_model().objects.filter(username__startswith="bench-annotator-").order_by("username"))[
        : args.users
    ]
    ReviewTask.objects.filter(project=project, status="claimed").update(
        status="open", claimed_by=None, lease_expires_at=None
    )
    counts = {
        "pairs": project.pairs.count(),
        "open": ReviewTask.objects.filter(project=project, status="open").count(),
        "done": ReviewTask.objects.filter(project=project, status="done").count(),
        "labels": project.labels.count(),
    }
    print("project:", ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    print(f"PostgreSQL {connection.cursor().connection.info.server_version}")

    print("\nEXPLAIN ANALYZE of the claim query (next card, any reason):")
    explain_claim(project, people[0])
    print("\nEXPLAIN ANALYZE of the claim query filtered by reason=audit:")
    explain_claim(project, people[0], reason="audit")

    print(f"\nsubmit + next card, {args.steps} steps:")
    for label, kwargs in [
        (f"{len(people)} users one after another", {"concurrent": False}),
        (f"{len(people)} users at the same time", {"concurrent": True}),
        (f"{len(people)} users one after another, queue of reason=audit", {"concurrent": False, "reason": "audit"}),
        (f"{len(people)} users one after another, whole htmx request", {"concurrent": False, "http": True}),
        (f"{len(people)} users at the same time, whole htmx request", {"concurrent": True, "http": True}),
    ]:
        samples = measure(project, people, args.steps, **kwargs)
        print(f"  {label} (n={len(samples)})")
        print(f"    step, wall time        {percentiles([wall for wall, _ in samples])}")
        print(f"    of which in DB calls   {percentiles([db for _, db in samples])}")


if __name__ == "__main__":
    main()
