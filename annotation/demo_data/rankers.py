"""The demo's two toy search engines: a naive title matcher (baseline) and a field-aware
one that knows German-English synonyms, compounds and negation (semantic)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from .vocabulary import COLOURS

if TYPE_CHECKING:
    from .catalogue import DemoProduct

# Keys and values are normalised tokens (see _tokens): lower case, plural "s" stripped.
# SYNONYMS lists alternatives (any one may match); COMPOUNDS splits a German compound
# into parts that must each match, so "Lederjacke" asks for leather and for a jacket.
SYNONYMS = {
    "stiefel": ["boot"],
    "schuhe": ["shoe"],
    "lauf": ["running"],
    "sandale": ["sandal"],
    "kleid": ["dress"],
    "abend": ["evening"],
    "sommer": ["summer"],
    "regen": ["rain"],
    "jacke": ["jacket"],
    "mantel": ["coat"],
    "hose": ["jean", "trouser"],
    "pullover": ["jumper", "knitwear"],
    "strick": ["knitwear"],
    "sweater": ["jumper"],
    "kapuzenpullover": ["hoodie"],
    "trainer": ["sneaker"],
    "handtasche": ["handbag"],
    "tasche": ["bag"],
    "rucksack": ["backpack"],
    "schal": ["scarf"],
    "mütze": ["beanie"],
    "gürtel": ["belt"],
    "kapuze": ["hood"],
    "hooded": ["hood"],
    "leder": ["leather"],
    "wolle": ["wool"],
    "baumwolle": ["cotton"],
    "wildleder": ["suede"],
    "schwarz": ["black"],
    "weiß": ["white"],
    "weiss": ["white"],
    "rot": ["red"],
    "blau": ["blue"],
    "dunkelblau": ["navy"],
    "grau": ["grey"],
    "gray": ["grey"],
    "grün": ["green"],
    "braun": ["brown"],
    "rosa": ["pink"],
    "gelb": ["yellow"],
    "oliv": ["olive"],
    "bordeaux": ["burgundy"],
    "damen": ["women"],
    "frauen": ["women"],
    "ladie": ["women"],
    "herren": ["men"],
    "männer": ["men"],
    "dad": ["men"],
    "papa": ["men"],
    "freundin": ["women"],
    "mum": ["women"],
    "minimalistisch": ["minimalist"],
    "sportlich": ["sporty"],
    "lässig": ["casual"],
    "hochzeit": ["evening", "elegant"],
    "wedding": ["evening", "elegant"],
    "gift": ["scarf", "belt", "cashmere"],
    "geschenk": ["scarf", "belt", "cashmere"],
    "warm": ["wool", "winter", "fleece", "cashmere"],
}
COMPOUNDS = {
    "winterjacke": ["winter", "jacke"],
    "lederjacke": ["leder", "jacke"],
    "regenjacke": ["regen", "jacke"],
    "laufschuhe": ["lauf", "schuhe"],
    "winterstiefel": ["winter", "stiefel"],
    "stiefelette": ["ankle", "stiefel"],
    "abendkleid": ["abend", "kleid"],
    "sommerkleid": ["sommer", "kleid"],
    "strickpullover": ["strick", "pullover"],
    "trenchcoat": ["trench", "coat"],
}
NEGATORS = {"not", "without", "no", "ohne", "nicht", "kein", "keine"}
STOPWORDS = {"for", "with", "mit", "für", "something", "etwas", "outfit", "a", "the", "and", "&", "size", "größe"}
GENDERS = {"women", "men"}


# Cached: the rankers tokenise the same titles for every query.
@functools.lru_cache(maxsize=4096)
def _tokens(text: str) -> tuple[str, ...]:
    words = re.findall(r"[^\W_]+(?:[-'][^\W_]+)*", text.lower())
    out = []
    for w in words:
        w = re.sub(r"'s$", "", w)
        # Crude English plural folding, so "boots" meets "boot"; "dress" keeps its "ss".
        if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
            w = w[:-1]
        out.append(w)
    return tuple(out)


def _forms(token: str) -> set[str]:
    """The token and its German inflection-stripped forms ("schwarze" -> "schwarz")."""
    forms = {token}
    if len(token) >= 5:
        for ending in ("er", "en", "es", "em", "e"):
            if token.endswith(ending):
                forms.add(token[: -len(ending)])
    return forms


def _slots(token: str) -> list[set[str]]:
    """What a query token asks for: one set of alternative terms per concept."""
    for form in sorted(_forms(token)):
        if form in COMPOUNDS:
            return [slot for part in COMPOUNDS[form] for slot in _slots(part)]
    terms = set(_forms(token))
    for form in _forms(token):
        terms.update(SYNONYMS.get(form, []))
    return [terms]


def baseline_score(query: str, product: DemoProduct) -> float:
    """Share of query tokens found in the title, as a whole word or as a prefix of at
    least five letters either way (edge n-gram matching, common in shop search).
    Deliberately naive: no synonyms, no attributes, and "not white" counts "white" as a
    match. The prefix rule brings accidental hits such as "Winterjacke" -> "Winter Boots"
    and "Jacke" -> "Jacket"."""
    q = _tokens(query)
    title = _tokens(product.title)
    return sum(any(_prefix_match(t, w) for w in title) for t in q) / len(q)


def _prefix_match(a: str, b: str) -> bool:
    short, long = sorted((a, b), key=len)
    return short == long or (len(short) >= 5 and long.startswith(short))


@functools.lru_cache(maxsize=256)
def _parse(query: str) -> tuple[tuple[set[str], ...], tuple[set[str], ...]]:
    """(positive slots, negated slots); a negator applies to the one word after it."""
    positives: list[set[str]] = []
    negatives: list[set[str]] = []
    words = [t for t in _tokens(query) if t not in STOPWORDS]
    for i, token in enumerate(words):
        if token in NEGATORS:
            continue
        (negatives if i > 0 and words[i - 1] in NEGATORS else positives).extend(_slots(token))
    return tuple(positives), tuple(negatives)


def semantic_score(query: str, product: DemoProduct) -> float:
    """Weighted match of each query concept against all product fields, German words
    mapped to English, minus penalties for wrong colour/gender and negated terms."""
    bag = product.bag
    positives, negatives = _parse(query)
    if not positives:
        return 0.0
    score = sum(max(bag.get(term, 0.0) for term in terms) for terms in positives)
    wanted = set().union(*positives)
    attrs = product.attributes
    # A named colour or gender is a constraint, not only a bonus. A wrong colour still
    # leaves a usable substitute; a wrong gender rarely does.
    colours = wanted & set(COLOURS)
    if colours and attrs["colour"] not in colours:
        score -= 0.5
    genders = wanted & GENDERS
    if genders and attrs["gender"] != "unisex" and attrs["gender"] not in genders:
        score -= 1.5
    for terms in negatives:
        if any(term in bag for term in terms):
            score -= 3.0
    return score / len(positives)


def product_bag(product: DemoProduct) -> dict[str, float]:
    """Token -> weight over all fields; a token found in several fields keeps its best weight."""
    attrs = product.attributes
    fields = [
        (product.title, 1.0),
        (product.brand, 1.0),
        # The category names the product type, which matters more than any adjective.
        (product.category.replace(">", " "), 2.0),
        (attrs["colour"], 1.0),
        (attrs["material"], 1.0),
        (attrs["style"], 1.2),
        (attrs["gender"], 1.0),
        (attrs["size"], 1.0),
        (attrs["season"], 0.8),
        ("hood" if attrs.get("hood") else "", 1.0),
    ]
    bag: dict[str, float] = {}
    for text, weight in fields:
        for token in _tokens(text):
            bag[token] = max(bag.get(token, 0.0), weight)
    return bag


def rank_products(
    query: str, products: list[DemoProduct], scorer: Callable[[str, DemoProduct], float], *, depth: int
) -> list[tuple[str, float]]:
    """Top `depth` products; when few match, low scorers fill the list in popularity order."""
    scored = [(round(scorer(query, p), 4), p.popularity, p.product_id) for p in products]
    scored.sort(key=lambda s: (-s[0], -s[1], s[2]))
    return [(pid, score) for score, _, pid in scored[:depth]]
