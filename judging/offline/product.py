"""A product's text, normalised once and split into the fields the judge looks at."""

import re
from dataclasses import dataclass

from judging.contracts import ProductContext

from .lexicon import HEAD_NOUNS, TYPES, Phrase
from .text import find, normalise

# Attribute keys as catalogues spell them, per requirement attribute.
ATTRIBUTE_KEYS = {
    "colour": ("colour", "color", "colours", "colors", "farbe"),
    "material": ("material", "materials", "fabric", "material_composition"),
    "style": ("style", "styles", "stil"),
    "gender": ("gender", "sex", "target_group", "department", "geschlecht"),
    "size": ("size", "sizes", "größe", "groesse"),
    "price": ("price", "price_eur", "price_usd", "price_gbp", "preis"),
    "season": ("season", "saison"),
    "product_type": ("product_type", "type", "article_type", "kind"),
}
# Fields are matched separately, so that words of two fields never form a phrase
# ("Shoes > Boots" is two fields, not "shoe boot").
_FIELD_SPLIT = re.compile(r"\s+[-–—|]\s+|\s*[>|&,;]\s*")


@dataclass(frozen=True)
class ProductView:
    brand: Phrase
    type_fields: tuple[Phrase, ...]  # title (without brand), category segments, type attributes
    descriptive: tuple[Phrase, ...]  # all text except the brand name
    attributes: dict  # lower-case keys

    def attribute(self, attribute: str) -> list | None:
        """The raw values of an attribute (a list), or None when the product does not say."""
        for key in ATTRIBUTE_KEYS.get(attribute, (attribute,)):
            if key in self.attributes and self.attributes[key] not in (None, "", []):
                value = self.attributes[key]
                return list(value) if isinstance(value, (list, tuple)) else [value]
        return None

    def attribute_phrases(self, attribute: str) -> tuple[Phrase, ...] | None:
        values = self.attribute(attribute)
        if values is None:
            return None
        return tuple(normalise(str(v)) for v in values if not isinstance(v, bool))


def view(product: ProductContext) -> ProductView:
    brand = normalise(product.brand)
    title = _title_fields(product)
    category = tuple(normalise(part) for part in _FIELD_SPLIT.split(product.category))
    attributes = {str(k).strip().lower().replace(" ", "_"): v for k, v in (product.attributes or {}).items()}
    type_values = []
    for key in ATTRIBUTE_KEYS["product_type"]:
        if isinstance(attributes.get(key), str):
            type_values.append(normalise(attributes[key]))
    attribute_text = []
    for key, value in attributes.items():
        if isinstance(value, bool):
            # A true flag reads as its name ("hood": true has a hood); a false one says nothing.
            if value:
                attribute_text.append(normalise(key.replace("_", " ")))
        elif isinstance(value, (str, int, float)):
            attribute_text.append(normalise(str(value)))
        elif isinstance(value, (list, tuple)):
            attribute_text.extend(normalise(str(v)) for v in value)
    descriptive = (
        *title,
        *category,
        normalise(product.description),
        *(normalise(d) for d in product.image_descriptions),
        *attribute_text,
    )
    return ProductView(brand, tuple(p for p in (*title, *category, *type_values) if p), descriptive, attributes)


def _title_fields(product: ProductContext) -> tuple[Phrase, ...]:
    """The title's parts without the brand name, whose words describe nothing ("Kestrel
    Sport"). Removed before splitting, as a brand may hold a separator ("Okra & Oak")."""
    title = product.title
    if product.brand.strip():
        title = re.sub(re.escape(product.brand.strip()), " ", title, flags=re.IGNORECASE)
    return tuple(p for p in (normalise(part) for part in _FIELD_SPLIT.split(title)) if p)


def has_type(fields: tuple[Phrase, ...], phrases: tuple[Phrase, ...]) -> bool:
    """Whether a type phrase names the product in one of the fields. A phrase followed by
    another type noun only modifies it: "Shirt Dress" is a dress, not a shirt."""
    for tokens in fields:
        for p in phrases:
            for i in find(tokens, p):
                end = i + len(p)
                if end == len(tokens) or tokens[end] not in HEAD_NOUNS:
                    return True
    return False


def product_type_name(product: ProductContext) -> str:
    """What the product is, for rationales and descriptions: the most specific known type
    named in its title, else the last segment of its category, else "product"."""
    known = named_type(_title_fields(product))
    if known:
        return known
    segments = [s.strip() for s in product.category.split(">") if s.strip()]
    return segments[-1].lower() if segments else "product"


def named_type(fields: tuple[Phrase, ...]) -> str | None:
    """The most specific built-in product type the fields name, or None."""
    words = {t for tokens in fields for t in tokens}
    found = [
        (len(p), c.value)
        for c in TYPES
        for p in c.terms
        if p[0] in words and has_type(fields, (p,))  # the set test skips most types cheaply
    ]
    return max(found, key=lambda f: f[0])[1] if found else None
