"""Agreement tallies kept up to date by a delta pass (issue 16): the point figures of
the summary, human vs human, the weekly series and the label distribution read a few
hundred summed rows instead of re-reading every label.

Each pair contributes rows (kind, key, n) to what the figures count:
- "sig": [llm, gold, human values…] → 1 for a pair with a human label or human gold
  (the LLM's and each human rater's latest label, gold settled by a person; -1 = none);
- "pair": [rater a, rater b, value a, value b] → 1 per pair of human raters (a < b);
- "rater": [rater] → 1 per latest human label;
- "week": [week, matched] → latest human labels that have an LLM label to compare with;
- "annot": [rater, bucket, own, llm, adjudicated gold, human values…] → 1 per latest
  human label (bucket: its position in the rater's day, BUCKET_SIZE labels a bucket);
- "dist": [source, value] → the LLM's latest label, each human latest label, gold.
`reviews_agreement_part` holds each pair's rows, `reviews_agreement_total` their sums per
project. Triggers (migration 0011_agreement_tallies) record the pairs a write touches in
`reviews_agreement_dirty`, in the writer's transaction. `refresh_tallies` consumes them:
it subtracts those pairs' old rows from the totals, recomputes their rows from the labels
and adds them back. So a relabel moves the pair's old contribution out, a delete takes it
away, and the pass costs what the touched pairs cost, not what the project holds.

Why it is exact under concurrent writes: the pass deletes the dirty rows it can see
*before* it reads labels (READ COMMITTED: every statement sees what was committed when it
started). A write committed after that delete but before the read is in the figures and
its dirty rows stay for the next pass (recomputing a pair is idempotent); a write not yet
committed leaves its dirty rows behind. An advisory lock per project runs one pass at a
time. The first pass of a project (or after its tallies were dropped) builds everything.
A deleted project's rows are deleted with it, by a trigger (migration 0016).
"""

from typing import Any

import numpy as np
from django.db import connection, transaction
from django.utils import timezone

from annotation.models import Project

from .data import (
    _LATEST_VALUE,
    HUMAN_GOLD,
    LABEL,
    PAIR,
    AnnotatorTable,
    HumanPairs,
    PairTable,
    Scale,
    Tables,
    _require_postgresql,
    adjudication_labels,
)

DIRTY = "reviews_agreement_dirty"
PART = "reviews_agreement_part"
TOTAL = "reviews_agreement_total"
BUILT = "reviews_agreement_built"
# First key of the advisory lock; the project id is the second. Migration 0016's trigger
# (a project's rows go with it) takes the same lock: change both together.
LOCK_CLASS = 16_016

_DAY = "(created_at AT TIME ZONE %(tz)s)::date"
# The annotators' default position buckets (labels 1–50, 51–100, …, 451 on) are tallied;
# other bucket options read every label (annotator_table).
BUCKET_SIZE, BUCKETS = 50, 10

# The rows every pair in the temp table agreement_d contributes (same semantics as the
# full statements in data.py and timeline.py: latest label per pair and rater, the
# adjudication label excluded, the LLM as one rater).
_CONTRIBUTIONS = f"""
    WITH hum AS MATERIALIZED (
        SELECT DISTINCT ON (pair_id, rater) pair_id, rater, value, created_at, id
        FROM {LABEL} WHERE project_id = %(project)s AND source = 'human'
            AND pair_id = ANY(%(pairs)s::bigint[]) AND id <> ALL(%(adjudication)s::bigint[])
        ORDER BY pair_id, rater, id DESC),
    llm AS MATERIALIZED (
        SELECT pair_id, {_LATEST_VALUE} AS value FROM {LABEL}
        WHERE project_id = %(project)s AND source = 'llm' AND pair_id = ANY(%(pairs)s::bigint[])
        GROUP BY pair_id),
    gold AS MATERIALIZED (
        SELECT id AS pair_id, gold_value, gold_provenance FROM {PAIR}
        WHERE project_id = %(project)s AND id = ANY(%(pairs)s::bigint[]) AND gold_value IS NOT NULL),
    hv AS (SELECT pair_id, array_agg(value::text ORDER BY value) AS vals FROM hum GROUP BY pair_id),
    hg AS (SELECT pair_id, gold_value FROM gold WHERE gold_provenance = ANY(%(human_gold)s)),
    -- Each latest human label's position in its rater's day (every label of that day
    -- counts, corrections too, adjudications not), for the annotators' fatigue buckets.
    days AS (SELECT DISTINCT rater, {_DAY} AS day FROM hum),
    pos AS (
        SELECT l.id, row_number() OVER (PARTITION BY l.rater, days.day ORDER BY l.created_at, l.id) AS pos
        FROM days JOIN {LABEL} l ON l.project_id = %(project)s AND l.source = 'human' AND l.rater = days.rater
            AND l.created_at >= days.day AT TIME ZONE %(tz)s AND l.created_at < (days.day + 1) AT TIME ZONE %(tz)s
        WHERE l.id <> ALL(%(adjudication)s::bigint[]))
    SELECT COALESCE(hv.pair_id, hg.pair_id), 'sig',
           ARRAY[COALESCE(llm.value, -1)::text, COALESCE(hg.gold_value, -1)::text] || COALESCE(hv.vals, '{{}}'), 1
    FROM hv FULL JOIN hg ON hg.pair_id = hv.pair_id LEFT JOIN llm ON llm.pair_id = COALESCE(hv.pair_id, hg.pair_id)
    UNION ALL
    SELECT x.pair_id, 'pair', ARRAY[x.rater, y.rater, x.value::text, y.value::text], 1
    FROM hum x JOIN hum y ON y.pair_id = x.pair_id AND x.rater < y.rater
    UNION ALL
    SELECT pair_id, 'rater', ARRAY[rater], 1 FROM hum
    UNION ALL
    SELECT hum.pair_id, 'week',
           ARRAY[date_trunc('week', hum.created_at AT TIME ZONE %(tz)s)::date::text, (hum.value = llm.value)::int::text], 1
    FROM hum JOIN llm ON llm.pair_id = hum.pair_id
    UNION ALL
    SELECT hum.pair_id, 'annot',
           ARRAY[hum.rater, LEAST((pos.pos - 1) / {BUCKET_SIZE}, {BUCKETS - 1})::text, hum.value::text,
                 COALESCE(llm.value, -1)::text, COALESCE(adj.gold_value, -1)::text] || hv.vals, 1
    FROM hum JOIN pos ON pos.id = hum.id JOIN hv ON hv.pair_id = hum.pair_id
    LEFT JOIN llm ON llm.pair_id = hum.pair_id
    LEFT JOIN gold adj ON adj.pair_id = hum.pair_id AND adj.gold_provenance = 'adjudicated'
    UNION ALL
    SELECT pair_id, 'dist', ARRAY['llm', value::text], 1 FROM llm
    UNION ALL
    SELECT pair_id, 'dist', ARRAY['human', value::text], 1 FROM hum
    UNION ALL
    SELECT pair_id, 'dist', ARRAY['gold:' || gold_provenance, gold_value::text], 1 FROM gold"""

_LATER_SAME_DAY = f"""
    INSERT INTO agreement_d
    SELECT DISTINCT l.pair_id FROM (
        SELECT rater, min(created_at) AS since FROM agreement_dr WHERE rater IS NOT NULL GROUP BY rater, {_DAY}
    ) r JOIN {LABEL} l ON l.project_id = %(project)s AND l.source = 'human' AND l.rater = r.rater
        AND l.created_at >= r.since
        AND l.created_at < (date_trunc('day', r.since AT TIME ZONE %(tz)s) + interval '1 day') AT TIME ZONE %(tz)s
    ON CONFLICT DO NOTHING"""

_ADD = f"""
    INSERT INTO {TOTAL} AS t (project_id, kind, key, n)
    SELECT %(project)s, kind, key, {{sign}} sum(n) FROM {PART}
    WHERE project_id = %(project)s AND pair_id = ANY(%(pairs)s::bigint[])
    GROUP BY kind, key
    ON CONFLICT (project_id, kind, key) DO UPDATE SET n = t.n + EXCLUDED.n"""


def refresh_tallies(project: Project) -> int:
    """Bring the project's tallies up to date with its committed labels and gold; returns
    how many pairs were recomputed (all of them on the first pass)."""
    _require_postgresql()
    params: dict[str, Any] = {
        "project": project.id,
        "born": project.created_at,
        "adjudication": adjudication_labels(project),
        "human_gold": [str(p) for p in HUMAN_GOLD],
        "tz": timezone.get_current_timezone_name(),
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_CLASS, project.id])
        # Deleted while this pass waited for the lock: its rows went with it (the trigger
        # of migration 0016), and none are written again.
        cursor.execute(f"SELECT 1 FROM {Project._meta.db_table} WHERE id = %(project)s", params)
        if cursor.fetchone() is None:
            return 0
        # ON COMMIT DROP does not fire inside an outer transaction (a savepoint here).
        cursor.execute("DROP TABLE IF EXISTS pg_temp.agreement_d")
        cursor.execute("CREATE TEMP TABLE agreement_d (pair_id bigint PRIMARY KEY) ON COMMIT DROP")
        cursor.execute(f"SELECT born FROM {BUILT} WHERE project_id = %(project)s", params)
        row = cursor.fetchone()
        building = row is None or row[0] != project.created_at
        if building:
            # A first build (or a recreated project under a reused id): every pair.
            for table in (PART, TOTAL, BUILT):
                cursor.execute(f"DELETE FROM {table} WHERE project_id = %(project)s", params)
            cursor.execute(f"DELETE FROM {DIRTY} WHERE project_id = %(project)s", params)
            cursor.execute(f"INSERT INTO agreement_d SELECT id FROM {PAIR} WHERE project_id = %(project)s", params)
            touched = cursor.rowcount
            cursor.execute(f"INSERT INTO {BUILT} VALUES (%(project)s, %(born)s, now())", params)
            cursor.execute("SET LOCAL work_mem = '64MB'")
        else:
            cursor.execute("DROP TABLE IF EXISTS pg_temp.agreement_dr")
            cursor.execute(
                "CREATE TEMP TABLE agreement_dr (pair_id bigint, rater text, created_at timestamptz) ON COMMIT DROP"
            )
            cursor.execute(
                f"WITH done AS (DELETE FROM {DIRTY} WHERE project_id = %(project)s "
                "RETURNING pair_id, rater, created_at) INSERT INTO agreement_dr SELECT * FROM done",
                params,
            )
            cursor.execute("INSERT INTO agreement_d SELECT DISTINCT pair_id FROM agreement_dr")
            touched = cursor.rowcount
            # A human label written or removed moves the day positions of the rater's
            # later labels that day (annotators' fatigue buckets): their pairs too. An
            # append (the usual write) is the last of its day and adds nothing.
            cursor.execute(_LATER_SAME_DAY, params)
            touched += cursor.rowcount
            # A delta touches few pairs: index lookups, not scans of every label or part
            # row of the project (the planner cannot see how few).
            cursor.execute("SET LOCAL enable_seqscan = off")
        if touched == 0:
            return 0
        cursor.execute("ANALYZE agreement_d")
        # The pairs as an array: `= ANY(array)` reads the indexes on pair_id for each,
        # where a join with the temp table would scan the project's rows.
        cursor.execute("SELECT array_agg(pair_id) FROM agreement_d")
        params["pairs"] = cursor.fetchone()[0]
        cursor.execute(_ADD.format(sign="-"), params)
        cursor.execute(
            f"DELETE FROM {PART} WHERE project_id = %(project)s AND pair_id = ANY(%(pairs)s::bigint[])",
            params,
        )
        cursor.execute(
            f"INSERT INTO {PART} (project_id, pair_id, kind, key, n) SELECT %(project)s, c.* FROM ({_CONTRIBUTIONS}) c",
            params,
        )
        cursor.execute(_ADD.format(sign=""), params)
        cursor.execute(f"DELETE FROM {TOTAL} WHERE project_id = %(project)s AND n = 0", params)
        if building:
            # Statistics that know the project's rows: a later delta then looks its
            # pairs up by (project, pair) instead of scanning the project's rows.
            cursor.execute(f"ANALYZE {PART}")
        return touched


def tallies(project: Project, *kinds: str) -> list[tuple[str, list[str], int]]:
    """(kind, key, n) rows of the project's totals, after a delta pass."""
    refresh_tallies(project)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT kind, key, n FROM {TOTAL} WHERE project_id = %s AND kind = ANY(%s)", [project.id, list(kinds)]
        )
        return [(kind, list(key), int(n)) for kind, key, n in cursor.fetchall()]


def _positions(scale: Scale, values: list[int]) -> np.ndarray:
    return scale.positions(np.array(values, dtype=np.int64)) if values else np.zeros(0, dtype=np.int64)


def tallied_tables(project: Project, scale: Scale, *, counts: bool = False) -> Tables:
    """What data.agreement_tables(project, scale) returns, from the tallies."""
    rows = tallies(project, "sig", "pair", "rater")
    # Group the pairs by (LLM, human counts on this scale, gold), as the full statement
    # does: out-of-scale human values count nowhere, so two keys can fall together.
    groups: dict[tuple, int] = {}
    in_scale = {int(v): i for i, v in enumerate(scale.values)}
    for kind, key, n in rows:
        if kind != "sig":
            continue
        h = [0] * scale.size
        for value in key[2:]:
            if int(value) in in_scale:
                h[in_scale[int(value)]] += 1
        group = (int(key[0]), *h, int(key[1]))
        groups[group] = groups.get(group, 0) + n
    numbers = np.array([(*g, w) for g, w in groups.items()], dtype=np.int64).reshape(len(groups), scale.size + 3)
    pairs = PairTable(
        seg=np.full(len(groups), "", dtype=object),
        llm=_positions(scale, numbers[:, 0].tolist()),
        h=numbers[:, 1 : 1 + scale.size],
        gold=_positions(scale, numbers[:, 1 + scale.size].tolist()),
        w=numbers[:, -1],
    )
    hh = [(key, n) for kind, key, n in rows if kind == "pair"]
    humans = HumanPairs(
        seg=np.full(len(hh), "", dtype=object),
        a=np.array([key[0] for key, _ in hh], dtype=object),
        b=np.array([key[1] for key, _ in hh], dtype=object),
        va=_positions(scale, [int(key[2]) for key, _ in hh]),
        vb=_positions(scale, [int(key[3]) for key, _ in hh]),
        w=np.array([n for _, n in hh], dtype=np.int64),
        labels_per_rater={key[0]: n for kind, key, n in rows if kind == "rater"},
    )
    if not counts:
        return Tables(pairs, humans, None, None)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT count(*) FROM {PAIR} WHERE project_id = %(project)s), "
            f"EXISTS (SELECT 1 FROM {LABEL} WHERE project_id = %(project)s AND source = 'llm')",
            {"project": project.id},
        )
        project_pairs, any_llm = cursor.fetchone()
    return Tables(pairs, humans, int(project_pairs), bool(any_llm))


def tallied_annotator_table(project: Project, scale: Scale) -> AnnotatorTable:
    """What data.annotator_table(project, scale, bucket_size=BUCKET_SIZE, buckets=BUCKETS)
    returns, from the tallies."""
    in_scale = {int(v): i for i, v in enumerate(scale.values)}
    groups: dict[tuple, int] = {}
    for _, key, n in tallies(project, "annot"):
        h = [0] * scale.size
        for value in key[5:]:
            if int(value) in in_scale:
                h[in_scale[int(value)]] += 1
        group = (key[0], int(key[1]), int(key[2]), int(key[3]), *h, int(key[4]))
        groups[group] = groups.get(group, 0) + n
    numbers = np.array([(*g[1:], w) for g, w in groups.items()], dtype=np.int64).reshape(len(groups), scale.size + 5)
    return AnnotatorTable(
        rater=np.array([g[0] for g in groups], dtype=object),
        bucket=numbers[:, 0],
        own=_positions(scale, numbers[:, 1].tolist()),
        llm=_positions(scale, numbers[:, 2].tolist()),
        h=numbers[:, 3 : 3 + scale.size],
        adj=_positions(scale, numbers[:, 3 + scale.size].tolist()),
        w=numbers[:, -1],
    )
