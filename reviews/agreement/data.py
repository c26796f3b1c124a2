"""The database side of agreement: every statement here returns aggregated rows (a few
hundred, whatever the number of labels), never one row per label.

"A rater's label of a pair" is always the latest one (highest id: labels are
append-only, a correction is a new row). Humans are raters by `Label.rater`; the LLM is
one rater whatever the model: the latest `source=llm` label of the pair.

On PostgreSQL the statements are plain SQL (DISTINCT ON, FILTER, jsonb): the ORM cannot
group a self-join or expand a JSON list without fetching the rows. Segment keys come from
a fixed table of expressions below, never from a caller's field name.
"""

from dataclasses import dataclass

import numpy as np
from django.db import connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from annotation.models import (
    GoldProvenance,
    Label,
    LabelSource,
    Pair,
    Product,
    Project,
    Query,
)
from judging.models import Judgment

from ..models import ReviewTask

LLM_RATER = "(LLM)"
# Whole-project figures read the incrementally kept tallies (tallies.py); False reads
# every label again (what the tests compare the tallies with).
USE_TALLIES = True
# Gold a person settled: the reference the LLM is measured against.
HUMAN_GOLD = (GoldProvenance.HUMAN, GoldProvenance.ADJUDICATED)

LABEL = Label._meta.db_table
PAIR = Pair._meta.db_table
QUERY = Query._meta.db_table
PRODUCT = Product._meta.db_table
TASK = ReviewTask._meta.db_table
JUDGMENT = Judgment._meta.db_table

# Values are small non-negative integers (the scale's CHECK and foreign key), so the
# latest label of a group and its value come out of one max(): id · 65536 + value.
_LATEST_VALUE = "max(id * 65536 + value) %% 65536"
# A lead's adjudication label is the pair's gold (provenance adjudicated), made after
# seeing the others' labels: it is the reference, not one more rater. The ids come as a
# parameter (adjudication_labels()): an anti-join would hash the whole task table and
# lose the order an index scan of the labels gives.
_NOT_ADJUDICATION = "id <> ALL(%(adjudication)s::bigint[])"
# Descending throughout: an index on (project, source, pair, rater, id) can then be read
# backwards with no sort (see the benchmark's notes).
_HUMAN_LATEST = f"""
    SELECT DISTINCT ON (pair_id, rater) pair_id, rater, value
    FROM {LABEL} l WHERE project_id = %(project)s AND source = 'human' AND {_NOT_ADJUDICATION}
    ORDER BY pair_id DESC, rater DESC, id DESC"""


def _llm_latest(pairs: str, columns: str = f"pair_id, {_LATEST_VALUE} AS value") -> str:
    """The LLM's latest label of each pair in the subquery `pairs`."""
    return f"""
    SELECT {columns} FROM {LABEL}
    WHERE project_id = %(project)s AND source = 'llm' AND pair_id IN ({pairs})
    GROUP BY pair_id"""


_LLM_LABEL_OF_BASE = _llm_latest("SELECT pair_id FROM base", "pair_id, max(id) AS id")

# by → SQL of (pair_id, key) rows for the pairs in the CTE `base`; '' = the pair has no
# key. A pair with several tags is in several segments.
SEGMENTS = {
    "tag": f"""
        SELECT DISTINCT b.pair_id, COALESCE(t.tag, '') AS key
        FROM base b JOIN {PAIR} pr ON pr.id = b.pair_id JOIN {QUERY} q ON q.id = pr.query_id
        LEFT JOIN LATERAL jsonb_array_elements_text(
            CASE WHEN jsonb_typeof(q.tags) = 'array' THEN q.tags ELSE '[]'::jsonb END) AS t(tag) ON true""",
    "category": f"""
        SELECT b.pair_id, pd.category AS key
        FROM base b JOIN {PAIR} pr ON pr.id = b.pair_id JOIN {PRODUCT} pd ON pd.id = pr.product_id""",
    "locale": f"""
        SELECT b.pair_id, q.locale AS key
        FROM base b JOIN {PAIR} pr ON pr.id = b.pair_id JOIN {QUERY} q ON q.id = pr.query_id""",
    # The reason a pair went to humans: its first live label task's.
    "reason": f"""
        SELECT DISTINCT ON (pair_id) pair_id, reason AS key
        FROM {TASK} WHERE project_id = %(project)s AND kind = 'label' AND status <> 'cancelled'
            AND pair_id IN (SELECT pair_id FROM base)
        ORDER BY pair_id, slot, id""",
    "label": f"""
        SELECT b.pair_id, COALESCE(pr.gold_value::text, '') AS key FROM base b JOIN {PAIR} pr ON pr.id = b.pair_id""",
    # The model, prompt version and mode behind the pair's latest LLM label; an imported
    # LLM label has no Judgment and is known by its rater (model) name only.
    "model": f"""
        SELECT l.pair_id, COALESCE(j.model, lb.rater) AS key
        FROM ({_LLM_LABEL_OF_BASE}) l JOIN {LABEL} lb ON lb.id = l.id LEFT JOIN {JUDGMENT} j ON j.label_id = l.id""",
    "prompt": f"""
        SELECT l.pair_id, COALESCE(j.prompt_version, '') AS key
        FROM ({_LLM_LABEL_OF_BASE}) l LEFT JOIN {JUDGMENT} j ON j.label_id = l.id""",
    "mode": f"""
        SELECT l.pair_id, COALESCE(j.mode, '') AS key
        FROM ({_LLM_LABEL_OF_BASE}) l LEFT JOIN {JUDGMENT} j ON j.label_id = l.id""",
}


@dataclass(frozen=True)
class Scale:
    values: np.ndarray  # scale values, least relevant first (Krippendorff's value domain)
    names: list[str]
    gains: list[float]

    @property
    def size(self) -> int:
        return int(self.values.size)

    @property
    def relevant_cut(self) -> int | None:
        """Position of the smallest value with gain > 0 (relevant from there up)."""
        return next((i for i, gain in enumerate(self.gains) if gain > 0), None)

    def positions(self, values) -> np.ndarray:
        """Scale values → positions 0..V-1; -1 (no label) stays -1."""
        values = np.asarray(values, dtype=np.int64)
        lookup = np.full(int(self.values.max()) + 2, -1, dtype=np.int64)
        lookup[self.values] = np.arange(self.size)
        return np.where(values >= 0, lookup[np.clip(values, 0, lookup.size - 1)], -1)


def scale_of(project: Project) -> Scale:
    rows = list(project.levels.order_by("value").values_list("value", "name", "gain"))
    if len(rows) < 2:
        raise ValueError(f"project {project} has no label scale of two or more levels")
    return Scale(np.array([r[0] for r in rows], dtype=np.int64), [r[1] for r in rows], [r[2] for r in rows])


def agreement_supported() -> bool:
    return connection.vendor == "postgresql"


def _require_postgresql() -> None:
    if not agreement_supported():
        raise NotImplementedError("agreement statistics need PostgreSQL (DISTINCT ON, FILTER, jsonb)")


def _fetch(sql: str, params: dict) -> list[tuple]:
    _require_postgresql()
    with transaction.atomic(), connection.cursor() as cursor:
        # Sorting and hashing a million labels in memory instead of on disk. And hash
        # joins: the planner cannot see how many pairs a CTE yields and would probe an
        # index once per pair (190k random reads in the benchmark: 3× slower). LOCAL ends
        # with this transaction.
        cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute("SET LOCAL enable_nestloop = off")
        cursor.execute(sql, params)
        return cursor.fetchall()


def adjudication_labels(project: Project) -> list[int]:
    return list(
        ReviewTask.objects.filter(project=project, kind=ReviewTask.Kind.ADJUDICATION, label__isnull=False).values_list(
            "label_id", flat=True
        )
    )


def _count_columns(scale: Scale) -> tuple[str, dict]:
    columns = ", ".join(f"count(*) FILTER (WHERE value = %(v{i})s) AS h{i}" for i in range(scale.size))
    return columns, {f"v{i}": int(v) for i, v in enumerate(scale.values)}


@dataclass
class PairTable:
    """Pairs grouped by what agreement needs of them. Row g stands for w[g] pairs with
    the LLM label llm[g] (position, -1 = none), h[g, v] human raters at position v, and
    human gold gold[g] (-1 = none)."""

    seg: np.ndarray  # str keys ('' = none); all '' without a segment
    llm: np.ndarray
    h: np.ndarray
    gold: np.ndarray
    w: np.ndarray

    def where(self, mask: np.ndarray) -> "PairTable":
        return PairTable(self.seg[mask], self.llm[mask], self.h[mask], self.gold[mask], self.w[mask])


@dataclass
class HumanPairs:
    """Pairs of human raters on shared pairs: row k = w[k] pairs where rater a[k] gave
    position va[k] and rater b[k] (a < b) gave vb[k]."""

    seg: np.ndarray
    a: np.ndarray
    b: np.ndarray
    va: np.ndarray
    vb: np.ndarray
    w: np.ndarray
    labels_per_rater: dict[str, int]  # latest human labels per rater (whole project)

    def where(self, mask: np.ndarray) -> "HumanPairs":
        return HumanPairs(
            self.seg[mask],
            self.a[mask],
            self.b[mask],
            self.va[mask],
            self.vb[mask],
            self.w[mask],
            self.labels_per_rater,
        )


@dataclass
class Tables:
    pairs: PairTable
    humans: HumanPairs
    # With counts=True: all pairs of the project, and whether any has an LLM label.
    project_pairs: int | None
    any_llm: bool | None


def agreement_tables(project: Project, scale: Scale, *, by: str | None = None, counts: bool = False) -> Tables:
    """Everything the summary (or its slices by `by`) needs, in one statement.

    Only pairs with a human label or human gold are read in full: a pair that only the
    LLM labelled has one rater, so it adds nothing to α or to any comparison. That keeps
    the LLM's (largest) share of the labels out of the hash tables."""
    if by is not None and by not in SEGMENTS:
        raise ValueError(f"unknown segment {by!r}; one of {', '.join(SEGMENTS)}")
    if by is None and USE_TALLIES:
        from .tallies import tallied_tables  # tallies builds on this module

        return tallied_tables(project, scale, counts=counts)
    value_counts, params = _count_columns(scale)
    hs = ", ".join(f"COALESCE(hc.h{i}, 0) AS h{i}" for i in range(scale.size))
    base_hs = ", ".join(f"base.h{i}" for i in range(scale.size))
    seg_cte = f", seg AS ({SEGMENTS[by]})" if by else ""
    seg = "COALESCE(seg.key, '')" if by else "''"
    seg_group = f"{seg}, " if by else ""
    seg_join = "LEFT JOIN seg ON seg.pair_id = {}".format if by else (lambda _: "")
    total = (
        f"(SELECT count(*) FROM {PAIR} WHERE project_id = %(project)s), "
        f"(SELECT count(*) FROM (SELECT 1 FROM {LABEL} WHERE project_id = %(project)s AND source = 'llm' LIMIT 1) x)"
        if counts
        else "-1, -1"
    )
    sql = f"""
        WITH hum AS MATERIALIZED ({_HUMAN_LATEST}),
        hc AS (SELECT pair_id, {value_counts} FROM hum GROUP BY pair_id),
        gold AS (
            SELECT id AS pair_id, gold_value FROM {PAIR}
            WHERE project_id = %(project)s AND gold_provenance = ANY(%(human_gold)s)
        ),
        base AS MATERIALIZED (
            SELECT COALESCE(hc.pair_id, gold.pair_id) AS pair_id, {hs}, COALESCE(gold.gold_value, -1) AS gold
            FROM hc FULL JOIN gold ON gold.pair_id = hc.pair_id
        ),
        llm AS ({_llm_latest("SELECT pair_id FROM base")}){seg_cte}
        SELECT 'sig', {seg}, '', '', ARRAY[COALESCE(llm.value, -1), {base_hs}, base.gold, count(*)]::bigint[]
        FROM base LEFT JOIN llm ON llm.pair_id = base.pair_id {seg_join("base.pair_id")}
        GROUP BY {seg_group}COALESCE(llm.value, -1), {base_hs}, base.gold
        UNION ALL
        SELECT 'pair', {seg}, x.rater, y.rater, ARRAY[x.value, y.value, count(*)]::bigint[]
        FROM hum x JOIN hum y ON y.pair_id = x.pair_id AND x.rater < y.rater {seg_join("x.pair_id")}
        GROUP BY {seg_group}x.rater, y.rater, x.value, y.value
        UNION ALL
        SELECT 'rater', '', rater, '', ARRAY[count(*)]::bigint[] FROM hum GROUP BY rater
        UNION ALL
        SELECT 'total', '', '', '', ARRAY[{total}]::bigint[]"""
    params.update(
        project=project.id, human_gold=[str(p) for p in HUMAN_GOLD], adjudication=adjudication_labels(project)
    )
    rows = _fetch(sql, params)
    sig = [r for r in rows if r[0] == "sig"]
    numbers = np.array([r[4] for r in sig], dtype=np.int64).reshape(len(sig), scale.size + 3)
    pairs = PairTable(
        seg=np.array([r[1] for r in sig], dtype=object),
        llm=scale.positions(numbers[:, 0]),
        h=numbers[:, 1 : 1 + scale.size],
        gold=scale.positions(numbers[:, 1 + scale.size]),
        w=numbers[:, -1],
    )
    hh = [r for r in rows if r[0] == "pair"]
    numbers = np.array([r[4] for r in hh], dtype=np.int64).reshape(len(hh), 3)
    humans = HumanPairs(
        seg=np.array([r[1] for r in hh], dtype=object),
        a=np.array([r[2] for r in hh], dtype=object),
        b=np.array([r[3] for r in hh], dtype=object),
        va=scale.positions(numbers[:, 0]),
        vb=scale.positions(numbers[:, 1]),
        w=numbers[:, 2],
        labels_per_rater={r[2]: int(r[4][0]) for r in rows if r[0] == "rater"},
    )
    project_pairs, any_llm = next(r[4] for r in rows if r[0] == "total")
    return Tables(pairs, humans, int(project_pairs) if counts else None, bool(any_llm) if counts else None)


# --- annotators: vs the LLM, vs the other humans, by position in their day ---------------


@dataclass
class AnnotatorTable:
    """Row g = w[g] latest labels by `rater[g]`, at position bucket[g] of their day, of
    value own[g], on pairs with the LLM label llm[g], human counts h[g] (the rater
    included) and adjudicated gold adj[g] (-1 = none)."""

    rater: np.ndarray
    bucket: np.ndarray
    own: np.ndarray
    llm: np.ndarray
    h: np.ndarray
    adj: np.ndarray
    w: np.ndarray


def annotator_table(project: Project, scale: Scale, *, bucket_size: int, buckets: int) -> AnnotatorTable:
    from . import tallies  # tallies builds on this module

    if USE_TALLIES and (bucket_size, buckets) == (tallies.BUCKET_SIZE, tallies.BUCKETS):
        return tallies.tallied_annotator_table(project, scale)
    counts, params = _count_columns(scale)
    hs = ", ".join(f"hc.h{i}" for i in range(scale.size))
    # Position counts every label the rater gave that day (corrections too: they were
    # work done), but only the latest label per pair is compared.
    sql = f"""
        WITH h AS (
            SELECT id, pair_id, rater, value,
                   row_number() OVER (PARTITION BY rater, (created_at AT TIME ZONE %(tz)s)::date ORDER BY created_at, id) AS pos,
                   row_number() OVER (PARTITION BY pair_id, rater ORDER BY id DESC) AS newest
            FROM {LABEL} l WHERE project_id = %(project)s AND source = 'human' AND {_NOT_ADJUDICATION}
        ),
        hl AS MATERIALIZED (SELECT * FROM h WHERE newest = 1),
        hc AS MATERIALIZED (SELECT pair_id, {counts} FROM hl GROUP BY pair_id),
        llm AS ({_llm_latest("SELECT pair_id FROM hc")}),
        adj AS (SELECT id AS pair_id, gold_value FROM {PAIR} WHERE project_id = %(project)s AND gold_provenance = 'adjudicated')
        SELECT hl.rater, LEAST((hl.pos - 1) / %(size)s, %(last)s) AS bucket, hl.value, COALESCE(llm.value, -1), {hs},
               COALESCE(adj.gold_value, -1), count(*)
        FROM hl JOIN hc ON hc.pair_id = hl.pair_id
        LEFT JOIN adj ON adj.pair_id = hl.pair_id LEFT JOIN llm ON llm.pair_id = hl.pair_id
        GROUP BY {", ".join(str(i) for i in range(1, scale.size + 6))}"""
    params.update(
        project=project.id,
        tz=timezone.get_current_timezone_name(),
        size=bucket_size,
        last=buckets - 1,
        adjudication=adjudication_labels(project),
    )
    rows = _fetch(sql, params)
    numbers = np.array([r[1:] for r in rows], dtype=np.int64).reshape(len(rows), scale.size + 5)
    return AnnotatorTable(
        rater=np.array([r[0] for r in rows], dtype=object),
        bucket=numbers[:, 0],
        own=scale.positions(numbers[:, 1]),
        llm=scale.positions(numbers[:, 2]),
        h=numbers[:, 3 : 3 + scale.size],
        adj=scale.positions(numbers[:, 3 + scale.size]),
        w=numbers[:, -1],
    )


# --- the raw building block: a reliability matrix -----------------------------------------


@dataclass
class ReliabilityMatrix:
    """raters × pairs, NaN where a rater did not label a pair (krippendorff's layout)."""

    raters: list[str]
    pair_ids: np.ndarray
    data: np.ndarray

    def value_counts(self, domain: np.ndarray, chunk: int = 100_000) -> np.ndarray:
        """pairs × V: how many raters gave each value to each pair."""
        parts = [
            (self.data[:, i : i + chunk].T[..., None] == domain[None, None, :]).sum(axis=1)
            for i in range(0, self.data.shape[1], chunk)
        ]
        return np.concatenate(parts) if parts else np.zeros((0, domain.size), dtype=np.int64)


def reliability_matrix(project: Project, *, include_llm: bool = True, pair_ids=None) -> ReliabilityMatrix:
    """The latest label of every (pair, rater), the LLM as one rater named LLM_RATER.

    The database picks the latest labels (MAX(id) per group); numpy places them. Memory is
    raters × pairs floats: for dashboards use the aggregated tables above instead."""
    labels = Label.objects.filter(project=project)
    if pair_ids is not None:
        labels = labels.filter(pair_id__in=list(pair_ids))
    humans = labels.filter(source=LabelSource.HUMAN).exclude(
        id__in=ReviewTask.objects.filter(kind=ReviewTask.Kind.ADJUDICATION, label__isnull=False).values("label_id")
    )
    latest = Q(id__in=humans.values("pair_id", "rater").annotate(last=Max("id")).values("last"))
    if include_llm:
        latest |= Q(
            id__in=labels.filter(source=LabelSource.LLM).values("pair_id").annotate(last=Max("id")).values("last")
        )
    rows = list(Label.objects.filter(latest).values_list("pair_id", "source", "rater", "value"))
    if not rows:
        return ReliabilityMatrix([], np.zeros(0, dtype=np.int64), np.zeros((0, 0)))
    columns = np.array(rows, dtype=object).T
    raters = np.where(columns[1] == LabelSource.LLM, LLM_RATER, columns[2]).astype(str)
    names, rater_index = np.unique(raters, return_inverse=True)
    pairs, pair_index = np.unique(columns[0].astype(np.int64), return_inverse=True)
    data = np.full((names.size, pairs.size), np.nan)
    data[rater_index, pair_index] = columns[3].astype(float)
    return ReliabilityMatrix([str(n) for n in names], pairs, data)
