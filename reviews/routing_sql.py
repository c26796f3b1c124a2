"""`routing.decide` in SQL (PostgreSQL): the same decision for many pairs in one query,
so a what-if preview or a reroute batch at a million pairs never loops in Python. It
reads each pair's newest judgment from reviews_pairsignal (models.PairSignal, kept in
step by triggers), not by sorting the judgments.

`routing.decide` stays the reference; tests/reviews/test_routing_sql.py compares the two
on varied signals. Per-query signals (style-sensitive words, tag and locale segments) are
decided in Python with the reference's own helpers, once per query (thousands, not a
million), and handed to SQL as query-id arrays: Python's `\\w` and `lower()` differ from
PostgreSQL's in places, and the decision must not.
"""

from dataclasses import dataclass

from django.db import connection

from annotation.models import Project, Query

from .models import Reason
from .routing import REASON_WEIGHT, PolicyView, Signals, is_style_sensitive

# decide() sorts reasons by weight; the weights are distinct, so the order is fixed.
REASON_ORDER = sorted(
    (
        Reason.LLM_INVALID,
        Reason.SAMPLE_DISAGREEMENT,
        Reason.LOW_CONFIDENCE,
        Reason.SEGMENT,
        Reason.STYLE_SENSITIVE,
        Reason.AUDIT,
    ),
    key=lambda r: REASON_WEIGHT[r],
    reverse=True,
)
# The decision's boolean column for each reason.
REASON_COLUMN = {
    Reason.LLM_INVALID: "r_invalid",
    Reason.SAMPLE_DISAGREEMENT: "r_disagree",
    Reason.LOW_CONFIDENCE: "r_low",
    Reason.SEGMENT: "r_segment",
    Reason.STYLE_SENSITIVE: "r_style",
    Reason.AUDIT: "r_audit",
}

# audit_draw(): the first 8 bytes of sha256("audit:<pair>:<version>") as an unsigned
# integer over 2**64. The integer goes to float8 once (correctly rounded, as Python's
# int / 2**64 is) and the division by a power of two is exact: the same float as Python.
_AUDIT_DRAW = """(
    (CASE WHEN b.v < 0 THEN b.v::numeric + 18446744073709551616 ELSE b.v::numeric END)::float8
    / 18446744073709551616::float8
) FROM (SELECT ('x' || encode(substring(sha256(convert_to('audit:' || {pair} || ':' || %(version)s, 'UTF8'))
                                        FROM 1 FOR 8), 'hex'))::bit(64)::bigint AS v) b"""


@dataclass(frozen=True)
class QuerySignals:
    """The query ids whose query is style-sensitive / in a routed tag or locale segment."""

    style: list[int]
    segment: list[int]


def query_signals(project: Project | int, view: PolicyView) -> QuerySignals:
    style: list[int] = []
    segment: list[int] = []
    by_query = {d for d, _ in view.route_segments if d in ("tag", "locale")}
    if not view.route_style_sensitive and not by_query:
        return QuerySignals(style, segment)
    queries = Query.objects.filter(project=project)
    if not view.style_keywords and not by_query:
        # Only the tag can make a query style-sensitive: read the queries that have it
        # (`?` matches an array's strings, as `in` does); the check below stays decide's.
        queries = queries.filter(tags__has_key="style-sensitive")
    for qid, text, tags, locale in queries.values_list("id", "text", "tags", "locale"):
        signals = Signals(pair_id=0, query_text=text, query_tags=tuple(tags or ()))
        if view.route_style_sensitive and is_style_sensitive(signals, view):
            style.append(qid)
        if by_query:
            # The same keys as route._segments: a query without string tags is in tag "".
            keys = {("tag", t) for t in (tags or ()) if isinstance(t, str)} or {("tag", "")}
            keys.add(("locale", locale or ""))
            if not view.route_segments.isdisjoint(keys):
                segment.append(qid)
    return QuerySignals(style, segment)


def decisions_sql(
    project: Project | int,
    view: PolicyView,
    pairs_sql: str | None,
    queries: QuerySignals | None = None,
    *,
    ranged: bool = False,
    signals_where: str = "",
) -> tuple[str, dict]:
    """A SELECT of decide()'s decision for each pair of `pairs_sql` (a subquery of pair
    ids, which may use %(…)s parameters added to the returned dict by the caller) that
    has a judgment, from its newest one (PairSignal). Columns: pair_id, invalid, to_humans, the
    reason flags r_* (REASON_COLUMN), reasons (text[], strongest first), blind, priority.
    `queries` are query_signals(project, view), when the caller has them already.
    `ranged`: the pairs lie in [%(lo)s, %(hi)s), said to the signals' scan as well, so a
    batch reads its range of the primary key instead of every signal of the table.
    `signals_where`: a condition on the signals themselves (alias `l`), instead of or
    beside `pairs_sql`, e.g. `l.auto_accepted`: one scan, no join."""
    project_id = project if isinstance(project, int) else project.id
    queries = queries or query_signals(project_id, view)
    segments = {dim: [k for d, k in view.route_segments if d == dim] for dim in ("category", "model", "prompt", "mode")}
    params: dict = {
        "min_confidence": float(view.min_confidence),
        "audit_rate": float(view.audit_rate),
        "version": int(view.version),
        "style_q": queries.style,
        "segment_q": queries.segment,
        **{f"segment_{dim}": keys for dim, keys in segments.items()},
    }
    # Terms a policy switches off are left out of the SQL, not computed and ignored.
    disagree = "j.disagree" if view.route_sample_disagreement else "false"
    style = "j.query_id = ANY(%(style_q)s::bigint[])" if queries.style else "false"
    segment_terms = ["j.query_id = ANY(%(segment_q)s::bigint[])"] if queries.segment else []
    for dim, column in (
        ("category", "j.category"),
        ("model", "j.model"),
        ("prompt", "j.prompt_version"),
        ("mode", "j.mode"),
    ):
        if segments[dim]:
            segment_terms.append(f"COALESCE({column}, '') = ANY(%(segment_{dim})s::text[])")
    segment = " OR ".join(segment_terms) or "false"
    audit = f"(SELECT {_AUDIT_DRAW.format(pair='s.pair_id')}) < %(audit_rate)s" if view.audit_rate > 0 else "false"
    route_invalid = "true" if view.route_invalid else "false"
    conditions = [f"l.pair_id IN ({pairs_sql})"] if pairs_sql else []
    if signals_where:
        conditions.append(f"({signals_where})")
    if ranged:
        conditions.append("l.pair_id >= %(lo)s AND l.pair_id < %(hi)s")
    if not conditions:
        raise ValueError("decisions_sql needs pairs_sql or signals_where")
    where = " AND ".join(conditions)
    reasons = ", ".join(f"CASE WHEN {REASON_COLUMN[r]} THEN '{r.value}' END" for r in REASON_ORDER)
    weights = " ".join(f"WHEN {REASON_COLUMN[r]} THEN {REASON_WEIGHT[r]!r}::float8" for r in REASON_ORDER)
    sql = f"""
    SELECT d.*,
           (r_invalid OR r_disagree OR r_low OR r_segment OR r_style OR r_audit) AS to_humans,
           array_remove(ARRAY[{reasons}]::text[], NULL) AS reasons,
           r_audit AS blind,
           COALESCE(CASE {weights} END, 0) * (1 + greatest(d.traffic, 0))::float8 AS priority
    FROM (
        SELECT s.*,
               (NOT s.invalid AND NOT (r_disagree OR r_low OR r_segment OR r_style) AND {audit}) AS r_audit
        FROM (
            SELECT j.pair_id, j.invalid, j.traffic,
                   (j.invalid AND {route_invalid}) AS r_invalid,
                   (NOT j.invalid AND j.confidence IS NOT NULL AND j.confidence < %(min_confidence)s) AS r_low,
                   (NOT j.invalid AND {disagree}) AS r_disagree,
                   (NOT j.invalid AND ({style})) AS r_style,
                   (NOT j.invalid AND ({segment})) AS r_segment
            FROM (
                -- LEFT JOINs on primary keys: PostgreSQL leaves out the one whose columns a
                -- caller does not read (the preview never reads traffic).
                SELECT l.pair_id, l.invalid, l.confidence, l.disagree, l.model, l.prompt_version, l.mode,
                       l.query_id, q.traffic, pr.category
                FROM reviews_pairsignal l
                LEFT JOIN annotation_query q ON q.id = l.query_id
                LEFT JOIN annotation_product pr ON pr.id = l.product_id
                WHERE {where}
            ) j
        ) s
    ) d"""
    return sql, params


def audit_draws(pair_ids: list[int], version: int) -> dict[int, float]:
    """audit_draw() computed by PostgreSQL, for the tests that compare the two."""
    sql = f"SELECT j.pair_id, (SELECT {_AUDIT_DRAW.format(pair='j.pair_id')}) FROM unnest(%(ids)s::bigint[]) j(pair_id)"
    with connection.cursor() as cursor:
        cursor.execute(sql, {"ids": pair_ids, "version": version})
        return dict(cursor.fetchall())
