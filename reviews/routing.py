"""The routing decision: a pure function of a pair's signals and the policy.

Kept free of the database so the whole table of cases is tested directly
(tests/reviews/test_routing.py) and a what-if preview can run it over many pairs.
"""

import hashlib
import re
from dataclasses import dataclass

from .models import Reason

# The segment dimensions a policy can route by: what a pair's signals know before any
# human has seen it (not the routing reason or the gold label).
SEGMENT_DIMENSIONS = ("tag", "category", "locale", "model", "prompt", "mode")

# Priority weight per reason: reviewers see invalid and disagreeing pairs first.
REASON_WEIGHT = {
    Reason.LLM_INVALID: 5.0,
    Reason.SAMPLE_DISAGREEMENT: 4.0,
    Reason.LOW_CONFIDENCE: 3.0,
    Reason.SEGMENT: 2.5,
    Reason.STYLE_SENSITIVE: 2.0,
    Reason.AUDIT: 1.0,
}


@dataclass(frozen=True)
class PolicyView:
    """The policy fields decide() reads (a RoutingPolicy or a what-if draft)."""

    version: int
    min_confidence: float = 0.7
    route_sample_disagreement: bool = True
    route_style_sensitive: bool = True
    style_keywords: tuple[str, ...] = ()
    route_invalid: bool = True
    audit_rate: float = 0.05
    humans_per_pair: int = 1
    route_segments: frozenset[tuple[str, str]] = frozenset()  # (dimension, key) pairs

    @classmethod
    def of(cls, policy) -> "PolicyView":
        return cls(
            version=policy.version,
            min_confidence=policy.min_confidence,
            route_sample_disagreement=policy.route_sample_disagreement,
            route_style_sensitive=policy.route_style_sensitive,
            style_keywords=tuple(k.lower() for k in policy.style_keywords or ()),
            route_invalid=policy.route_invalid,
            audit_rate=policy.audit_rate,
            humans_per_pair=policy.humans_per_pair,
            route_segments=segment_set(policy.route_segments),
        )


def segment_set(rules) -> frozenset[tuple[str, str]]:
    """[{"by": "tag", "key": "brand"}, …] → {("tag", "brand"), …}; rules of an unknown
    dimension are ignored (a policy saved by a newer version stays readable)."""
    found = set()
    for rule in rules or ():
        if isinstance(rule, dict) and rule.get("by") in SEGMENT_DIMENSIONS and isinstance(rule.get("key"), str):
            found.add((rule["by"], rule["key"]))
    return frozenset(found)


@dataclass(frozen=True)
class Signals:
    pair_id: int
    invalid: bool = False  # the LLM's output stayed invalid: no LLM label
    confidence: float | None = None
    samples: tuple[int, ...] = ()  # label values of the k samples
    query_text: str = ""
    query_tags: tuple[str, ...] = ()
    traffic: int = 0
    # (dimension, key) of every segment the pair is in: ("tag", "brand"), ("locale", "de-DE"), …
    segments: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Decision:
    to_humans: bool
    reasons: tuple[str, ...] = ()
    blind: bool = False
    priority: float = 0.0
    humans: int = 0


def audit_draw(pair_id: int, version: int) -> float:
    """A uniform number in [0, 1) fixed per pair and policy version: the audit sample is
    reproducible (a preview and the real routing pick the same pairs)."""
    digest = hashlib.sha256(f"audit:{pair_id}:{version}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


_WORD = re.compile(r"\w+")


def _words(text: str) -> str:
    # " elegant red dress ": punctuation dropped, padded so " black tie " matches whole words only.
    return " " + " ".join(_WORD.findall(text.lower())) + " "


def is_style_sensitive(signals: Signals, policy: PolicyView) -> bool:
    if "style-sensitive" in signals.query_tags:
        return True
    text = _words(signals.query_text)
    return any(_words(keyword) in text for keyword in policy.style_keywords if _WORD.search(keyword))


def decide(signals: Signals, policy: PolicyView) -> Decision:
    reasons: list[str] = []
    if signals.invalid:
        if not policy.route_invalid:
            # No LLM label to accept and no human asked: the pair stays a hole to re-judge.
            return Decision(to_humans=False)
        reasons.append(Reason.LLM_INVALID)
    else:
        if signals.confidence is not None and signals.confidence < policy.min_confidence:
            reasons.append(Reason.LOW_CONFIDENCE)
        if policy.route_sample_disagreement and len(set(signals.samples)) > 1:
            reasons.append(Reason.SAMPLE_DISAGREEMENT)
        if policy.route_style_sensitive and is_style_sensitive(signals, policy):
            reasons.append(Reason.STYLE_SENSITIVE)
        if policy.route_segments and not policy.route_segments.isdisjoint(signals.segments):
            reasons.append(Reason.SEGMENT)
    blind = False
    if not reasons and audit_draw(signals.pair_id, policy.version) < policy.audit_rate:
        reasons.append(Reason.AUDIT)
        blind = True  # audits measure agreement on ordinary pairs: the reviewer must not see the LLM
    if not reasons:
        return Decision(to_humans=False)
    # Strongest first: the task's `reason` column (what the queue filters on) is reasons[0].
    reasons.sort(key=lambda r: REASON_WEIGHT[Reason(r)], reverse=True)
    weight = REASON_WEIGHT[Reason(reasons[0])]
    # Query traffic × reason: a frequent query's doubtful label costs the most sessions.
    priority = weight * (1 + max(signals.traffic, 0))
    return Decision(
        to_humans=True, reasons=tuple(reasons), blind=blind, priority=priority, humans=policy.humans_per_pair
    )
