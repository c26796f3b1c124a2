"""RAIR's query intents and required attributes, as query tags.

The guideline step tags each query with the intent types RAIR's long-tail subset uses
(QUERY_TAGS holds them) and with the attributes it requires, as `needs:<attribute>` tags
(requirements of importance >= REQUIRED_IMPORTANCE, not negated). Query tags are what
routing segments, agreement segments and the review queue's filter key on, so intents
and required attributes are segments with no machinery of their own.
No Django here: the offline judge uses text_intents.
"""

import re

from .contracts import GuidelineDraft

INTENTS = ("multi-attribute", "negation", "alternatives", "reasoning-dependent", "knowledge-dependent")
REQUIRED_IMPORTANCE = 0.7
NEEDS = "needs:"

_ALTERNATIVES = re.compile(r"\s(or|oder|ou|o)\s|\w/\w", re.I)
# Queries whose requirement must be inferred: an occasion, a recipient, a purpose.
_REASONING = re.compile(
    r"\b(gift|geschenk|for (a|my|the) \w+|für (den|die|das|einen|eine) \w+|suitable|ideal|outfit|passend)\b", re.I
)


_NEGATED_LIST = re.compile(r"\b(not|no|without|ohne|kein\w*|nicht|sans|pas)\b[^,;]*\s(or|oder|ou|o)\s", re.I)


def text_intents(text: str) -> list[str]:
    """Intents a heuristic can read off the text (alternatives, reasoning-dependent).
    "not black or brown" lists what to exclude: a negation, not alternatives."""
    found = []
    if _ALTERNATIVES.search(f" {text} ") and not _NEGATED_LIST.search(f" {text} "):
        found.append("alternatives")
    if _REASONING.search(text):
        found.append("reasoning-dependent")
    return found


def required_attribute_tags(draft: GuidelineDraft) -> list[str]:
    return sorted(
        {
            NEEDS + r.attribute.strip().lower()
            for r in draft.requirements
            if r.importance >= REQUIRED_IMPORTANCE and not r.negated and r.attribute.strip()
        }
    )


def query_tags(draft: GuidelineDraft) -> list[str]:
    """What the guideline step merges into the query's tags."""
    return [*draft.tags, *required_attribute_tags(draft)]


def intent_tags(tags) -> list[str]:
    """The intents and required attributes among a query's tags (the queue's filters)."""
    return [t for t in tags or [] if t in INTENTS or str(t).startswith(NEEDS)]
