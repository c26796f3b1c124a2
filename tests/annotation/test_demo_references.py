"""The demo's queries with reference images (MERIT): files the real importers accept,
results over the demo's own products, the same bytes for the same seed."""

import csv

import pytest

from annotation.demo_data import write_demo_files
from annotation.demo_data.references import REFERENCE_QUERIES, write_reference_files
from annotation.importers import products_import, queries_import, run_import
from annotation.models import Query, QueryImage, SearchResult
from annotation.services import project_create


def test_the_files_are_deterministic(tmp_path):
    first = write_reference_files(tmp_path / "a", seed=7)
    second = write_reference_files(tmp_path / "b", seed=7)

    for key in first:
        assert first[key].read_bytes() == second[key].read_bytes()
    assert len(list(first["queries"].parent.glob("*.png"))) == sum(len(q[4]) for q in REFERENCE_QUERIES)


@pytest.mark.django_db
def test_the_demo_reference_queries_import_with_their_images_into_both_runs(tmp_path):
    project = project_create(name="demo")
    files = write_demo_files(tmp_path, seed=7)
    references = write_reference_files(tmp_path, seed=7)
    products_import(project=project, path=files["products"])
    queries_import(project=project, path=references["queries"])
    for name in ("baseline", "semantic"):
        run_import(project=project, run_name=name, path=references[f"run_{name}"])

    queries = Query.objects.filter(project=project).exclude(conditions=[])
    assert queries.count() == len(REFERENCE_QUERIES)
    assert {q.locale for q in queries} == {"en-GB", "de-DE"}
    images = sum(len(images) for *_, images, _ in REFERENCE_QUERIES)
    assert QueryImage.objects.filter(query__project=project, status="stored").count() == images
    # Every result names a product of the main catalogue: no product is made up.
    assert SearchResult.objects.filter(run__project=project, product__title="").count() == 0
    with references["run_semantic"].open() as handle:
        rows = list(csv.DictReader(handle))
    assert {r["query_id"] for r in rows} == {q[0] for q in REFERENCE_QUERIES}
