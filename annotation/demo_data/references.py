"""The demo's queries with reference images (MERIT): a few English and German queries whose
conditions interleave text with drawn swatches and patterns, and both toy engines' results
for them. Written beside the main demo files (`references/`), imported by `manage.py demo`
after them. Deterministic: the same seed gives the same bytes."""

from __future__ import annotations

import csv
import json
import pathlib
import random

from PIL import Image, ImageDraw

from .catalogue import make_products
from .rankers import baseline_score, rank_products, semantic_score
from .vocabulary import COLOURS

SIZE = 64

# (query id, text the engines search with, locale, traffic, images, conditions); an image
# is ("swatch", colour) or (pattern, colour): "stripes" or "check".
REFERENCE_QUERIES = [
    ("m01", "red dress", "en-GB", 420, [("swatch", "red")], [{"text": "a dress in the colour of"}, {"image": 0}]),
    (
        "m02",
        "grüner Schal",
        "de-DE",
        160,
        [("stripes", "grey"), ("swatch", "green")],
        [{"text": "ein Schal mit dem Muster von"}, {"image": 0}, {"text": "in der Farbe von"}, {"image": 1}],
    ),
    (
        "m03",
        "white sneakers",
        "en-GB",
        240,
        [("swatch", "white"), ("check", "navy")],
        [{"text": "sneakers in the colour of"}, {"image": 0}, {"text": "with the pattern of"}, {"image": 1}],
    ),
    ("m04", "braune Stiefel", "de-DE", 90, [("swatch", "brown")], [{"text": "Stiefel in der Farbe von"}, {"image": 0}]),
]


def write_reference_files(directory: pathlib.Path, *, seed: int = 7) -> dict[str, pathlib.Path]:
    """Write references/queries.jsonl (+ its images) and references/run_baseline.csv,
    run_semantic.csv under directory; returns {"queries": …, "run_baseline": …, "run_semantic": …}."""
    folder = pathlib.Path(directory) / "references"
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for query_id, text, locale, traffic, images, conditions in REFERENCE_QUERIES:
        names = []
        for position, (kind, colour) in enumerate(images):
            name = f"{query_id}_{position + 1}.png"
            _draw(kind, COLOURS[colour]).save(folder / name, format="PNG")
            names.append(name)
        row = {"query_id": query_id, "query": text, "locale": locale, "traffic": traffic, "image": names,
               "conditions": conditions}  # fmt: skip
        lines.append(json.dumps(row, ensure_ascii=False))
    paths = {"queries": folder / "queries.jsonl"}
    paths["queries"].write_text("\n".join(lines) + "\n", encoding="utf-8")
    # The same products as the main demo files (same seed and stream), for the engines.
    products = make_products(random.Random(f"{seed}:products"))
    depths = random.Random(f"{seed}:reference-depth")
    depth = {query_id: depths.randint(10, 20) for query_id, *_ in REFERENCE_QUERIES}
    for name, scorer in (("baseline", baseline_score), ("semantic", semantic_score)):
        path = paths[f"run_{name}"] = folder / f"run_{name}.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["query_id", "product_id", "rank", "score"])
            for query_id, text, *_ in REFERENCE_QUERIES:
                ranked = rank_products(text, products, scorer, depth=depth[query_id])
                writer.writerows([query_id, pid, rank, f"{score:.4f}"] for rank, (pid, score) in enumerate(ranked, 1))
    return paths


def _draw(kind: str, colour: tuple[int, int, int]) -> Image.Image:
    image = Image.new("RGB", (SIZE, SIZE), colour if kind == "swatch" else (246, 246, 244))
    draw = ImageDraw.Draw(image)
    if kind == "stripes":
        for x in range(0, SIZE, 12):
            draw.rectangle([x, 0, x + 5, SIZE], fill=colour)
    elif kind == "check":
        for x in range(0, SIZE, 16):
            for y in range(0, SIZE, 16):
                if (x + y) // 16 % 2 == 0:
                    draw.rectangle([x, y, x + 15, y + 15], fill=colour)
    return image
