"""What the offline judge knows about fashion: product types, colours, materials, styles,
genders, occasions, seasons and features, each with the words that express it.

A concept's `terms` are the words a query may use for it; a product satisfies it when its
text contains a term or one of the `extra` words (narrower things: navy is a blue,
suede is a leather, a tote is a handbag). Everything is written in plain English here and
normalised once at import, so German input meets it through `text.normalise`.
"""

from dataclasses import dataclass

from .text import normalise

# Importance per attribute (0..1): the product type decides what the product is; brand
# and colour are what shoppers most often filter on; style is a matter of taste.
IMPORTANCE = {
    "product_type": 1.0,
    "brand": 0.8,
    "colour": 0.7,
    "gender": 0.6,
    "price": 0.6,
    "feature": 0.6,
    "size": 0.5,
    "material": 0.5,
    "season": 0.5,
    "occasion": 0.5,
    "style": 0.4,
    "keyword": 0.3,  # a query word the lexicon does not know: weak evidence either way
}
NEGATED_IMPORTANCE = 0.9

Phrase = tuple[str, ...]


@dataclass(frozen=True)
class Concept:
    attribute: str
    value: str  # display value, e.g. "running shoes"
    terms: tuple[Phrase, ...]  # how a query says it
    satisfiers: tuple[Phrase, ...]  # what a product may show to meet it (terms + narrower words)
    related: tuple[Phrase, ...] = ()  # product types only: a substitute, not the thing asked for


def _phrases(words) -> tuple[Phrase, ...]:
    out = []
    for word in words:
        p = normalise(word)
        if p and p not in out:
            out.append(p)
    return tuple(out)


def _table(attribute: str, rows: dict[str, tuple[list[str], list[str]]]) -> list[Concept]:
    concepts = []
    for value, (aliases, extra) in rows.items():
        terms = _phrases([value, *aliases])
        concepts.append(Concept(attribute, value, terms, terms + _phrases(extra)))
    return concepts


# name -> (aliases, narrower types or words a product may show, related types worth half
# credit). Narrower and related entries that are type names bring their own words along.
_TYPES = {
    "shoes": (["footwear"], ["sneakers", "boots", "sandals", "pumps", "running shoes", "loafers"], []),
    "sneakers": (["trainers"], [], ["running shoes"]),
    "running shoes": ([], [], ["sneakers"]),
    "boots": ([], ["ankle boots", "chelsea boots", "winter boots"], []),
    "ankle boots": ([], [], ["boots"]),
    "chelsea boots": ([], [], ["boots"]),
    "winter boots": ([], [], ["boots"]),
    "sandals": ([], [], []),
    "pumps": (["heels", "high heels"], [], []),
    "dress": ([], ["evening dress", "summer dress", "maxi dress", "shirt dress"], []),
    "evening dress": (["gown"], [], ["dress"]),
    "summer dress": ([], [], ["dress"]),
    "maxi dress": ([], [], ["dress"]),
    "shirt dress": ([], [], ["dress"]),
    "jeans": ([], ["skinny jeans"], ["trousers"]),
    "skinny jeans": ([], [], ["jeans"]),
    "trousers": (["pants"], ["jeans"], []),
    "skirt": ([], [], []),
    "t-shirt": ([], [], ["shirt"]),
    "shirt": ([], [], ["t-shirt", "blouse"]),
    "blouse": ([], [], ["shirt"]),
    "hoodie": (["hooded sweatshirt"], [], ["jumper", "sweatshirt"]),
    "sweatshirt": ([], ["hoodie"], ["jumper"]),
    "jumper": (["knitwear"], [], ["hoodie", "cardigan"]),
    "cardigan": ([], [], ["jumper"]),
    "jacket": ([], ["parka", "anorak"], ["coat"]),
    "leather jacket": ([], [], ["jacket"]),
    "denim jacket": ([], [], ["jacket"]),
    "rain jacket": (["raincoat"], [], ["jacket"]),
    "puffer jacket": (["puffer", "down jacket"], [], ["jacket"]),
    "bomber jacket": (["bomber"], [], ["jacket"]),
    "coat": ([], ["parka", "trench coat"], ["jacket"]),
    "wool coat": ([], [], ["coat"]),
    "trench coat": (["trench"], [], ["coat"]),
    "parka": ([], [], ["jacket", "coat"]),
    "bag": ([], ["handbag", "backpack"], []),
    "handbag": ([], ["tote bag", "shoulder bag", "clutch"], ["bag"]),
    "tote bag": (["tote"], [], ["handbag"]),
    "shoulder bag": ([], [], ["handbag"]),
    "clutch": ([], [], ["handbag"]),
    "backpack": ([], [], ["bag"]),
    "scarf": ([], [], []),
    "hat": (["cap"], ["beanie"], []),
    "beanie": ([], [], ["hat"]),
    "belt": ([], [], []),
}


def _type_words(name: str) -> list[str]:
    """The name, its aliases and, recursively, its narrower types' words."""
    if name not in _TYPES:
        return [name]
    aliases, narrower, _ = _TYPES[name]
    return [name, *aliases, *(w for n in narrower for w in _type_words(n))]


TYPES = [
    Concept(
        "product_type",
        name,
        _phrases([name, *aliases]),
        _phrases(_type_words(name)),
        _phrases([w for r in related for w in _type_words(r)]),
    )
    for name, (aliases, _, related) in _TYPES.items()
]
# Last words of type names ("jacket", "dress"): a type word followed by one of these
# only modifies it ("Shirt Dress" is a dress, not a shirt).
HEAD_NOUNS = frozenset(p[-1] for concept in TYPES for p in concept.satisfiers)

# Shades count for their base colour (a navy coat is a blue coat), not the other way round.
COLOURS = _table(
    "colour",
    {
        "black": (["jet black"], []),
        "white": (["off-white", "cream", "ivory"], []),
        "grey": (["charcoal", "anthracite"], []),
        "navy": (["dark blue", "navy blue"], []),
        "blue": (["light blue"], ["navy"]),
        "red": ([], ["burgundy"]),
        "burgundy": (["wine red", "bordeaux", "maroon"], []),
        "pink": (["rose"], []),
        "beige": (["sand", "nude"], ["camel"]),
        "camel": (["tan", "cognac"], []),
        "brown": (["chocolate"], ["camel"]),
        "green": ([], ["olive"]),
        "olive": (["khaki"], []),
        "yellow": (["mustard"], []),
        "orange": ([], []),
        "purple": (["violet", "lilac"], []),
        "gold": ([], []),
        "silver": ([], []),
    },
)
# Suede and nubuck are leathers: a shopper who rules out leather rules them out too.
MATERIALS = _table(
    "material",
    {
        "leather": ([], ["suede", "nubuck", "nappa"]),
        "faux leather": (["vegan leather"], []),
        "suede": ([], []),
        "nubuck": ([], []),
        "canvas": ([], []),
        "mesh": ([], []),
        "knit": (["knitted"], []),
        "satin": ([], []),
        "silk": ([], []),
        "velvet": ([], []),
        "cotton": ([], []),
        "organic cotton": ([], []),
        "linen": ([], []),
        "viscose": ([], []),
        "denim": ([], []),
        "wool": (["woollen"], ["cashmere", "merino"]),
        "cashmere": ([], []),
        "fleece": ([], []),
        "nylon": ([], []),
        "polyester": ([], []),
        "recycled polyester": ([], []),
        "straw": ([], []),
        "down": ([], []),
    },
)
STYLES = _table(
    "style",
    {
        "elegant": (["classy", "sophisticated"], []),
        "boho": (["hippie"], []),
        "minimalist": (["purist"], []),
        "vintage": (["retro"], []),
        "casual": (["everyday"], []),
        "sporty": (["athletic", "sport"], []),
        "chic": ([], []),
        "festive": ([], []),
        "classic": (["timeless"], []),
        "romantic": ([], []),
        "edgy": ([], []),
        "preppy": ([], []),
        "streetwear": ([], []),
    },
)
GENDERS = _table(
    "gender",
    {
        "women": (["girlfriend", "wife", "mum", "mom", "mother", "sister"], []),
        "men": (["dad", "father", "husband", "boyfriend", "brother"], []),
        "kids": (["boys", "girls"], []),
        "unisex": ([], []),
    },
)
# Occasions are met by what suits them, not by the word itself.
OCCASIONS = _table(
    "occasion",
    {
        "wedding": ([], ["elegant", "evening", "festive", "formal", "cocktail"]),
        "party": ([], ["evening", "festive", "cocktail", "sequin"]),
        "office": (["business", "work"], ["formal", "blazer", "elegant"]),
        "beach": (["holiday", "vacation"], ["summer", "sandals", "straw", "linen"]),
    },
)
SEASONS = _table(
    "season",
    {
        "winter": ([], []),
        "summer": ([], []),
        "autumn": (["fall"], []),
        "spring": ([], []),
    },
)
FEATURES = _table(
    "feature",
    {
        "hood": ([], ["hoodie"]),
        "waterproof": (["water-repellent"], ["rain"]),
        "zip": (["zipper"], []),
        "lined": (["lining"], []),
        "pockets": (["pocket"], []),
        "heel": (["high heel", "stiletto"], []),
        "print": (["printed"], []),
        "floral": (["flowers"], []),
        "stripes": (["striped"], []),
        "logo": ([], []),
        "sleeveless": ([], []),
        "warm": (["warmth"], ["padded", "fleece", "wool", "cashmere", "down", "lining", "fur", "thermal", "quilted"]),
    },
)

BUILTIN = TYPES + COLOURS + MATERIALS + STYLES + GENDERS + OCCASIONS + SEASONS + FEATURES

# Words that carry intent but no checkable property ("gift for dad"): ignored as
# requirements, but they mark the query as knowledge-dependent.
VAGUE = frozenset(
    normalise(
        "gift present idea something outfit look nice cool best new cheap trendy stylish beautiful cute great good "
        "schön günstig neu perfect"
    )
)
STOPWORDS = frozenset(
    normalise(
        "for a an the and or in on of to by from at made my your his her some pair set "
        "der die das den dem ein eine einen im am zu vom von aus auf in "
        # Spanish: ESCI has a Spanish store, whose queries would otherwise ask for "para".
        "de del la las el los para con y en un una al por"
    )
)
