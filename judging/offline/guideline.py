"""Rule-based guideline: the requirements a query states, read off its words."""

import re
from collections import deque

from judging.contracts import QUERY_TAGS, GuidelineDraft, QueryContext, Requirement
from judging.intents import text_intents

from .lexicon import (
    BUILTIN,
    IMPORTANCE,
    NEGATED_IMPORTANCE,
    STOPWORDS,
    VAGUE,
    Concept,
    Phrase,
)
from .text import NEGATORS, normalise

# "size 38", "Größe 43", "gr. M", "size W28", "EU 38"
_SIZE = re.compile(
    r"\b(?:size|gr(?:ö|oe|o)(?:ß|ss)e|gr\.|eu)(?:\s*:\s*|\s+)(\d{2}(?:[.,]5)?|w\d{2}(?:\s*/?\s*l\d{2})?|x{0,3}[sl]|m|xxl)\b"
)
# "under 50", "unter 50 €", "below €100", "max. 80 EUR", "bis 40 Euro"
_PRICE = re.compile(
    r"\b(?:under|below|less than|cheaper than|max\.?|maximum|up to|unter|bis|maximal|höchstens)\s*"
    r"(?:€|eur|euro|\$|£)?\s*(\d+(?:[.,]\d+)?)\s*(?:€|eur\b|euros?\b|\$|£)?"
)
# Equal-length matches resolve in this order: a brand name beats a colour word inside it.
_PRIORITY = ("brand", "product_type", "colour", "gender", "material", "style", "occasion", "season", "feature")
_VOCAB_ATTRIBUTES = {
    "brands": "brand",
    "product_types": "product_type",
    "colours": "colour",
    "materials": "material",
    "styles": "style",
    "genders": "gender",
}
_CONTINUE_NEGATION = frozenset({"or", "and", "nor"})
# Phrase indexes of the last few vocabularies seen (the vocabulary, its index).
_INDEXES: deque = deque(maxlen=4)
_SEGMENT = re.compile(r"[,;:()\[\]!?]")
MAX_NEGATED_EXTRA = 2  # words a negated phrase may run on by
_NOT_PLAIN = NEGATORS | _CONTINUE_NEGATION | STOPWORDS | VAGUE | {"with"}


def offline_guideline(query: QueryContext) -> GuidelineDraft:
    # Most important first, as a reader scans them; query order breaks ties.
    requirements = sorted(_parse(query.text, query.vocabulary), key=lambda r: -r.importance)
    return GuidelineDraft(
        requirements=requirements,
        text=_text(requirements, rulebook=bool(query.rulebook or query.rules)),
        tags=_tags(requirements) + [t for t in text_intents(query.text) if t in QUERY_TAGS],
    )


def _parse(text: str, vocabulary: dict[str, list[str]]) -> list[Requirement]:
    requirements: list[Requirement] = []

    def add(attribute: str, value: str, negated: bool) -> None:
        if any(r.attribute == attribute and r.value == value for r in requirements):
            return
        importance = NEGATED_IMPORTANCE if negated else IMPORTANCE.get(attribute, IMPORTANCE["keyword"])
        requirements.append(Requirement(attribute, value, importance, negated))

    # Sizes and prices are read from the raw text first: their numbers mean nothing alone.
    text = text.lower()
    for match in _SIZE.finditer(text):
        add("size", match.group(1).upper().replace(" ", ""), False)
    text = _SIZE.sub(" ", text)
    for match in _PRICE.finditer(text):
        add("price", f"under {match.group(1).replace(',', '.')}", False)
    text = _PRICE.sub(" ", text)

    phrases, longest = _phrase_index(vocabulary)
    # Punctuation ends a negation's reach ("clamp without stud, includes wedge"); None
    # marks where a comma or bracket was.
    tokens = tuple(t for segment in _SEGMENT.split(text) for t in (*normalise(segment), None))
    negate = with_feature = False
    last_negated: str | None = None  # attribute of the last negated requirement
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token is None:
            negate = with_feature = False
            last_negated = None
            i += 1
            continue
        if token in NEGATORS:
            negate, i = True, i + 1
            continue
        if token in _CONTINUE_NEGATION:
            # "not white or black": the negation runs on over a list of the same attribute.
            i += 1
            continue
        if token == "with":
            with_feature, i = True, i + 1
            continue
        if token in STOPWORDS or token.isdigit():
            i += 1
            continue
        if token in VAGUE:
            # "gift", "something": intent without a checkable property. The missing product
            # type already marks such a query knowledge-dependent.
            i += 1
            continue
        readings, length = _longest(tokens, i, phrases, longest)
        if readings:
            # "boots without heel" excludes a feature, not the product type "heels".
            features = [c for c in readings if c.attribute == "feature"]
            concept = features[0] if negate and features else readings[0]
            attribute, value = concept.attribute, concept.value
            negated = negate or (last_negated == attribute and tokens[i - 1] in _CONTINUE_NEGATION)
        else:
            # An unknown word still says something ("floral", a brand the catalogue lacks).
            attribute, value, length = ("feature" if with_feature else "keyword"), token, 1
            negated = negate
        if negate and (end := _phrase_end(tokens, i + length, phrases, longest)) > i + length:
            # "without blue light blocking" excludes the phrase, not "blue" alone while
            # asking for "light" and "blocking".
            attribute, value, length = "keyword", " ".join(t for t in tokens[i:end] if t), end - i
        add(attribute, value, negated)
        last_negated = attribute if negated else None
        negate = with_feature = False
        i += length
    return requirements


def _phrase_end(tokens: tuple[str | None, ...], j: int, phrases: dict, longest: int) -> int:
    """Where a negated phrase ends: it runs on over up to MAX_NEGATED_EXTRA plain unknown
    words (no known term, stopword, number or list word)."""
    start = j
    while j < len(tokens) and j - start < MAX_NEGATED_EXTRA:
        token = tokens[j]
        if token is None or token in _NOT_PLAIN or token.isdigit() or _longest(tokens, j, phrases, longest)[0]:
            break
        j += 1
    return j


def _phrase_index(vocabulary: dict[str, list[str]]) -> tuple[dict[Phrase, list[Concept]], int]:
    """(every phrase a query may use -> the concepts it may mean, the preferred one first;
    the longest phrase's length). The catalogue's words extend the built-ins. A judge job
    hands every query the same vocabulary: its index is built once, not once per query."""
    snapshot = {key: list(values) for key, values in vocabulary.items()}
    for cached, index in list(_INDEXES):
        if cached == snapshot:
            return index
    index = _build_index(snapshot)
    _INDEXES.append((snapshot, index))  # a deque of a few: appends are thread-safe
    return index


def _build_index(vocabulary: dict[str, list[str]]) -> tuple[dict[Phrase, list[Concept]], int]:
    concepts = list(BUILTIN)
    known = {p for c in BUILTIN for p in c.terms}
    for key, attribute in _VOCAB_ATTRIBUTES.items():
        for value in vocabulary.get(key, []):
            for part in re.split(r"\s*[,/&]\s*|\s+and\s+", value.lower()) if attribute != "brand" else [value.lower()]:
                p = normalise(part)
                # Brands always count: a brand named like a colour is still the brand.
                if p and (attribute == "brand" or p not in known):
                    concepts.append(Concept(attribute, part.strip(), (p,), (p,)))
    index: dict[Phrase, list[Concept]] = {}
    for concept in concepts:
        for p in concept.terms:
            index.setdefault(p, []).append(concept)
    rank = {attribute: n for n, attribute in enumerate(_PRIORITY)}
    for readings in index.values():
        readings.sort(key=lambda c: rank.get(c.attribute, len(rank)))  # stable: lexicon order breaks ties
    return index, max((len(p) for p in index), default=1)


def _longest(tokens: tuple[str | None, ...], i: int, phrases: dict[Phrase, list[Concept]], longest: int):
    for n in range(min(longest, len(tokens) - i), 0, -1):
        readings = phrases.get(tokens[i : i + n])  # type: ignore[arg-type]  # a None never matches
        if readings:
            return readings, n
    return [], 0


def _tags(requirements: list[Requirement]) -> list[str]:
    attributes = {r.attribute for r in requirements}
    tags = set()
    if "brand" in attributes:
        tags.add("brand")
    if any(r.negated for r in requirements):
        tags.add("negation")
    for attribute in ("colour", "size", "gender"):
        if attribute in attributes:
            tags.add(attribute)
    # Occasions are judged by taste just like style words ("outfit for a wedding").
    if attributes & {"style", "occasion"}:
        tags.add("style-sensitive")
    if len(requirements) >= 3:
        tags.add("multi-attribute")
    if not _anchored(requirements):
        tags.add("knowledge-dependent")
    return [tag for tag in QUERY_TAGS if tag in tags]


def _anchored(requirements: list[Requirement]) -> bool:
    """A product type or a brand pins down what the shopper wants; without them it is guesswork."""
    return any(r.attribute in ("product_type", "brand") and not r.negated for r in requirements)


def _text(requirements: list[Requirement], *, rulebook: bool) -> str:
    positives = [r for r in requirements if not r.negated]
    negations = [r for r in requirements if r.negated]
    types = [r.value for r in positives if r.attribute == "product_type"]
    others = [f"{r.attribute} {r.value}" for r in positives if r.attribute != "product_type"]
    sentences = []
    if _anchored(requirements):
        subject = " or ".join(types) if types else "products"
        sentences.append(f"Highly relevant results are {subject}" + (f" with {_join(others)}." if others else "."))
    else:
        sentences.append(
            "The query names no product type or brand, so relevance depends on the shopper's intent: "
            "judge whether the product plausibly serves it" + (f", preferring {_join(others)}." if others else ".")
        )
    if negations:
        excluded = _join([f"{r.attribute} {r.value}" for r in negations])
        sentences.append(f"Anything with {excluded} is excluded by the query and irrelevant.")
    if types:
        sentences.append(
            "Other product types are irrelevant (a closely related type is at best an acceptable substitute); "
            "the right type with a secondary attribute missing is an acceptable substitute, not highly relevant."
        )
    if rulebook:
        sentences.append("Apply the project rulebook.")
    return " ".join(sentences)


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
