"""Text normalisation shared by guideline extraction and judging.

Query and product text both go through `normalise`, which turns English and German
words into one canonical English token sequence ("schwarze Stiefel" and "black boots"
both become ["black", "boot"]). Matching then only compares token sequences, so a
German query meets an English product and the other way round.
"""

import functools
import itertools
import re

# German word -> English text. Only words a shopper types for fashion; everything else
# passes through unchanged. Values are English words, normalised like any other text.
GERMAN = {
    # product types
    "stiefel": "boots",
    "stiefelette": "ankle boots",
    "schuh": "shoes",
    "schuhe": "shoes",
    "turnschuh": "sneakers",
    "turnschuhe": "sneakers",
    "sandale": "sandals",
    "absatzschuhe": "heels",
    "kleid": "dress",
    "jacke": "jacket",
    "mantel": "coat",
    "hose": "trousers",
    "pullover": "jumper",
    "pulli": "jumper",
    "kapuzenpullover": "hoodie",
    "strickjacke": "cardigan",
    "hemd": "shirt",
    "bluse": "blouse",
    "rock": "skirt",
    "tasche": "bag",
    "handtasche": "handbag",
    "umhängetasche": "shoulder bag",
    "rucksack": "backpack",
    "schal": "scarf",
    "mütze": "beanie",
    "muetze": "beanie",
    "hut": "hat",
    "gürtel": "belt",
    "guertel": "belt",
    # colours
    "schwarz": "black",
    "weiß": "white",
    "weiss": "white",
    "grau": "grey",
    "dunkelblau": "navy",
    "marineblau": "navy",
    "blau": "blue",
    "rot": "red",
    "bordeaux": "burgundy",
    "weinrot": "burgundy",
    "rosa": "pink",
    "braun": "brown",
    "grün": "green",
    "gruen": "green",
    "oliv": "olive",
    "olivgrün": "olive",
    "gelb": "yellow",
    "lila": "purple",
    "violett": "purple",
    # materials
    "leder": "leather",
    "wildleder": "suede",
    "kunstleder": "fauxleather",
    "baumwolle": "cotton",
    "leinen": "linen",
    "wolle": "wool",
    "seide": "silk",
    "samt": "velvet",
    "kaschmir": "cashmere",
    "viskose": "viscose",
    "strick": "knit",
    "stroh": "straw",
    "daune": "down",
    # gender
    "damen": "women",
    "frauen": "women",
    "frau": "women",
    "herren": "men",
    "männer": "men",
    "maenner": "men",
    "mann": "men",
    "kinder": "kids",
    "freundin": "women",
    "mama": "women",
    "mutter": "women",
    "papa": "men",
    "vater": "men",
    # style, occasion, season, features
    "minimalistisch": "minimalist",
    "sportlich": "sporty",
    "lässig": "casual",
    "festlich": "festive",
    "schick": "chic",
    "klassisch": "classic",
    "romantisch": "romantic",
    "hochzeit": "wedding",
    "abend": "evening",
    "sommer": "summer",
    "regen": "rain",
    "lauf": "running",
    "kapuze": "hood",
    "reißverschluss": "zip",
    "wasserdicht": "waterproof",
    "gefüttert": "lined",
    "absatz": "heel",
    "geschenk": "gift",
    "etwas": "something",
}

# Short function words, translated only as written: stripping endings would turn English
# words into them ("under" -> "und").
GERMAN_EXACT = {
    "ohne": "without",
    "nicht": "not",
    "kein": "no",
    "keine": "no",
    "keinen": "no",
    "keiner": "no",
    "mit": "with",
    "für": "for",
    "fuer": "for",
    "und": "and",
    "oder": "or",
    "unter": "under",
    "bis": "under",
    "zum": "for",
    "zur": "for",
}

# Compounds whose parts do not translate word by word, or that name one product type.
COMPOUNDS = {
    "winterjacke": "winter jacket",
    "lederjacke": "leather jacket",
    "regenjacke": "rain jacket",
    "jeansjacke": "denim jacket",
    "daunenjacke": "puffer jacket",
    "steppjacke": "puffer jacket",
    "laufschuh": "running shoes",
    "laufschuhe": "running shoes",
    "winterstiefel": "winter boots",
    "abendkleid": "evening dress",
    "sommerkleid": "summer dress",
    "maxikleid": "maxi dress",
    "blusenkleid": "shirt dress",
    "hemdblusenkleid": "shirt dress",
    "strickpullover": "jumper",
    "trenchcoat": "trench coat",
    "wollmantel": "wool coat",
    "chelseaboots": "chelsea boots",
}

# First parts of German compounds that modify the head noun ("Lederstiefel" = leather
# boots); tried only when a word is not known as a whole.
COMPOUND_MODIFIERS = (
    "kunstleder",
    "wildleder",
    "leder",
    "baumwoll",
    "woll",
    "seiden",
    "leinen",
    "samt",
    "strick",
    "winter",
    "sommer",
    "regen",
    "lauf",
    "abend",
    "jeans",
    "daunen",
    "schwarz",
    "weiß",
    "weiss",
    "grau",
    "blau",
    "rot",
    "braun",
    "grün",
    "beige",
    "rosa",
)

# English spellings and near-synonyms folded onto one word (after plural folding).
ENGLISH = {
    "gray": "grey",
    "trainer": "sneaker",
    "sweater": "jumper",
    "pullover": "jumper",
    "tee": "tshirt",
    "rucksack": "backpack",
    "lady": "women",
    "woman": "women",
    "womens": "women",
    "female": "women",
    "man": "men",
    "mens": "men",
    "male": "men",
    "gentlemen": "men",
    "color": "colour",
    "hooded": "hood",
    "bohemian": "boho",
    "minimal": "minimalist",
    "minimalistic": "minimalist",
    "scarve": "scarf",
    "kid": "kids",
    "child": "kids",
    "children": "kids",
}

NEGATORS = frozenset({"not", "without", "no", "non", "never", "except", "sin"})  # sin: Spanish "without"

# Multi-word terms that must not be split, because their parts mean something else alone:
# faux leather is not leather ("handbag not leather" should accept it).
_FUSED = [
    ("leather", re.compile(r"\b(?:faux|vegan|pu|imitation)[\s-]+leather\b"), " fauxleather "),
    ("shirt", re.compile(r"\bt[\s-]?shirts?\b"), " tshirt "),
    ("'s", re.compile(r"'s\b"), ""),
]
_WORD = re.compile(r"[^\W_]+")
# No plain "s": English plurals would collide with German stems ("huts" -> "hut").
_GERMAN_ENDINGS = ("en", "er", "es", "em", "e", "n")
# First letters of every German word and compound known: a word's inflected forms keep them.
_GERMAN_STARTS = frozenset(word[:3] for word in (*GERMAN, *COMPOUNDS))


@functools.lru_cache(maxsize=4096)
def normalise(text: str) -> tuple[str, ...]:
    """Canonical English tokens of text (lower case, German translated, plurals folded).
    Cached: a product's title and description are read for every query it is judged for."""
    text = text.lower()
    for hint, pattern, replacement in _FUSED:
        if hint in text:  # a substring test is far cheaper than the pattern
            text = pattern.sub(replacement, text)
    return tuple(itertools.chain.from_iterable(map(_word, _WORD.findall(text))))


@functools.lru_cache(maxsize=8192)
def _word(word: str) -> tuple[str, ...]:
    german = _german(word)
    if german is not None:
        return tuple(t for part in _WORD.findall(german) for t in _english(part))
    return _english(word)


def _german(word: str) -> str | None:
    """English text for a German word, a German inflected form or a German compound."""
    if word in GERMAN_EXACT:
        return GERMAN_EXACT[word]
    if word[:3] not in _GERMAN_STARTS and not word.startswith(COMPOUND_MODIFIERS):
        return None  # no German word starts like it: most English words end here
    for form in _german_forms(word):
        if form in COMPOUNDS:
            return COMPOUNDS[form]
        if form in GERMAN:
            return GERMAN[form]
    for prefix in COMPOUND_MODIFIERS:
        rest = word[len(prefix) :]
        if word.startswith(prefix) and len(rest) >= 3:
            head = _german(rest)
            if head is not None:
                return f"{_german(prefix) or GERMAN.get(prefix + 'e', prefix)} {head}"
    return None


def _german_forms(word: str) -> list[str]:
    # "schwarze" -> "schwarz", "Jacken" -> "jacke": try the word, then without endings.
    forms = [word]
    for ending in _GERMAN_ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            forms.append(word[: -len(ending)])
    return forms


def _english(word: str) -> tuple[str, ...]:
    if word == "s":  # left over from "women's"-like forms
        return ()
    # Crude plural folding, applied to query and product alike: "boots" -> "boot",
    # "dresses" -> "dress", "boxes" -> "box", "accessories" -> "accessory"; consistency
    # matters more than correct English. Final "ie" folds onto "y" with "ies", so that
    # "hoodie", "hoodies" and "hoody" meet.
    if word.endswith("sses") or word.endswith(("xes", "ches", "shes")) and len(word) > 4:
        word = word[:-2]
    elif len(word) > 4 and word.endswith("ies"):
        word = word[:-3] + "y"
    elif len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    if len(word) > 3 and word.endswith("ie"):
        word = word[:-2] + "y"
    return (ENGLISH.get(word, word),)


def find(tokens: tuple[str, ...], needle: tuple[str, ...]) -> list[int]:
    """Start positions of needle in tokens that are not negated ("no hood" has no hood)."""
    n = len(needle)
    if not n:
        return []
    first = needle[0]
    if first not in tokens:  # the common case, answered at C speed
        return []
    hits = []
    i = tokens.index(first)
    while True:
        if tokens[i : i + n] == needle and not any(t in NEGATORS for t in tokens[max(0, i - 2) : i]):
            hits.append(i)
        try:
            i = tokens.index(first, i + 1)
        except ValueError:
            return hits


def contains(fields, needles) -> bool:
    """Whether any of the fields (token tuples) holds any of the needles."""
    return any(find(tokens, needle) for tokens in fields for needle in needles)
