"""The catalogue's own words, handed to the guideline step so it recognises brands and
terms the built-in lexicon does not know."""

import re
from collections.abc import Iterable

from judging.contracts import ProductContext

from .lexicon import COLOURS, MATERIALS, STYLES
from .product import ATTRIBUTE_KEYS, product_type_name
from .text import contains, normalise

_LIST_SPLIT = re.compile(r"\s*[,;/|]\s*")
# Title words worth collecting, per vocabulary key (their canonical names are stored).
_TITLE_CONCEPTS = {"colours": COLOURS, "materials": MATERIALS, "styles": STYLES}
_ATTRIBUTE_OF = {"colours": "colour", "materials": "material", "styles": "style", "genders": "gender"}


def vocabulary_from_products(products: Iterable[ProductContext]) -> dict[str, list[str]]:
    found: dict[str, set[str]] = {
        key: set() for key in ("brands", "colours", "product_types", "materials", "styles", "genders")
    }
    for product in products:
        if product.brand.strip():
            found["brands"].add(product.brand.strip().lower())
        segments = [s.strip() for s in product.category.split(">") if s.strip()]
        if segments:
            found["product_types"].add(segments[-1].lower())
        kind = product_type_name(product)
        if kind != "product" and not (segments and kind == segments[-1].lower()):
            found["product_types"].add(kind)
        attributes = {str(k).strip().lower().replace(" ", "_"): v for k, v in (product.attributes or {}).items()}
        for key, attribute in _ATTRIBUTE_OF.items():
            for name in ATTRIBUTE_KEYS[attribute]:
                found[key].update(_values(attributes.get(name)))
        title = (normalise(product.title),)
        words = set(title[0])
        for key, concepts in _TITLE_CONCEPTS.items():
            # The set test skips the concepts whose words the title lacks, cheaply.
            found[key].update(
                c.value for c in concepts if any(t[0] in words for t in c.terms) and contains(title, c.terms)
            )
    return {key: sorted(values) for key, values in found.items()}


def _values(value) -> list[str]:
    """Lower-case strings of an attribute value: "black/white" and ["black", "white"] alike."""
    if isinstance(value, str):
        return [v.lower() for v in _LIST_SPLIT.split(value.strip()) if v]
    if isinstance(value, (list, tuple)):
        return [v for item in value if isinstance(item, str) for v in _values(item)]
    return []
