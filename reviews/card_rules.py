"""The rules a review card shows: the ones the LLM cited (id and text, only when the card
shows the LLM's label) and the ones in scope of the pair, which a reviewer who disagrees
may tick as the rules they applied (stored on their Label)."""

from collections import Counter

from annotation.models import Pair, Rule
from annotation.rulebook import in_scope
from judging.intents import intent_tags

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
    """Open label tasks per query intent / required attribute: the queue's tag filters."""
    counts: Counter = Counter()
    waiting = ReviewTask.objects.filter(project=project, kind=ReviewTask.Kind.LABEL, status=ReviewTask.Status.OPEN)
    for tags in waiting.values_list("pair__query__tags", flat=True).iterator(chunk_size=5000):
        counts.update(intent_tags(tags))
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))
