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
import json
import pathlib
import random

from .catalogue import make_products, make_queries
from .drawing import draw_images
from .rankers import baseline_score, rank_products, semantic_score

RUN_DESCRIPTIONS = {
    "baseline": "Lexical token overlap on product titles only.",
    "semantic": "Title, brand, category and attributes, German-English synonyms, colour/gender matching, negation.",
}


def write_demo_files(directory: pathlib.Path, *, seed: int = 7) -> dict[str, pathlib.Path]:
    """Write products.csv, queries.csv, run_baseline.csv, run_semantic.csv and images/*.png
    into directory (created if missing).

    Returns {"products": path, "queries": path, "run_baseline": path, "run_semantic": path}.
    Image paths inside products.csv are relative to products.csv. Same seed, same bytes.
    """
    directory = pathlib.Path(directory)
    (directory / "images").mkdir(parents=True, exist_ok=True)
    # Separate streams per concern, so that tuning one part does not reshuffle the others.
    products = make_products(random.Random(f"{seed}:products"))
    queries = make_queries(random.Random(f"{seed}:queries"))
    draw_images(directory, products, random.Random(f"{seed}:images"))

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
    for name, scorer in (("baseline", baseline_score), ("semantic", semantic_score)):
        rows = []
        for q in queries:
            ranked = rank_products(q.text, products, scorer, depth=depths[q.query_id])
            rows += [[q.query_id, pid, rank, f"{score:.4f}"] for rank, (pid, score) in enumerate(ranked, start=1)]
        _write_csv(paths[f"run_{name}"], ["query_id", "product_id", "rank", "score"], rows)
    return paths


def _write_csv(path: pathlib.Path, header: list[str], rows: list[list[object]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
