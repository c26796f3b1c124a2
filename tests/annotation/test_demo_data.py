"""The demo dataset generator: files, formats, referential integrity, determinism.

No database: write_demo_files only writes CSV and PNG files.
"""

import csv
import json
from collections import defaultdict

import pytest
from PIL import Image

from annotation.demo_data import write_demo_files


def read_rows(path):
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    directory = tmp_path_factory.mktemp("demo")
    paths = write_demo_files(directory, seed=7)
    return directory, paths


@pytest.fixture(scope="module")
def runs(demo):
    _, paths = demo
    return {name: read_rows(paths[f"run_{name}"])[1] for name in ("baseline", "semantic")}


def test_it_writes_every_file_with_its_header(demo):
    _, paths = demo
    assert set(paths) == {"products", "queries", "run_baseline", "run_semantic"}
    headers = {
        "products": ["product_id", "title", "brand", "category", "description", "attributes", "image"],
        "queries": ["query_id", "query", "locale", "traffic"],
        "run_baseline": ["query_id", "product_id", "rank", "score"],
        "run_semantic": ["query_id", "product_id", "rank", "score"],
    }
    for key, header in headers.items():
        assert paths[key].is_file()
        assert read_rows(paths[key])[0] == header


def test_the_catalogue_has_about_300_products_with_json_attributes(demo):
    _, paths = demo
    _, products = read_rows(paths["products"])
    assert 280 <= len(products) <= 320
    assert len({p["product_id"] for p in products}) == len(products)
    for p in products:
        attributes = json.loads(p["attributes"])
        assert {"colour", "gender", "material", "size", "style", "price_eur"} <= set(attributes)
        assert p["title"] and p["brand"] and " > " in p["category"] and p["description"]
    assert len({p["brand"] for p in products}) >= 10


def test_every_image_exists_and_opens(demo):
    directory, paths = demo
    _, products = read_rows(paths["products"])
    images = [name for p in products for name in p["image"].split("|")]
    assert len(images) >= len(products)
    for name in images:
        path = paths["products"].parent / name
        assert path.is_file(), name
        with Image.open(path) as image:
            image.verify()
            assert image.format == "PNG"
    assert any("|" in p["image"] for p in products)


def test_queries_cover_both_locales_with_long_tail_traffic(demo):
    _, paths = demo
    _, queries = read_rows(paths["queries"])
    assert 35 <= len(queries) <= 45
    locales = [q["locale"] for q in queries]
    assert set(locales) == {"en-GB", "de-DE"}
    assert 0.4 <= locales.count("de-DE") / len(locales) <= 0.6
    traffic = sorted((int(q["traffic"]) for q in queries), reverse=True)
    assert traffic[0] >= 1000 and traffic[len(traffic) // 2] < 500


@pytest.mark.parametrize("name", ["baseline", "semantic"])
def test_run_rows_refer_to_known_ids_with_contiguous_ranks(demo, runs, name):
    _, paths = demo
    product_ids = {p["product_id"] for p in read_rows(paths["products"])[1]}
    query_ids = {q["query_id"] for q in read_rows(paths["queries"])[1]}
    by_query = defaultdict(list)
    for row in runs[name]:
        assert row["query_id"] in query_ids
        assert row["product_id"] in product_ids
        by_query[row["query_id"]].append(row)
    assert set(by_query) == query_ids
    for rows in by_query.values():
        rows.sort(key=lambda r: int(r["rank"]))
        assert [int(r["rank"]) for r in rows] == list(range(1, len(rows) + 1))
        assert 10 <= len(rows) <= 20
        assert len({r["product_id"] for r in rows}) == len(rows)
        scores = [float(r["score"]) for r in rows]
        assert scores == sorted(scores, reverse=True)


def test_the_two_runs_share_some_but_not_all_pairs(runs):
    baseline, semantic = ({(r["query_id"], r["product_id"]) for r in runs[n]} for n in ("baseline", "semantic"))
    # Share of the semantic run's pairs that judging the baseline already covers.
    shared = len(baseline & semantic) / len(semantic)
    assert 0.3 <= shared <= 0.9


def test_the_same_seed_gives_identical_files(demo, tmp_path):
    directory, first = demo
    second = write_demo_files(tmp_path, seed=7)
    for key in first:
        assert first[key].read_bytes() == second[key].read_bytes(), key
    first_images = sorted(p.name for p in (directory / "images").iterdir())
    assert first_images == sorted(p.name for p in (tmp_path / "images").iterdir())
    for name in first_images[:20]:
        assert (directory / "images" / name).read_bytes() == (tmp_path / "images" / name).read_bytes()


def test_a_different_seed_gives_a_different_catalogue(demo, tmp_path):
    _, first = demo
    second = write_demo_files(tmp_path, seed=8)
    assert first["products"].read_bytes() != second["products"].read_bytes()
