"""The rules a review card shows: the ones the LLM cited (id and text, only when the card
shows the LLM's label) and the ones in scope of the pair, which a reviewer who disagrees
may tick as the rules they applied (stored on their Label)."""

from collections import Counter

from django.db import connection

from annotation.models import Pair, Query, Rule
from annotation.rulebook import in_scope
from judging.intents import INTENTS, NEEDS, intent_tags

from .models import ReviewTask


def card_rules(pair: Pair, llm) -> dict:
    """llm: the card's LLM entry (a dict with applied_rules) or None (blind, not judged)."""
    rules = list(Rule.objects.filter(project_id=pair.project_id).order_by("rule_id"))
    by_id = {rule.rule_id: rule for rule in rules}
    cited = (llm or {}).get("applied_rules") or []
    scope = [r for r in rules if not r.retired and in_scope(r, tags=pair.query.tags, category=pair.product.category)]
    return {
        "applied": [{"id": i, "text": by_id[i].text if i in by_id else ""} for i in cited],
        "in_scope": [{"id": r.rule_id, "text": r.text} for r in scope],
    }


def ticked_rules(project_id: int, ids: list[str]) -> list[str]:
    """The ticked ids that are rules of the project, in id order (anything else is dropped)."""
    wanted = {str(i).strip() for i in ids if str(i).strip()}
    if not wanted:
        return []
    return sorted(Rule.objects.filter(project_id=project_id, rule_id__in=wanted).values_list("rule_id", flat=True))


def intent_counts(project) -> list[tuple[str, int]]:
    """Open label tasks per query intent / required attribute: the queue's tag filters.
    On PostgreSQL one aggregate (the queue page must not read every waiting task)."""
    counts: Counter = Counter()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_INTENT_SQL.format(task=ReviewTask._meta.db_table, pair=Pair._meta.db_table,
                                              query=Query._meta.db_table),  # fmt: skip
                           [project.id, ReviewTask.Kind.LABEL, ReviewTask.Status.OPEN, list(INTENTS), NEEDS + "%"])  # fmt: skip
            counts.update(dict(cursor.fetchall()))
    else:
        waiting = ReviewTask.objects.filter(project=project, kind=ReviewTask.Kind.LABEL, status=ReviewTask.Status.OPEN)
        for tags in waiting.values_list("pair__query__tags", flat=True).iterator(chunk_size=5000):
            counts.update(intent_tags(tags))
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


_INTENT_SQL = """
    SELECT t.tag, COUNT(*) FROM {task} rt
    JOIN {pair} p ON p.id = rt.pair_id
    JOIN {query} q ON q.id = p.query_id
    CROSS JOIN LATERAL jsonb_array_elements_text(
        CASE WHEN jsonb_typeof(q.tags) = 'array' THEN q.tags ELSE '[]'::jsonb END) AS t(tag)
    WHERE rt.project_id = %s AND rt.kind = %s AND rt.status = %s AND (t.tag = ANY(%s) OR t.tag LIKE %s)
    GROUP BY t.tag"""
