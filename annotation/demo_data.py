"""Synthetic demo dataset for `python manage.py demo`.

Writes a small fashion catalogue (products.csv + generated PNG images), a set of
English and German search queries (queries.csv) and the ranked results of two toy
search engines (run_baseline.csv, run_semantic.csv) into a directory. The data is
made to exercise what qrelay is for: brand, colour, negation, style-sensitive,
multi-attribute and vague queries, two runs that share most but not all pairs, and a
baseline that visibly fails on German and negated queries.

Pure Python plus Pillow: no Django models, no network. Everything is drawn from
`random.Random` instances seeded from `seed`, so the same seed gives byte-identical
files. Brands are invented; any resemblance to a real trademark is accidental.
"""

from __future__ import annotations

import csv
import functools
import json
import pathlib
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from PIL import Image, ImageDraw, ImageOps

PRODUCT_COUNT = 300
IMAGE_SIZE = 96

RUN_DESCRIPTIONS = {
    "baseline": "Lexical token overlap on product titles only.",
    "semantic": "Title, brand, category and attributes, German-English synonyms, colour/gender matching, negation.",
}

# --- Catalogue vocabulary -------------------------------------------------------------

COLOURS = {
    "black": (32, 32, 34),
    "white": (246, 246, 244),
    "grey": (135, 135, 140),
    "navy": (28, 40, 92),
    "blue": (52, 104, 190),
    "red": (200, 32, 42),
    "burgundy": (118, 22, 46),
    "pink": (236, 150, 182),
    "beige": (216, 196, 160),
    "camel": (190, 140, 80),
    "brown": (118, 74, 40),
    "green": (48, 130, 72),
    "olive": (108, 114, 52),
    "yellow": (236, 196, 42),
}
BACKGROUNDS = [(242, 240, 236), (232, 238, 244), (240, 234, 240), (236, 242, 234), (246, 242, 228)]

MATERIAL_NAMES = {
    "leather": "Leather",
    "suede": "Suede",
    "nubuck": "Nubuck",
    "canvas": "Canvas",
    "mesh": "Mesh",
    "knit": "Knit",
    "satin": "Satin",
    "silk": "Silk",
    "velvet": "Velvet",
    "cotton": "Cotton",
    "organic cotton": "Organic Cotton",
    "linen": "Linen",
    "viscose": "Viscose",
    "denim": "Denim",
    "wool": "Wool",
    "cashmere": "Cashmere",
    "fleece": "Fleece",
    "nylon": "Nylon",
    "recycled polyester": "Recycled Polyester",
    "faux leather": "Faux Leather",
    "straw": "Straw",
}

STYLE_PHRASES = {
    "casual": "an easy everyday",
    "elegant": "an elegant",
    "sporty": "a sporty",
    "boho": "a relaxed boho",
    "minimalist": "a clean, minimalist",
    "vintage": "a vintage-inspired",
}

SHOE_SIZES = {"women": range(36, 42), "men": range(40, 47), "unisex": range(37, 46)}
LETTER_SIZES = {
    "women": ["XS", "S", "M", "L", "XL"],
    "men": ["S", "M", "L", "XL", "XXL"],
    "unisex": ["S", "M", "L", "XL"],
}
WAIST_SIZES = {"women": range(26, 33), "men": range(30, 37), "unisex": range(28, 35)}


@dataclass(frozen=True)
class ProductType:
    key: str
    name: str  # as it appears in titles, e.g. "Chelsea Boots"
    noun: str  # as it reads in a sentence, e.g. "pair of Chelsea boots"
    category: str
    genders: tuple[str, ...]
    materials: tuple[str, ...]
    styles: tuple[str, ...]
    colours: tuple[str, ...]
    sizing: str  # shoe | letter | waist | belt | one
    price: tuple[int, int]
    season: str
    silhouette: str
    detail: str
    weight: int
    hood: float | None = None  # probability of a hood; None: attribute does not apply
    material_in_title: bool = True


ALL = tuple(COLOURS)
DARK = ("black", "brown", "navy", "grey", "camel", "burgundy", "olive", "beige")

TYPES = [
    ProductType(
        "sneakers",
        "Sneakers",
        "pair of sneakers",
        "Shoes > Sneakers",
        ("women", "men", "unisex"),
        ("leather", "canvas", "suede", "mesh"),
        ("casual", "minimalist", "sporty", "vintage"),
        ("white", "black", "grey", "navy", "red", "green", "beige", "pink"),
        "shoe",
        (49, 149),
        "all-season",
        "shoe",
        "A cushioned footbed and a grippy rubber sole keep it comfortable all day.",
        28,
    ),
    ProductType(
        "running",
        "Running Shoes",
        "pair of running shoes",
        "Shoes > Running Shoes",
        ("women", "men"),
        ("mesh", "knit"),
        ("sporty",),
        ("white", "black", "blue", "grey", "red", "yellow", "pink"),
        "shoe",
        (69, 179),
        "all-season",
        "shoe",
        "Responsive foam and a breathable upper for road runs up to half-marathon distance.",
        16,
    ),
    ProductType(
        "chelsea",
        "Chelsea Boots",
        "pair of Chelsea boots",
        "Shoes > Boots",
        ("women", "men"),
        ("leather", "suede"),
        ("casual", "minimalist", "elegant", "vintage"),
        ("black", "brown", "camel", "beige"),
        "shoe",
        (89, 229),
        "autumn/winter",
        "boot",
        "Elastic side panels and a pull tab make them easy to slip on.",
        14,
    ),
    ProductType(
        "ankle_boots",
        "Ankle Boots",
        "pair of ankle boots",
        "Shoes > Boots",
        ("women",),
        ("leather", "suede"),
        ("elegant", "casual", "boho", "minimalist"),
        ("black", "brown", "beige", "burgundy", "grey"),
        "shoe",
        (79, 199),
        "autumn/winter",
        "boot",
        "A stacked block heel and a side zip.",
        14,
    ),
    ProductType(
        "winter_boots",
        "Winter Boots",
        "pair of winter boots",
        "Shoes > Boots",
        ("women", "men"),
        ("leather", "nubuck"),
        ("casual", "sporty"),
        ("brown", "black", "camel", "grey"),
        "shoe",
        (99, 239),
        "winter",
        "boot",
        "Warm faux-fur lining and a waterproof membrane for snowy days.",
        10,
    ),
    ProductType(
        "sandals",
        "Sandals",
        "pair of sandals",
        "Shoes > Sandals",
        ("women", "men"),
        ("leather", "suede"),
        ("casual", "boho", "minimalist"),
        ("brown", "black", "beige", "camel", "white", "red"),
        "shoe",
        (39, 119),
        "summer",
        "sandal",
        "Adjustable straps and a contoured cork footbed.",
        12,
    ),
    ProductType(
        "pumps",
        "Pumps",
        "pair of pumps",
        "Shoes > Heels",
        ("women",),
        ("leather", "satin", "suede"),
        ("elegant",),
        ("black", "red", "beige", "burgundy", "navy", "pink"),
        "shoe",
        (69, 189),
        "all-season",
        "heel",
        "An 8 cm stiletto heel and a pointed toe.",
        8,
    ),
    ProductType(
        "evening_dress",
        "Evening Dress",
        "evening dress",
        "Clothing > Dresses",
        ("women",),
        ("satin", "silk", "velvet"),
        ("elegant",),
        ("black", "red", "burgundy", "navy", "green", "pink"),
        "letter",
        (89, 299),
        "all-season",
        "dress",
        "Floor-length with a fitted bodice, made for dinners and weddings.",
        10,
    ),
    ProductType(
        "summer_dress",
        "Summer Dress",
        "summer dress",
        "Clothing > Dresses",
        ("women",),
        ("cotton", "linen", "viscose"),
        ("boho", "casual"),
        ("white", "yellow", "red", "blue", "pink", "green", "beige"),
        "letter",
        (39, 99),
        "summer",
        "dress",
        "Light and airy, with a tiered skirt and thin straps.",
        10,
    ),
    ProductType(
        "maxi_dress",
        "Maxi Dress",
        "maxi dress",
        "Clothing > Dresses",
        ("women",),
        ("viscose", "cotton", "silk"),
        ("boho", "elegant"),
        ("green", "red", "burgundy", "beige", "blue", "black"),
        "letter",
        (59, 159),
        "spring/summer",
        "dress",
        "A flowing ankle-length skirt and a tie waist.",
        7,
    ),
    ProductType(
        "shirt_dress",
        "Shirt Dress",
        "shirt dress",
        "Clothing > Dresses",
        ("women",),
        ("cotton", "linen"),
        ("minimalist", "casual"),
        ("white", "beige", "navy", "black", "olive"),
        "letter",
        (49, 129),
        "all-season",
        "dress",
        "A button-through front, a collar and a belt at the waist.",
        6,
    ),
    ProductType(
        "jeans",
        "Jeans",
        "pair of jeans",
        "Clothing > Jeans",
        ("women", "men"),
        ("denim",),
        ("casual", "vintage", "minimalist"),
        ("blue", "black", "grey", "white"),
        "waist",
        (49, 139),
        "all-season",
        "trousers",
        "Five pockets and a comfortable stretch.",
        12,
        material_in_title=False,
    ),
    ProductType(
        "skinny_jeans",
        "Skinny Jeans",
        "pair of skinny jeans",
        "Clothing > Jeans",
        ("women",),
        ("denim",),
        ("casual",),
        ("blue", "black", "grey"),
        "waist",
        (39, 99),
        "all-season",
        "trousers",
        "A high rise and a close fit from hip to ankle.",
        6,
        material_in_title=False,
    ),
    ProductType(
        "tshirt",
        "T-Shirt",
        "T-shirt",
        "Clothing > T-Shirts",
        ("women", "men", "unisex"),
        ("cotton", "organic cotton", "linen"),
        ("casual", "minimalist", "sporty", "vintage"),
        ALL,
        "letter",
        (15, 49),
        "all-season",
        "tshirt",
        "A crew neck and a regular fit.",
        20,
    ),
    ProductType(
        "hoodie",
        "Hoodie",
        "hoodie",
        "Clothing > Hoodies & Sweatshirts",
        ("women", "men", "unisex"),
        ("cotton", "fleece", "organic cotton"),
        ("sporty", "casual"),
        ("grey", "black", "navy", "green", "beige", "pink", "red"),
        "letter",
        (45, 99),
        "autumn/winter",
        "hoodie",
        "A brushed inside, a kangaroo pocket and a drawstring hood.",
        15,
        hood=1.0,
    ),
    ProductType(
        "jumper",
        "Jumper",
        "jumper",
        "Clothing > Knitwear",
        ("women", "men"),
        ("wool", "cashmere", "cotton"),
        ("casual", "minimalist", "elegant", "vintage"),
        ("beige", "grey", "navy", "camel", "burgundy", "green", "white"),
        "letter",
        (49, 199),
        "autumn/winter",
        "jumper",
        "Ribbed cuffs and hem in a soft, warm knit.",
        12,
    ),
    ProductType(
        "leather_jacket",
        "Leather Jacket",
        "leather jacket",
        "Clothing > Jackets",
        ("women", "men"),
        ("leather",),
        ("vintage", "casual"),
        ("black", "brown", "burgundy"),
        "letter",
        (149, 349),
        "all-season",
        "jacket",
        "An asymmetric zip and quilted shoulders, biker style.",
        8,
        hood=0.0,
        material_in_title=False,
    ),
    ProductType(
        "denim_jacket",
        "Denim Jacket",
        "denim jacket",
        "Clothing > Jackets",
        ("women", "men", "unisex"),
        ("denim",),
        ("casual", "vintage"),
        ("blue", "black", "white"),
        "letter",
        (59, 119),
        "spring/summer",
        "jacket",
        "Chest pockets and a boxy trucker fit.",
        6,
        hood=0.0,
        material_in_title=False,
    ),
    ProductType(
        "puffer",
        "Puffer Jacket",
        "puffer jacket",
        "Clothing > Jackets",
        ("women", "men"),
        ("nylon", "recycled polyester"),
        ("casual", "sporty", "minimalist"),
        ("black", "navy", "olive", "beige", "red"),
        "letter",
        (99, 279),
        "winter",
        "jacket",
        "Quilted and padded with a warm synthetic filling.",
        10,
        hood=0.6,
    ),
    ProductType(
        "rain_jacket",
        "Rain Jacket",
        "rain jacket",
        "Clothing > Jackets",
        ("women", "men", "unisex"),
        ("recycled polyester", "nylon"),
        ("sporty", "casual", "minimalist"),
        ("yellow", "navy", "olive", "black", "red"),
        "letter",
        (69, 189),
        "spring/summer",
        "jacket",
        "Waterproof, with taped seams and a packable design.",
        8,
        hood=0.9,
    ),
    ProductType(
        "bomber",
        "Bomber Jacket",
        "bomber jacket",
        "Clothing > Jackets",
        ("women", "men"),
        ("nylon", "satin"),
        ("casual", "vintage", "sporty"),
        ("olive", "black", "navy", "burgundy"),
        "letter",
        (69, 159),
        "all-season",
        "jacket",
        "Ribbed collar, cuffs and hem.",
        6,
        hood=0.0,
    ),
    ProductType(
        "wool_coat",
        "Wool Coat",
        "wool coat",
        "Clothing > Coats",
        ("women", "men"),
        ("wool", "cashmere"),
        ("elegant", "minimalist"),
        ("camel", "navy", "black", "grey", "beige"),
        "letter",
        (149, 399),
        "autumn/winter",
        "coat",
        "A notch lapel and a knee-length cut.",
        9,
        hood=0.0,
        material_in_title=False,
    ),
    ProductType(
        "trench",
        "Trench Coat",
        "trench coat",
        "Clothing > Coats",
        ("women", "men"),
        ("cotton",),
        ("elegant", "vintage", "minimalist"),
        ("beige", "camel", "navy", "black"),
        "letter",
        (129, 299),
        "spring/summer",
        "coat",
        "Double-breasted with a storm flap and a tie belt.",
        6,
        hood=0.0,
        material_in_title=False,
    ),
    ProductType(
        "parka",
        "Parka",
        "parka",
        "Clothing > Coats",
        ("women", "men"),
        ("cotton", "recycled polyester"),
        ("casual", "sporty"),
        ("olive", "navy", "black", "beige"),
        "letter",
        (149, 329),
        "winter",
        "coat",
        "Padded, water-repellent and long enough to cover the hips.",
        7,
        hood=0.95,
    ),
    ProductType(
        "tote",
        "Tote Bag",
        "tote bag",
        "Bags > Handbags",
        ("women",),
        ("leather", "canvas", "faux leather", "straw"),
        ("casual", "minimalist", "boho"),
        ("black", "brown", "beige", "camel", "white"),
        "one",
        (39, 189),
        "all-season",
        "bag",
        "Roomy enough for a laptop, with an inside zip pocket.",
        8,
    ),
    ProductType(
        "shoulder_bag",
        "Shoulder Bag",
        "shoulder bag",
        "Bags > Handbags",
        ("women",),
        ("leather", "suede", "faux leather"),
        ("elegant", "vintage", "boho"),
        ("black", "brown", "burgundy", "camel", "red", "beige"),
        "one",
        (59, 249),
        "all-season",
        "bag",
        "A magnetic flap closure and an adjustable strap.",
        8,
    ),
    ProductType(
        "clutch",
        "Clutch",
        "clutch",
        "Bags > Handbags",
        ("women",),
        ("satin", "leather", "velvet"),
        ("elegant",),
        ("black", "red", "burgundy", "pink", "beige"),
        "one",
        (39, 129),
        "all-season",
        "bag",
        "A slim evening bag with a detachable chain.",
        5,
    ),
    ProductType(
        "backpack",
        "Backpack",
        "backpack",
        "Bags > Backpacks",
        ("unisex",),
        ("nylon", "canvas", "leather", "recycled polyester"),
        ("minimalist", "sporty", "casual", "vintage"),
        ("black", "grey", "navy", "olive", "brown", "beige"),
        "one",
        (39, 169),
        "all-season",
        "backpack",
        "A padded laptop sleeve and water-resistant zips.",
        14,
    ),
    ProductType(
        "scarf",
        "Scarf",
        "scarf",
        "Accessories > Scarves",
        ("women", "unisex"),
        ("wool", "cashmere", "silk", "cotton"),
        ("elegant", "boho", "minimalist", "casual"),
        ALL,
        "one",
        (19, 149),
        "autumn/winter",
        "scarf",
        "Generously sized, with fringed ends.",
        10,
    ),
    ProductType(
        "beanie",
        "Beanie",
        "beanie",
        "Accessories > Hats",
        ("unisex",),
        ("wool", "cashmere", "cotton"),
        ("casual", "sporty", "minimalist"),
        ("grey", "black", "navy", "red", "olive", "camel"),
        "one",
        (15, 59),
        "winter",
        "beanie",
        "A ribbed knit with a turn-up cuff.",
        6,
    ),
    ProductType(
        "belt",
        "Belt",
        "belt",
        "Accessories > Belts",
        ("women", "men"),
        ("leather", "suede"),
        ("casual", "elegant", "vintage"),
        ("black", "brown", "camel"),
        "belt",
        (29, 99),
        "all-season",
        "belt",
        "A brushed metal buckle on full-grain hide.",
        6,
    ),
]
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

# --- Ranker vocabulary --------------------------------------------------------------------

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


# --- Public API -------------------------------------------------------------------------------


def write_demo_files(directory: pathlib.Path, *, seed: int = 7) -> dict[str, pathlib.Path]:
    """Write products.csv, queries.csv, run_baseline.csv, run_semantic.csv and images/*.png
    into directory (created if missing).

    Returns {"products": path, "queries": path, "run_baseline": path, "run_semantic": path}.
    Image paths inside products.csv are relative to products.csv. Same seed, same bytes.
    """
    directory = pathlib.Path(directory)
    (directory / "images").mkdir(parents=True, exist_ok=True)
    # Separate streams per concern, so that tuning one part does not reshuffle the others.
    products = _make_products(random.Random(f"{seed}:products"))
    queries = _make_queries(random.Random(f"{seed}:queries"))
    _draw_images(directory, products, random.Random(f"{seed}:images"))

    paths = {
        "products": directory / "products.csv",
        "queries": directory / "queries.csv",
        "run_baseline": directory / "run_baseline.csv",
        "run_semantic": directory / "run_semantic.csv",
    }
    _write_csv(
        paths["products"],
        ["product_id", "title", "brand", "category", "description", "attributes", "image"],
        [
            [
                p.product_id,
                p.title,
                p.brand,
                p.category,
                p.description,
                json.dumps(p.attributes, ensure_ascii=False),
                "|".join(p.images),
            ]
            for p in products
        ],
    )
    _write_csv(
        paths["queries"],
        ["query_id", "query", "locale", "traffic"],
        [[q.query_id, q.text, q.locale, q.traffic] for q in queries],
    )
    # Both engines cut a query's list at the same depth, as one evaluation setup would.
    depth_rng = random.Random(f"{seed}:depth")
    depths = {q.query_id: depth_rng.randint(10, 20) for q in queries}
    for name, scorer in (("baseline", _baseline_score), ("semantic", _semantic_score)):
        rows = []
        for q in queries:
            ranked = _rank(q.text, products, scorer, depth=depths[q.query_id])
            rows += [[q.query_id, pid, rank, f"{score:.4f}"] for rank, (pid, score) in enumerate(ranked, start=1)]
        _write_csv(paths[f"run_{name}"], ["query_id", "product_id", "rank", "score"], rows)
    return paths


# --- Catalogue ------------------------------------------------------------------------------------


@dataclass
class _Product:
    product_id: str
    title: str
    brand: str
    category: str
    description: str
    attributes: dict
    silhouette: str
    popularity: float  # tie-breaker shared by both rankers, like a sales rank
    images: list[str] = field(default_factory=list)
    bag: dict[str, float] = field(default_factory=dict)  # see _product_bag


@dataclass
class _Query:
    query_id: str
    text: str
    locale: str
    traffic: int


def _make_products(rng: random.Random) -> list[_Product]:
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


def _make_product(rng: random.Random, spec: dict) -> _Product:
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
    product = _Product("", title, brand, ptype.category, description, attributes, ptype.silhouette, rng.random())
    product.bag = _product_bag(product)
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


def _make_queries(rng: random.Random) -> list[_Query]:
    return [
        _Query(f"q{i:03d}", text, locale, rng.randint(*TRAFFIC[tier]))
        for i, (text, locale, tier) in enumerate(QUERIES, start=1)
    ]


# --- Images ---------------------------------------------------------------------------------------


def _draw_images(directory: pathlib.Path, products: list[_Product], rng: random.Random) -> None:
    for p in products:
        fill = COLOURS[p.attributes["colour"]]
        image = _draw(p.silhouette, fill, rng.choice(BACKGROUNDS))
        p.images = [f"images/{p.product_id}.png"]
        image.save(directory / p.images[0], format="PNG")
        # A few products get a second, mirrored view, like a back or side shot.
        if rng.random() < 0.06:
            p.images.append(f"images/{p.product_id}_2.png")
            ImageOps.mirror(_draw(p.silhouette, fill, rng.choice(BACKGROUNDS))).save(
                directory / p.images[1], format="PNG"
            )


SILHOUETTES = {
    "shoe": [(8, 66), (8, 44), (20, 40), (34, 46), (46, 34), (56, 34), (68, 46), (82, 52), (88, 58), (88, 66)],
    "boot": [(26, 14), (52, 14), (54, 48), (80, 54), (84, 68), (24, 68)],
    "heel": [(8, 62), (10, 52), (30, 46), (46, 48), (70, 32), (84, 30), (86, 42), (62, 52), (28, 64)],
    "dress": [(38, 10), (58, 10), (60, 34), (78, 86), (18, 86), (36, 34)],
    "trousers": [(28, 10), (68, 10), (72, 88), (54, 88), (48, 36), (42, 88), (24, 88)],
    "tshirt": [
        (30, 16),
        (40, 12),
        (56, 12),
        (66, 16),
        (84, 30),
        (76, 42),
        (66, 36),
        (66, 84),
        (30, 84),
        (30, 36),
        (20, 42),
        (12, 30),
    ],
    "jumper": [
        (30, 16),
        (40, 12),
        (56, 12),
        (66, 16),
        (82, 30),
        (90, 80),
        (78, 82),
        (66, 40),
        (66, 84),
        (30, 84),
        (30, 40),
        (18, 82),
        (6, 80),
        (14, 30),
    ],
    "jacket": [
        (30, 20),
        (40, 14),
        (56, 14),
        (66, 20),
        (82, 30),
        (88, 78),
        (76, 80),
        (68, 44),
        (68, 82),
        (28, 82),
        (28, 44),
        (20, 80),
        (8, 78),
        (14, 30),
    ],
    "coat": [
        (30, 10),
        (40, 6),
        (56, 6),
        (66, 10),
        (82, 22),
        (88, 70),
        (76, 72),
        (68, 36),
        (70, 92),
        (26, 92),
        (28, 36),
        (20, 72),
        (8, 70),
        (14, 22),
    ],
    "scarf": [(20, 8), (40, 8), (76, 80), (56, 80)],
}


def _draw(silhouette: str, fill: tuple[int, int, int], background: tuple[int, int, int]) -> Image.Image:
    image = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), background)
    d = ImageDraw.Draw(image)
    # A darker edge keeps white and beige products visible on a light background.
    edge = tuple(int(c * 0.55) for c in fill) if sum(fill) > 150 else (110, 110, 110)
    if silhouette in SILHOUETTES:
        d.polygon(SILHOUETTES[silhouette], fill=fill, outline=edge, width=2)
    if silhouette in ("shoe", "boot"):
        d.rectangle((8 if silhouette == "shoe" else 24, 66, 88 if silhouette == "shoe" else 84, 72), fill=edge)
    elif silhouette == "heel":
        d.polygon([(78, 38), (86, 38), (84, 80), (81, 80)], fill=edge)
    elif silhouette == "sandal":
        d.ellipse((10, 58, 86, 72), fill=edge)
        for x in (28, 50, 68):
            d.arc((x - 12, 36, x + 12, 72), 180, 360, fill=fill, width=6)
    elif silhouette == "hoodie":
        d.polygon(SILHOUETTES["jumper"], fill=fill, outline=edge, width=2)
        d.ellipse((34, 2, 62, 28), fill=fill, outline=edge, width=2)
    elif silhouette in ("jacket", "coat"):
        d.line((48, 14 if silhouette == "jacket" else 6, 48, 92), fill=edge, width=2)
    elif silhouette == "bag":
        d.arc((30, 16, 66, 60), 180, 360, fill=edge, width=5)
        d.rounded_rectangle((18, 38, 78, 84), radius=6, fill=fill, outline=edge, width=2)
    elif silhouette == "backpack":
        d.arc((38, 6, 58, 30), 180, 360, fill=edge, width=4)
        d.rounded_rectangle((24, 16, 72, 88), radius=14, fill=fill, outline=edge, width=2)
        d.rounded_rectangle((32, 56, 64, 82), radius=6, outline=edge, width=2)
    elif silhouette == "scarf":
        for x in range(58, 78, 4):
            d.line((x, 80, x, 90), fill=edge, width=2)
    elif silhouette == "beanie":
        d.chord((18, 20, 78, 100), 180, 360, fill=fill, outline=edge, width=2)
        d.rectangle((16, 58, 80, 72), fill=edge)
    elif silhouette == "belt":
        d.rectangle((6, 40, 90, 56), fill=fill, outline=edge, width=2)
        d.rectangle((30, 36, 44, 60), outline=(180, 180, 185), width=3)
    return image


# --- Rankers ------------------------------------------------------------------------------------


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


def _baseline_score(query: str, product: _Product) -> float:
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
    positives, negatives = [], []
    words = [t for t in _tokens(query) if t not in STOPWORDS]
    for i, token in enumerate(words):
        if token in NEGATORS:
            continue
        (negatives if i > 0 and words[i - 1] in NEGATORS else positives).extend(_slots(token))
    return tuple(positives), tuple(negatives)


def _semantic_score(query: str, product: _Product) -> float:
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


def _product_bag(product: _Product) -> dict[str, float]:
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


def _rank(
    query: str, products: list[_Product], scorer: Callable[[str, _Product], float], *, depth: int
) -> list[tuple[str, float]]:
    """Top `depth` products; when few match, low scorers fill the list in popularity order."""
    scored = [(round(scorer(query, p), 4), p.popularity, p.product_id) for p in products]
    scored.sort(key=lambda s: (-s[0], -s[1], s[2]))
    return [(pid, score) for score, _, pid in scored[:depth]]


def _write_csv(path: pathlib.Path, header: list[str], rows: list[list]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
