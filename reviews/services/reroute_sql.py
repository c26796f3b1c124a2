"""The PostgreSQL side of rerouting (reroute.py): the preview's counts and one batch's
moves, each a statement over the SQL decisions of routing_sql, so neither a preview nor
a batch of 25,000 pairs round-trips per pair. The writes are route_pairs' own, in SQL:
gold cleared and open task slot(s) for pairs sent to humans (pairs with a live task are
skipped), tasks cancelled and gold from the newest judgment for pairs given back."""

from collections import Counter

from django.db import connection, transaction

from annotation.models import Project

from ..models import RoutingPolicy
from ..routing import PolicyView
from ..routing_sql import REASON_COLUMN, decisions_sql, query_signals
from .route import SETTLED

# LLM-decided pairs (auto-accepted gold), as PairSignal's flag says: one scan of the
# signals, not a join of a million pairs with them (pair_signal_sql keeps the flag).
_AUTO = "l.project_id = %(project)s AND l.auto_accepted"
# Open label tasks a new threshold could give back. Audit tasks stay: they were drawn at
# random to measure agreement, not for a reason a new threshold could remove.
_OPEN = """SELECT pair_id FROM reviews_reviewtask
           WHERE project_id = %(project)s AND kind = 'label' AND status = 'open' AND slot = 1
             AND reason <> 'audit'{range}"""
_OPEN_RANGE = " AND pair_id >= %(lo)s AND pair_id < %(hi)s"
# Pairs someone works on or worked on (a slot claimed, done, flagged or dropped) stay with
# humans. Tasks cancelled by an earlier reroute do not count.
_UNTOUCHED = """NOT EXISTS (SELECT 1 FROM reviews_reviewtask t
                            WHERE t.pair_id = d.pair_id AND t.status NOT IN ('open', 'cancelled'))"""
_BACK = f"NOT d.to_humans AND NOT d.invalid AND {_UNTOUCHED}"
# The same, for a batch: the range lets the task scan use the pair_id index.
_BACK_RANGED = _BACK.replace(
    "t.pair_id = d.pair_id", "t.pair_id = d.pair_id AND t.pair_id >= %(lo)s AND t.pair_id < %(hi)s"
)


def _sources(project: Project, view: PolicyView, ranged: bool) -> tuple[str, str, dict]:
    """The decisions over auto-accepted pairs and over open tasks (in %(lo)s..%(hi)s when ranged)."""
    queries = query_signals(project, view)
    auto, params = decisions_sql(project, view, None, queries, ranged=ranged, signals_where=_AUTO)
    open_, _ = decisions_sql(project, view, _OPEN.format(range=_OPEN_RANGE if ranged else ""), queries, ranged=ranged)
    return auto, open_, {**params, "project": project.id}


def preview_counts(project: Project, view: PolicyView) -> tuple[int, int, Counter]:
    """(auto-accepted pairs to humans, open tasks back to the LLM, reasons of the former):
    one statement, so the two counts are of the same snapshot and cost one round trip."""
    auto, open_, params = _sources(project, view, ranged=False)
    reasons = list(REASON_COLUMN.items())
    counts = ", ".join(f"count(*) FILTER (WHERE {column})" for _, column in reasons)
    with transaction.atomic(), connection.cursor() as cursor:
        _no_jit(cursor)
        cursor.execute(
            f"""SELECT b.n, a.* FROM (SELECT count(*), {counts} FROM ({auto}) d WHERE to_humans) a
                CROSS JOIN (SELECT count(*) AS n FROM ({open_}) d WHERE {_BACK}) b""",
            params,
        )
        to_llm, to_humans, *by_reason = cursor.fetchone()
    found = Counter({reason: n for (reason, _), n in zip(reasons, by_reason, strict=True) if n})
    return to_humans, to_llm, found


def _no_jit(cursor) -> None:
    # These statements scan a million rows and cross the JIT cost threshold, but they are
    # simple filters and joins: compiling them took ~0.2 s of a ~1.4 s preview at 1M pairs
    # and saved nothing. For the rest of the transaction only.
    cursor.execute("SET LOCAL jit = off")


def move_range(project: Project, policy: RoutingPolicy, view: PolicyView, lo: int, hi: int) -> tuple[int, int, Counter]:
    """Move the pairs with ids in [lo, hi): (sent to humans, given back to the LLM, reasons)."""
    auto, open_, params = _sources(project, view, ranged=True)
    params.update(lo=lo, hi=hi, version=policy.version, humans=view.humans_per_pair, settled=[str(s) for s in SETTLED])
    reasons: Counter = Counter()
    with connection.cursor() as cursor:
        _no_jit(cursor)  # a batch runs in the job step's transaction
        cursor.execute(
            f"""
            WITH moving AS MATERIALIZED (SELECT * FROM ({auto}) d WHERE d.to_humans),
            cleared AS (
                UPDATE annotation_pair p
                SET gold_value = NULL, gold_provenance = '', gold_policy_version = NULL, gold_updated_at = NULL
                FROM moving m WHERE p.id = m.pair_id AND p.gold_provenance = 'llm-auto'
                RETURNING p.id
            ),
            created AS (
                INSERT INTO reviews_reviewtask (project_id, pair_id, kind, slot, reasons, reason, priority, blind,
                                                policy_version, status, flag_comment, created_at)
                SELECT %(project)s, m.pair_id, 'label', s.slot, to_jsonb(m.reasons), m.reasons[1], m.priority, m.blind,
                       %(version)s, 'open', '', now()
                FROM moving m CROSS JOIN generate_series(1, %(humans)s) s(slot)
                WHERE NOT EXISTS (SELECT 1 FROM reviews_reviewtask t
                                  WHERE t.pair_id = m.pair_id AND t.pair_id >= %(lo)s AND t.pair_id < %(hi)s
                                    AND t.status <> 'cancelled')
                ON CONFLICT DO NOTHING
                RETURNING pair_id, slot
            )
            SELECT m.reasons, count(*) FROM created c JOIN moving m ON m.pair_id = c.pair_id
            WHERE c.slot = 1
            GROUP BY m.reasons""",
            params,
        )
        # (A data-modifying CTE runs whether or not the query reads it: `cleared` does.)
        rows = cursor.fetchall()
        for names, n in rows:
            for name in names:
                reasons[name] += n
        to_humans = sum(n for _, n in rows)
        cursor.execute(
            f"""
            WITH back AS MATERIALIZED (SELECT d.pair_id FROM ({open_}) d WHERE {_BACK_RANGED}),
            cancelled AS (
                UPDATE reviews_reviewtask t SET status = 'cancelled'
                FROM back b WHERE t.pair_id = b.pair_id AND t.status = 'open'
                RETURNING t.id
            ),
            accepted AS (
                UPDATE annotation_pair p
                SET gold_value = j.value, gold_provenance = 'llm-auto', gold_policy_version = %(version)s,
                    gold_updated_at = now()
                FROM back b
                JOIN reviews_pairsignal s ON s.pair_id = b.pair_id
                JOIN judging_judgment j ON j.id = s.judgment_id
                WHERE p.id = b.pair_id AND NOT (p.gold_provenance = ANY(%(settled)s::text[])) AND NOT s.invalid
                RETURNING p.id
            )
            SELECT (SELECT count(*) FROM accepted), (SELECT count(*) FROM cancelled)""",
            params,
        )
        to_llm, _ = cursor.fetchone()
    return to_humans, to_llm, reasons
