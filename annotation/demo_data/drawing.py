"""The demo's product images: a flat silhouette per product type in the product's colour,
on a pale background, drawn with Pillow."""

from __future__ import annotations

import pathlib
import random
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw, ImageOps

from .vocabulary import COLOURS

if TYPE_CHECKING:
    from .catalogue import DemoProduct

IMAGE_SIZE = 96
BACKGROUNDS = [(242, 240, 236), (232, 238, 244), (240, 234, 240), (236, 242, 234), (246, 242, 228)]


def draw_images(directory: pathlib.Path, products: list[DemoProduct], rng: random.Random) -> None:
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
