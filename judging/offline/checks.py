"""One requirement of a guideline against one product: met, half met or not.

The judge (judge.py) weighs the outcomes; each check reads the product's own attributes
first and its words second, as a careful human reader would.
"""

import re
from dataclasses import dataclass

from judging.contracts import ProductContext, Requirement

from .lexicon import BUILTIN, COLOURS, GENDERS, MATERIALS, Concept
from .product import ProductView, has_type
from .text import contains, normalise

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
# Attributes whose other values a title states plainly enough to count as the product's
# own ("Men's …", "… – Black", "Canvas …"); a style word in a title is marketing.
_VALUES = {"colour": COLOURS, "gender": GENDERS, "material": MATERIALS}
_NAMED_IN_TITLES = frozenset(_VALUES)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")


@dataclass(frozen=True)
class Check:
    requirement: Requirement
    attribute: str
    label: str  # "colour=black", "colour=not white"
    outcome: float  # share of the requirement met: 1, 0.5 (a related product type) or 0
    product_value: str  # what the product has instead, for the rationale
    # The product states something else (another colour, brand, size…), as opposed to
    # not saying: it may substitute, but it is not what was asked for.
    conflict: bool = False


def check(requirement: Requirement, v: ProductView, product: ProductContext, kind: str) -> Check:
    attribute = _attribute(requirement.attribute)
    value = requirement.value.strip()
    if requirement.negated:
        value = _NEGATION_PREFIX.sub("", value)
    concepts = _concepts(attribute, value)
    satisfiers = tuple(p for c in concepts for p in c.satisfiers) or (normalise(value),)
    product_value = ""
    conflict = False
    if attribute == "product_type":
        present = 1.0 if has_type(v.type_fields, satisfiers) else 0.0
        related = tuple(p for c in concepts for p in c.related)
        if not present and not requirement.negated and related and has_type(v.type_fields, related):
            present = 0.5
        product_value = kind
    elif attribute == "brand":
        present = float(contains((v.brand,) if v.brand else v.type_fields, satisfiers))
        product_value = product.brand
        conflict = not present and bool(v.brand)
    elif attribute == "size":
        sizes = v.attribute("size")
        present = float(sizes is not None and _size_in(value, sizes))
        product_value = _show(sizes)
        conflict = sizes is not None and not present
    elif attribute == "price":
        prices = v.attribute("price")
        present = float(prices is not None and _price_ok(value, prices))
        product_value = _show(prices)
        conflict = prices is not None and not present
    elif attribute == "gender":
        own = v.attribute_phrases("gender")
        # Unisex products are made for women and men alike.
        adult = any(c.value in ("women", "men") for c in concepts)
        if own is None:
            present = float(contains(v.type_fields, satisfiers))
            other = None if present else _named_other(v, attribute, concepts, skip=("unisex",) if adult else ())
            product_value, conflict = other or "not stated", other is not None
        else:
            present = float(contains(own, satisfiers) or (adult and contains(own, [("unisex",)])))
            product_value, conflict = _show(v.attribute("gender")), not present
    elif attribute == "feature" and (flag := _flag(v, concepts, value)) is not None:
        present = float(flag)  # an explicit yes/no attribute ("hood": false) beats any wording
        product_value = "" if flag else f"no {value}"
        conflict = not flag
    elif attribute in ("colour", "material", "style", "season"):
        # The catalogue's own attribute is authoritative; descriptions mention other things
        # ("a white sole"), so they count only when the attribute is missing.
        own = v.attribute_phrases(attribute)
        fields = v.descriptive if own is None else own + v.type_fields
        present = float(contains(fields, satisfiers))
        product_value = _show(v.attribute(attribute))
        if own is not None:
            conflict = not present
        elif not present and attribute in _NAMED_IN_TITLES:
            other = _named_other(v, attribute, concepts)
            product_value, conflict = other or product_value, other is not None
    else:
        fields = v.descriptive + ((v.brand,) if attribute == "keyword" else ())
        present = float(contains(fields, satisfiers))
        if not present and _CJK.search(value):
            # Japanese and Chinese titles write words without spaces, so a term is one
            # token in the query and part of a longer one in the title: look for its
            # characters instead.
            present = float("".join(normalise(value)) in "".join(t for field in fields for t in field))
    label = f"{attribute}={'not ' if requirement.negated else ''}{value}"
    outcome = (1.0 - present) if requirement.negated else present
    # Negated checks report the product's value only when it has the excluded thing.
    shown = product_value if (outcome < 1 and not requirement.negated) else ""
    return Check(requirement, attribute, label, outcome, shown, conflict=conflict and not requirement.negated)


def _named_other(v: ProductView, attribute: str, concepts: list[Concept], skip: tuple[str, ...] = ()) -> str | None:
    """Another value of the attribute that the product's title or category names ("Black
    Felt Masks" for a red mask), for products without the attribute itself."""
    asked = {c.value for c in concepts}
    for concept in _VALUES[attribute]:
        if concept.value not in asked and concept.value not in skip and contains(v.type_fields, concept.terms):
            return concept.value
    return None


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
