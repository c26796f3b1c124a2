"""The verdict: lexical rules and semantic similarity weighed into a label and a calibrated
confidence.

The evidence decides in this order:
1. Decisive rules. The product has what the query excludes, is another product type the
   lexicon can name, or is by another brand when the query names only a brand: it is
   irrelevant whatever else it matches. It is a related type (running shoes for
   "sneakers"): a substitute at best.
2. A query that names no product type, brand or unknown word ("gift for dad") is judged
   on its hints alone, as a guess for a human to confirm.
3. Otherwise the weighted requirement match and the query–product similarity make one
   score, which calibration.py turns into probabilities of irrelevant, partial and exact;
   a product that states another value than asked (a black dress for "red dress") is at
   best partial. The label is the likeliest grade, relevant-or-not decided first, and
   its probability is the confidence.

Scales of any length get the three grades on their lowest, second-highest and highest
level (a two-level scale: exact or not), so the offline judge never uses the levels in
between on a scale of four or more.
"""

from dataclasses import dataclass, replace

from judging.contracts import GuidelineDraft, LevelInfo, ProductContext, Verdict

from . import semantic
from .calibration import FITTED, Calibration, Grades
from .checks import Check, check
from .product import named_type, product_type_name, view
from .text import normalise

VAGUE_CONFIDENCE = 0.3  # no requirements at all: a guess, always worth a human look
OPEN_CONFIDENCE = 0.35  # no product type, brand or unknown word: judged on a few hints only
# Attributes that say what the product is; a query without any of them only hints.
_ANCHORS = ("product_type", "brand", "keyword")


@dataclass(frozen=True)
class Assessment:
    """Everything the judge found out about one pair, before choosing a label."""

    kind: str  # the product type, for the rationale
    checks: list[Check]
    match: float  # importance-weighted share of the requirements met, 0..1
    similarity: float | None  # cosine of query and product embeddings; None: nothing to embed
    rule: str = ""  # the decisive rule that fired, if any: "negation", "type", "brand" or "related"
    reason: str = ""  # why, in words, for the rationale
    open_ended: bool = False  # no product type, brand or unknown word in the query

    @property
    def conflicts(self) -> list[Check]:
        """Requirements the product states otherwise (another colour, brand, size…)."""
        return [c for c in self.checks if c.conflict]


def assess(*, guideline: GuidelineDraft, product: ProductContext) -> Assessment | None:
    """The pair's evidence; None when the guideline has no checkable requirement."""
    # A requirement of importance 0, or with no words in its value, cannot be checked; an
    # LLM-written guideline may hold either. Importance beyond 1 would let one swamp the rest.
    requirements = [
        replace(r, importance=min(float(r.importance), 1.0))
        for r in guideline.requirements
        if r.importance > 0 and normalise(r.value)
    ]
    if not requirements:
        return None
    kind = product_type_name(product)
    v = view(product)
    checks = _alternative_types([check(r, v, product, kind) for r in requirements])
    total = sum(c.requirement.importance for c in checks)
    # Rounded so that float noise never decides which side of a threshold a product lands.
    match = round(sum(c.requirement.importance * c.outcome for c in checks) / total, 6)
    similarity = semantic.similarity(replace(guideline, requirements=requirements), product)
    evidence = Assessment(kind=kind, checks=checks, match=match, similarity=similarity)

    violated = [c for c in checks if c.requirement.negated and c.outcome == 0]
    types = [c for c in checks if c.attribute == "product_type" and not c.requirement.negated]
    brands = [c for c in checks if c.attribute == "brand" and not c.requirement.negated]
    if violated:
        reason = f"the product has what the query excludes ({', '.join(c.label for c in violated)})"
        return replace(evidence, rule="negation", reason=reason)
    if types and types[0].outcome == 0 and named_type(v.type_fields):
        # Only a product the lexicon can name is surely another type; a type word missing
        # from an unfamiliar title ("Hoody" for "hoodie") is just an unmet requirement.
        reason = f"the product type ({kind}) is not the one asked for ({types[0].requirement.value})"
        return replace(evidence, rule="type", reason=reason)
    if not types and brands and brands[0].outcome == 0 and product.brand.strip():
        reason = f"the query asks for the brand {brands[0].requirement.value}, the product is by {product.brand}"
        return replace(evidence, rule="brand", reason=reason)
    if not any(c.attribute in _ANCHORS and not c.requirement.negated for c in checks):
        return replace(evidence, open_ended=True)
    if types and types[0].outcome == 0.5:
        reason = f"the product type ({kind}) is related to the one asked for ({types[0].requirement.value}) but differs"
        return replace(evidence, rule="related", reason=reason)
    return evidence


def offline_judge(*, guideline: GuidelineDraft, product: ProductContext, levels: list[LevelInfo]) -> Verdict:
    if len(levels) < 2:
        raise ValueError("a scale needs at least two levels")
    n = len(levels)
    evidence = assess(guideline=guideline, product=product)
    if evidence is None:
        return Verdict(
            value=levels[n // 2].value,
            rationale=(
                f"Product type: {product_type_name(product)}. The query states no checkable requirement, so "
                f"relevance depends on the shopper's intent; '{levels[n // 2].name}' is a guess for a human to confirm."
            ),
            confidence=VAGUE_CONFIDENCE,
        )
    index, confidence, reason = decide(evidence, n)
    met = [c.label for c in evidence.checks if c.outcome == 1]
    unmet = [c for c in evidence.checks if c.outcome < 1]
    shown = [c.label + (f" (product: {c.product_value})" if c.product_value else "") for c in unmet]
    similarity = "n/a" if evidence.similarity is None else f"{evidence.similarity:.2f}"
    rationale = (
        f"Product type: {evidence.kind}. Met: {', '.join(met) or 'none'}. Unmet: {', '.join(shown) or 'none'}. "
        f"Weighted match {evidence.match:.2f}, text similarity {similarity}; {reason}: '{levels[index].name}'."
    )
    return Verdict(
        value=levels[index].value,
        rationale=rationale,
        confidence=round(confidence, 3),
        requirements_met=met,
        requirements_unmet=[c.label for c in unmet],
    )


def decide(evidence: Assessment, n: int, calibration: Calibration = FITTED) -> tuple[int, float, str]:
    """(level index, confidence, reason) for a scale of n levels, least relevant first."""
    if evidence.rule == "related":
        # A related type (running shoes for "sneakers") substitutes at best.
        return max(n - 2, 0), calibration.rules["related"], evidence.reason
    if evidence.rule:
        return 0, calibration.rules[evidence.rule], evidence.reason
    if evidence.open_ended:
        # Without a product type, brand or unknown word the query is open-ended ("gift for
        # dad"): a product that fits its hints is plausible, never certain; one that does
        # not is unlikely.
        index = n // 2 if evidence.match >= 0.5 else 0
        return index, OPEN_CONFIDENCE, "the query names no product type or brand, so the label rests on its hints alone"
    p = calibration.grades(calibration.score(similarity=evidence.similarity or 0.0, match=evidence.match))
    conflicts = evidence.conflicts
    if conflicts:
        # The product states something else than asked (a black dress for "red dress"):
        # if relevant at all, it is a substitute, as it was on the calibration file.
        partial = p.relevant * calibration.conflict_partial
        p = Grades(irrelevant=p.irrelevant, partial=partial, exact=p.relevant - partial)
    grade, confidence = _grade(p, n, exact_possible=not conflicts)
    index = {"irrelevant": 0, "partial": max(n - 2, 0), "exact": n - 1}[grade]
    if grade == "irrelevant":
        reason = "the product matches too little of the query"
    elif conflicts:
        reason = f"the product fits the query but states otherwise on {', '.join(c.label for c in conflicts)}"
    elif grade == "exact":
        reason = "the product meets the query's requirements"
    else:
        reason = "the product fits the query but not every requirement is met"
    return index, confidence, f"{reason} (P(relevant) {p.relevant:.2f}, P(exact) {p.exact:.2f})"


def _grade(p: Grades, n: int, *, exact_possible: bool = True) -> tuple[str, float]:
    """The grade to label and its probability. Relevant or not is decided first, as it
    matters most (acc@2, routing by relevance); a two-level scale keeps its top level for
    exact matches, as a partial match is not what a binary "relevant" promises."""
    if n == 2:
        return ("exact", p.exact) if p.exact >= 0.5 and exact_possible else ("irrelevant", 1.0 - p.exact)
    if p.relevant < 0.5:
        return "irrelevant", p.irrelevant
    if p.exact >= p.partial and exact_possible:
        return "exact", p.exact
    return "partial", p.partial


def _alternative_types(checks: list[Check]) -> list[Check]:
    """Several product types in one query ("boots or sneakers") are alternatives: keep the
    best-matched one, so that a boot is not marked down for not being a sneaker."""
    types = [c for c in checks if c.attribute == "product_type" and not c.requirement.negated]
    if len(types) < 2:
        return checks
    best = max(types, key=lambda c: c.outcome)  # the first among equals: deterministic
    return [c for c in checks if c is best or not any(c is t for t in types)]
