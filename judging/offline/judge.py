"""Weighted requirement matching: how much of what the query asks for a product has."""

import re
from dataclasses import dataclass, replace

from judging.contracts import (
    GuidelineDraft,
    LevelInfo,
    ProductContext,
    Requirement,
    Verdict,
)

from .lexicon import BUILTIN, Concept
from .product import ProductView, has_type, product_type_name, view
from .text import contains, normalise

TOP = 0.85  # weighted match at or above which a product is as relevant as it gets
# Distance from a threshold at which the judge stops doubting (the width of the top band).
CONFIDENT_DISTANCE = 0.15
VAGUE_CONFIDENCE = 0.3  # no requirements at all: a guess, always worth a human look
OPEN_CONFIDENCE = 0.35  # no product type or brand: judged on a few hints only
TYPE_CONFIDENCE = 0.9  # another product type is rarely a close call
NEGATION_CONFIDENCE = 0.85  # the excluded property was found in the product's own data
RELATED_CONFIDENCE = 0.6  # a related type: whether it substitutes is a judgement call

_ATTRIBUTE_ALIASES = {
    "color": "colour",
    "type": "product_type",
    "product": "product_type",
    "category": "product_type",
    "article_type": "product_type",
    "producttype": "product_type",
    "fabric": "material",
    "sex": "gender",
    "target_group": "gender",
    "brand_name": "brand",
    "features": "feature",
}
_NEGATION_PREFIX = re.compile(r"^\s*(?:not|no|non-?|without|ohne|nicht|kein(?:e|en)?)\s+", re.IGNORECASE)
_LOWER_BOUND = re.compile(r"over|above|more than|at least|from|min|über|ab|>", re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")


@dataclass(frozen=True)
class _Check:
    requirement: Requirement
    attribute: str
    label: str  # "colour=black", "colour=not white"
    outcome: float  # share of the requirement met: 1, 0.5 (a related product type) or 0
    product_value: str  # what the product has instead, for the rationale


def offline_judge(*, guideline: GuidelineDraft, product: ProductContext, levels: list[LevelInfo]) -> Verdict:
    if len(levels) < 2:
        raise ValueError("a scale needs at least two levels")
    n = len(levels)
    kind = product_type_name(product)
    # A requirement of importance 0, or with no words in its value, cannot be checked; an
    # LLM-written guideline may hold either. Importance beyond 1 would let one swamp the rest.
    requirements = [
        replace(r, importance=min(float(r.importance), 1.0))
        for r in guideline.requirements
        if r.importance > 0 and normalise(r.value)
    ]
    if not requirements:
        return Verdict(
            value=levels[n // 2].value,
            rationale=(
                f"Product type: {kind}. The query states no checkable requirement, so relevance depends on "
                f"the shopper's intent; '{levels[n // 2].name}' is a guess for a human to confirm."
            ),
            confidence=VAGUE_CONFIDENCE,
        )

    v = view(product)
    checks = _alternative_types([_check(r, v, product, kind) for r in requirements])
    total = sum(c.requirement.importance for c in checks)
    # Rounded so that float noise never decides which side of a threshold a product lands.
    score = round(sum(c.requirement.importance * c.outcome for c in checks) / total, 6)
    met = [c.label for c in checks if c.outcome == 1]
    unmet = [c.label + (f" (product: {c.product_value})" if c.product_value else "") for c in checks if c.outcome < 1]
    violated = [c for c in checks if c.requirement.negated and c.outcome == 0]
    types = [c for c in checks if c.attribute == "product_type" and not c.requirement.negated]
    brands = [c for c in checks if c.attribute == "brand" and not c.requirement.negated]

    if violated:
        index, confidence = 0, NEGATION_CONFIDENCE
        reason = f"the product has what the query excludes ({', '.join(c.label for c in violated)})"
    elif types and types[0].outcome == 0:
        index, confidence = 0, TYPE_CONFIDENCE
        reason = f"the product type ({kind}) is not the one asked for ({types[0].requirement.value})"
    elif not types and brands and brands[0].outcome == 0:
        index, confidence = 0, TYPE_CONFIDENCE
        reason = f"the query asks for the brand {brands[0].requirement.value}, the product is by {product.brand or 'no named brand'}"
    elif not types and not brands:
        # Without a product type or brand the query is open-ended ("gift for dad"): a product
        # that fits its hints is plausible, never certain; one that does not is unlikely.
        index = n // 2 if score >= 0.5 else 0
        confidence = OPEN_CONFIDENCE
        reason = "the query names no product type or brand, so the label rests on its hints alone"
    else:
        index = _index(score, n)
        confidence = _confidence(score, n)
        if types and types[0].outcome < 1:
            # A related type (running shoes for "sneakers") substitutes at best.
            index = min(index, max(n - 2, 0))
            confidence = min(confidence, RELATED_CONFIDENCE)
            reason = (
                f"the product type ({kind}) is related to the one asked for ({types[0].requirement.value}) but differs"
            )
        elif index == n - 1:
            reason = "the product meets the query's requirements"
        else:
            reason = "the product type fits but not every requirement is met"

    rationale = (
        f"Product type: {kind}. Met: {', '.join(met) or 'none'}. Unmet: {', '.join(unmet) or 'none'}. "
        f"Weighted match {score:.2f}; {reason}: '{levels[index].name}'."
    )
    return Verdict(
        value=levels[index].value,
        rationale=rationale,
        confidence=round(confidence, 3),
        requirements_met=met,
        requirements_unmet=[c.label for c in checks if c.outcome < 1],
    )


def _alternative_types(checks: list[_Check]) -> list[_Check]:
    """Several product types in one query ("boots or sneakers") are alternatives: keep the
    best-matched one, so that a boot is not marked down for not being a sneaker."""
    types = [c for c in checks if c.attribute == "product_type" and not c.requirement.negated]
    if len(types) < 2:
        return checks
    best = max(types, key=lambda c: c.outcome)  # the first among equals: deterministic
    return [c for c in checks if c is best or not any(c is t for t in types)]


def _index(score: float, n: int) -> int:
    """Top level from TOP up; below it the middle levels share [0, TOP) evenly."""
    if score >= TOP:
        return n - 1
    if n == 2:
        return 0
    middle = n - 2
    return 1 + min(middle - 1, int(score / TOP * middle))


def _confidence(score: float, n: int) -> float:
    """Lowest next to a threshold between two labels, where a small change flips the label."""
    middle = max(n - 2, 1)
    thresholds = [TOP] + [TOP * k / middle for k in range(1, middle)]
    distance = min(abs(score - t) for t in thresholds)
    return 0.5 + 0.45 * min(1.0, distance / CONFIDENT_DISTANCE)


# --- one requirement against one product ---------------------------------------------


def _check(requirement: Requirement, v: ProductView, product: ProductContext, kind: str) -> _Check:
    attribute = _attribute(requirement.attribute)
    value = requirement.value.strip()
    if requirement.negated:
        value = _NEGATION_PREFIX.sub("", value)
    concepts = _concepts(attribute, value)
    satisfiers = tuple(p for c in concepts for p in c.satisfiers) or (normalise(value),)
    product_value = ""
    if attribute == "product_type":
        present = 1.0 if has_type(v.type_fields, satisfiers) else 0.0
        related = tuple(p for c in concepts for p in c.related)
        if not present and not requirement.negated and related and has_type(v.type_fields, related):
            present = 0.5
        product_value = kind
    elif attribute == "brand":
        present = float(contains((v.brand,) if v.brand else v.type_fields, satisfiers))
        product_value = product.brand
    elif attribute == "size":
        sizes = v.attribute("size")
        present = float(sizes is not None and _size_in(value, sizes))
        product_value = _show(sizes)
    elif attribute == "price":
        prices = v.attribute("price")
        present = float(prices is not None and _price_ok(value, prices))
        product_value = _show(prices)
    elif attribute == "gender":
        own = v.attribute_phrases("gender")
        if own is None:
            present = float(contains(v.type_fields, satisfiers))
        else:
            # Unisex products are made for women and men alike.
            adult = any(c.value in ("women", "men") for c in concepts)
            present = float(contains(own, satisfiers) or (adult and contains(own, [("unisex",)])))
        product_value = _show(v.attribute("gender"))
    elif attribute == "feature" and (flag := _flag(v, concepts, value)) is not None:
        present = float(flag)  # an explicit yes/no attribute ("hood": false) beats any wording
        product_value = "" if flag else f"no {value}"
    elif attribute in ("colour", "material", "style", "season"):
        # The catalogue's own attribute is authoritative; descriptions mention other things
        # ("a white sole"), so they count only when the attribute is missing.
        own = v.attribute_phrases(attribute)
        fields = v.descriptive if own is None else own + v.type_fields
        present = float(contains(fields, satisfiers))
        product_value = _show(v.attribute(attribute))
    else:
        fields = v.descriptive + ((v.brand,) if attribute == "keyword" else ())
        present = float(contains(fields, satisfiers))
    label = f"{attribute}={'not ' if requirement.negated else ''}{value}"
    outcome = (1.0 - present) if requirement.negated else present
    # Negated checks report the product's value only when it has the excluded thing.
    shown = product_value if (outcome < 1 and not requirement.negated) else ""
    return _Check(requirement, attribute, label, outcome, shown)


def _attribute(name: str) -> str:
    key = name.strip().lower().replace(" ", "_").replace("-", "_")
    return _ATTRIBUTE_ALIASES.get(key, key)


def _concepts(attribute: str, value: str) -> list[Concept]:
    """Built-in concepts a requirement value names. A product type resolves to the most
    specific one ("leather jacket", not also "jacket"); other attributes may list several
    ("black or white"). A value of an unusual attribute is looked up under any attribute."""
    tokens = normalise(value)
    for pool in ([c for c in BUILTIN if c.attribute == attribute], BUILTIN):
        exact = [c for c in pool if tokens in c.terms]
        if exact:
            return exact[:1]
        named = [
            (max(len(p) for p in c.terms if _inside(p, tokens)), c)
            for c in pool
            if any(_inside(p, tokens) for p in c.terms)
        ]
        if named:
            if attribute == "product_type":
                return [max(named, key=lambda m: m[0])[1]]
            return [c for _, c in named]
        if attribute in ("product_type", "brand", "size", "price", "keyword"):
            break  # a literal value is better than a guess from another attribute
    return []


def _inside(needle: tuple[str, ...], tokens: tuple[str, ...]) -> bool:
    return any(tokens[i : i + len(needle)] == needle for i in range(len(tokens) - len(needle) + 1))


def _flag(v: ProductView, concepts: list[Concept], value: str) -> bool | None:
    """A boolean attribute naming the feature ("hood": true, "has_hood": false), if any."""
    words = {p for c in concepts for p in c.terms} or {normalise(value)}
    for key, flag in v.attributes.items():
        if isinstance(flag, bool) and any(_inside(w, normalise(key.replace("_", " "))) for w in words):
            return flag
    return None


def _size_in(wanted: str, sizes: list) -> bool:
    wanted = re.sub(r"^(?:eu|size|gr\.?|größe)\s*", "", wanted.strip().lower()).replace(" ", "")
    for size in sizes:
        for part in re.split(r"[,;/|]", str(size).lower()):
            part = part.strip().replace(" ", "")
            if part == wanted:
                return True
            span = re.fullmatch(r"(\d+(?:\.5)?)[-–](\d+(?:\.5)?)", part)
            if span and _NUMBER.fullmatch(wanted) and float(span[1]) <= float(wanted) <= float(span[2]):
                return True
    return False


def _price_ok(wanted: str, prices: list) -> bool:
    limit = _NUMBER.search(wanted)
    if not limit:
        return False
    bound = float(limit[0].replace(",", "."))
    for price in prices:
        found = _NUMBER.search(str(price))
        if found:
            amount = float(found[0].replace(",", "."))
            return amount >= bound if _LOWER_BOUND.search(wanted) else amount <= bound
    return False


def _show(values: list | None) -> str:
    return ", ".join(str(x) for x in values) if values else "not stated"
