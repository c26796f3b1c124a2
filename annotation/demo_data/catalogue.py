"""The demo catalogue and queries: product types, invented brands, hand-placed anchor
products, the query list with its traffic tiers, and the seeded drawing of products."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from .clothing import CLOTHING
from .rankers import product_bag
from .shoes_and_accessories import ACCESSORIES, BAGS, SHOES
from .vocabulary import LETTER_SIZES, MATERIAL_NAMES, SHOE_SIZES, STYLE_PHRASES, WAIST_SIZES

PRODUCT_COUNT = 300

# Shoes first, then clothing, bags and accessories: the order the products are drawn in.
TYPES = [*SHOES, *CLOTHING, *BAGS, *ACCESSORIES]
TYPES_BY_KEY = {t.key: t for t in TYPES}


@dataclass(frozen=True)
class Brand:
    name: str
    types: tuple[str, ...]
    styles: tuple[str, ...]


BRANDS = [
    Brand(
        "Nordvik",
        ("chelsea", "ankle_boots", "winter_boots", "parka", "puffer", "wool_coat", "jumper", "beanie", "scarf"),
        ("minimalist", "casual"),
    ),
    Brand(
        "Alba & Co",
        ("tote", "shoulder_bag", "clutch", "belt", "pumps", "ankle_boots", "sandals"),
        ("elegant", "vintage"),
    ),
    Brand(
        "Kestrel Sport", ("running", "sneakers", "hoodie", "tshirt", "rain_jacket", "backpack", "beanie"), ("sporty",)
    ),
    Brand(
        "Maison Verel",
        ("evening_dress", "maxi_dress", "pumps", "trench", "wool_coat", "scarf", "clutch", "shoulder_bag"),
        ("elegant",),
    ),
    Brand(
        "Fjellvind",
        ("winter_boots", "parka", "puffer", "rain_jacket", "backpack", "beanie", "jumper"),
        ("sporty", "casual"),
    ),
    Brand(
        "Lumen Studio",
        ("tshirt", "jumper", "jeans", "shirt_dress", "backpack", "sneakers", "wool_coat", "tote"),
        ("minimalist",),
    ),
    Brand(
        "Okra & Oak",
        ("summer_dress", "maxi_dress", "sandals", "scarf", "tote", "shoulder_bag", "ankle_boots"),
        ("boho",),
    ),
    Brand("Tessaro", ("jeans", "skinny_jeans", "denim_jacket", "tshirt", "sneakers", "belt"), ("casual", "vintage")),
    Brand(
        "Wrenfield",
        ("trench", "wool_coat", "chelsea", "belt", "scarf", "jumper", "leather_jacket"),
        ("vintage", "elegant"),
    ),
    Brand(
        "Marlowe Street",
        ("hoodie", "tshirt", "sneakers", "bomber", "jeans", "backpack", "leather_jacket"),
        ("casual", "sporty"),
    ),
    Brand(
        "Pico Verde", ("tshirt", "summer_dress", "sneakers", "sandals", "backpack", "tote"), ("casual", "minimalist")
    ),
    Brand(
        "Rivabella", ("evening_dress", "pumps", "clutch", "shirt_dress", "summer_dress", "sandals"), ("elegant", "boho")
    ),
]

# Hand-placed products so that the demanding queries below have at least one exact hit
# among the randomly drawn ones.
ANCHORS = [
    dict(
        type="ankle_boots",
        brand="Nordvik",
        colour="black",
        material="leather",
        gender="women",
        size="38",
        style="elegant",
    ),
    dict(
        type="ankle_boots",
        brand="Alba & Co",
        colour="black",
        material="leather",
        gender="women",
        size="38",
        style="casual",
    ),
    dict(
        type="chelsea", brand="Nordvik", colour="black", material="leather", gender="men", size="43", style="minimalist"
    ),
    dict(
        type="winter_boots",
        brand="Fjellvind",
        colour="brown",
        material="nubuck",
        gender="men",
        size="43",
        style="casual",
    ),
    dict(type="wool_coat", brand="Wrenfield", colour="navy", material="wool", gender="men", size="L", style="elegant"),
    dict(type="evening_dress", brand="Maison Verel", colour="red", material="silk", style="elegant"),
    dict(type="evening_dress", brand="Rivabella", colour="black", material="velvet", style="elegant"),
    dict(type="summer_dress", brand="Okra & Oak", colour="red", material="cotton", style="boho"),
    dict(type="maxi_dress", brand="Okra & Oak", colour="green", material="viscose", style="boho"),
    dict(type="skinny_jeans", brand="Tessaro", colour="black", gender="women", size="W28"),
    dict(type="running", brand="Kestrel Sport", colour="white", gender="men"),
    dict(type="running", brand="Kestrel Sport", colour="blue", gender="women"),
    dict(type="sneakers", brand="Lumen Studio", colour="white", material="leather", style="minimalist"),
    dict(type="tshirt", brand="Lumen Studio", colour="white", material="organic cotton", style="minimalist"),
    dict(type="bomber", brand="Marlowe Street", colour="olive"),
    dict(type="leather_jacket", brand="Wrenfield", colour="brown", style="vintage"),
    dict(type="backpack", brand="Lumen Studio", colour="black", material="nylon", style="minimalist"),
    dict(type="tote", brand="Alba & Co", colour="camel", material="canvas", style="casual"),
    dict(type="belt", brand="Wrenfield", colour="brown", gender="men", style="vintage"),
    dict(type="scarf", brand="Nordvik", colour="green", material="wool", style="minimalist"),
]

# --- Queries ----------------------------------------------------------------------------

# (text, locale, tier). The tier drives the long-tail traffic: a few head queries get
# thousands of searches, the torso hundreds, the tail tens.
QUERIES = [
    ("sneakers", "en-GB", "head"),
    ("Winterjacke", "de-DE", "head"),
    ("jeans", "en-GB", "head"),
    ("Kleid", "de-DE", "head"),
    ("Stiefel", "de-DE", "head"),
    ("backpack", "en-GB", "torso"),
    ("Handtasche", "de-DE", "torso"),
    ("hoodie", "en-GB", "torso"),
    ("Sandalen", "de-DE", "torso"),
    ("leather jacket", "en-GB", "torso"),
    ("Strickpullover", "de-DE", "torso"),
    ("Schal", "de-DE", "torso"),
    ("nordvik boots", "en-GB", "torso"),
    ("Kestrel Sport Laufschuhe", "de-DE", "tail"),
    ("alba & co handbag", "en-GB", "tail"),
    ("Maison Verel Kleid", "de-DE", "tail"),
    ("red dress", "en-GB", "torso"),
    ("schwarze Stiefel", "de-DE", "torso"),
    ("white sneakers", "en-GB", "torso"),
    ("blaue Jeans", "de-DE", "tail"),
    ("navy coat", "en-GB", "tail"),
    ("beige Trenchcoat", "de-DE", "tail"),
    ("running shoes not white", "en-GB", "tail"),
    ("Jacke ohne Kapuze", "de-DE", "tail"),
    ("handbag not leather", "en-GB", "tail"),
    ("Sneaker nicht schwarz", "de-DE", "tail"),
    ("elegant evening dress", "en-GB", "tail"),
    ("boho summer dress", "en-GB", "tail"),
    ("minimalistischer Rucksack", "de-DE", "tail"),
    ("Vintage Lederjacke", "de-DE", "tail"),
    ("minimalist white t-shirt", "en-GB", "tail"),
    ("women's black leather ankle boots size 38", "en-GB", "tail"),
    ("Herren Winterstiefel braun Größe 43", "de-DE", "tail"),
    ("men's navy wool coat size L", "en-GB", "tail"),
    ("Damen Skinny Jeans schwarz", "de-DE", "tail"),
    ("rain jacket with hood", "en-GB", "tail"),
    ("gift for dad", "en-GB", "tail"),
    ("Geschenk für Freundin", "de-DE", "tail"),
    ("something warm for winter", "en-GB", "tail"),
    ("Outfit für Hochzeit", "de-DE", "tail"),
]
TRAFFIC = {"head": (1500, 9000), "torso": (150, 900), "tail": (8, 90)}


@dataclass
class DemoProduct:
    product_id: str
    title: str
    brand: str
    category: str
    description: str
    attributes: dict[str, Any]
    silhouette: str
    popularity: float  # tie-breaker shared by both rankers, like a sales rank
    images: list[str] = field(default_factory=list)
    bag: dict[str, float] = field(default_factory=dict)  # see product_bag


@dataclass
class DemoQuery:
    query_id: str
    text: str
    locale: str
    traffic: int


def make_products(rng: random.Random) -> list[DemoProduct]:
    products = [_make_product(rng, dict(spec)) for spec in ANCHORS]
    titles = {p.title for p in products}
    weights = [t.weight for t in TYPES]
    while len(products) < PRODUCT_COUNT:
        product = _make_product(rng, {"type": rng.choices(TYPES, weights)[0].key})
        # Identical titles would make the demo's review screens confusing; redraw.
        if product.title not in titles:
            titles.add(product.title)
            products.append(product)
    # Anchors should not all sit at the top of the catalogue.
    rng.shuffle(products)
    for number, product in enumerate(products, start=1):
        product.product_id = f"p{number:04d}"
    return products


def _make_product(rng: random.Random, spec: dict[str, Any]) -> DemoProduct:
    ptype = TYPES_BY_KEY[spec["type"]]
    brand = spec.get("brand") or rng.choice([b.name for b in BRANDS if ptype.key in b.types])
    brand_styles = next(b.styles for b in BRANDS if b.name == brand)
    preferred = [s for s in ptype.styles if s in brand_styles]
    style = spec.get("style") or rng.choice(preferred if preferred and rng.random() < 0.7 else ptype.styles)
    colour = spec.get("colour") or rng.choice(ptype.colours)
    material = spec.get("material") or rng.choice(ptype.materials)
    gender = spec.get("gender") or rng.choice(ptype.genders)
    size = spec.get("size") or _size(rng, ptype.sizing, gender)
    price = rng.randint(*ptype.price) + rng.choice([0.0, 0.95, 0.99])

    attributes = {
        "colour": colour,
        "gender": gender,
        "material": material,
        "size": size,
        "style": style,
        "season": ptype.season,
        "price_eur": round(price, 2),
    }
    if ptype.hood is not None:
        attributes["hood"] = rng.random() < ptype.hood

    words = [brand]
    # A style word in the title is what a merchandiser does now and then; it gives the
    # title-only baseline a fair chance at some style queries.
    if style in ("boho", "vintage", "minimalist") and rng.random() < 0.3:
        words.append(style.capitalize())
    if ptype.material_in_title:
        words.append(MATERIAL_NAMES[material])
    if attributes.get("hood") and ptype.key != "hoodie" and rng.random() < 0.5:
        words.append("Hooded")
    words.append(ptype.name)
    title = f"{' '.join(words)} – {colour.capitalize()}"

    first = f"{STYLE_PHRASES[style]} {ptype.noun} in {colour} {material}."
    description = f"{first[0].upper()}{first[1:]} {ptype.detail}"
    product = DemoProduct("", title, brand, ptype.category, description, attributes, ptype.silhouette, rng.random())
    product.bag = product_bag(product)
    return product


def _size(rng: random.Random, sizing: str, gender: str) -> str:
    if sizing == "shoe":
        return str(rng.choice(SHOE_SIZES[gender]))
    if sizing == "letter":
        return rng.choice(LETTER_SIZES[gender])
    if sizing == "waist":
        return f"W{rng.choice(WAIST_SIZES[gender])}"
    if sizing == "belt":
        return f"{rng.choice([80, 85, 90, 95, 100, 105])} cm"
    return "one size"


def make_queries(rng: random.Random) -> list[DemoQuery]:
    return [
        DemoQuery(f"q{i:03d}", text, locale, rng.randint(*TRAFFIC[tier]))
        for i, (text, locale, tier) in enumerate(QUERIES, start=1)
    ]
