"""The demo catalogue's vocabulary: colours (with the RGB the images are drawn in),
materials, style phrases, size ranges, and what a product type is made of."""

from __future__ import annotations

from dataclasses import dataclass

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
