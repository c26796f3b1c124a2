"""Search-run imports: flat CSV, TREC run files, shared pairs, idempotency."""

from pathlib import Path

import pytest

from annotation.importers import ImportFailed, run_import
from annotation.models import Pair, Product, Query, SearchResult, SearchRun
from annotation.services import project_create

pytestmark = pytest.mark.django_db

PROJECT = "fashion-DE"


@pytest.fixture
def catalogue(default_project, command, write):
    command("import_queries", write("queries.csv", "query_id,query\nq1,red dress\nq2,winter boots\n"), project=PROJECT)
    command(
        "import_products",
        write("products.csv", "product_id,title\np1,Red dress\np2,Boots\np3,Scarf\n"),
        project=PROJECT,
    )
    return default_project


def results(run_name: str) -> list[tuple]:
    return list(
        SearchResult.objects.filter(run__name=run_name)
        .order_by("query__external_id", "rank")
        .values_list("query__external_id", "product__external_id", "rank", "score")
    )


def test_it_imports_a_flat_run_creating_queries_products_pairs_and_results(default_project, write, command, counts):
    path = write(
        "run.csv",
        "qid,query,docid,title,rank,score\nq1,red dress,p1,Red dress,1,12.5\nq1,red dress,p2,Blue dress,2,\nq2,boots,p2,Blue dress,1,3\n",
    )

    out = command("import_run", path, project=PROJECT, run="bm25", description="plain BM25")

    assert (
        "run.csv: 3 row(s) read; run created; results created 3; updated 0; unchanged 0; new pairs 3; "
        "queries created 2; products created 2"
    ) in out
    run = SearchRun.objects.get()
    assert (run.project, run.name, run.description) == (default_project, "bm25", "plain BM25")
    assert results("bm25") == [("q1", "p1", 1, 12.5), ("q1", "p2", 2, None), ("q2", "p2", 1, 3.0)]
    assert dict(Query.objects.values_list("external_id", "text")) == {"q1": "red dress", "q2": "boots"}
    assert dict(Product.objects.values_list("external_id", "title")) == {"p1": "Red dress", "p2": "Blue dress"}
    assert counts() == {
        "Query": 2,
        "Product": 2,
        "ProductImage": 0,
        "Pair": 3,
        "Label": 0,
        "SearchRun": 1,
        "SearchResult": 3,
    }


def test_it_imports_a_trec_run_file_by_its_extension(catalogue, write, command):
    path = write("bm25.run", "q1 Q0 p1 1 14.2 bm25\nq1 Q0 p3 2 9.75 bm25\n\nq2\tQ0\tp2\t1\t-1.5\tbm25\n")

    out = command("import_run", path, project=PROJECT, run="bm25")

    assert "results created 3" in out
    assert "queries created 0; products created 0" in out
    assert results("bm25") == [("q1", "p1", 1, 14.2), ("q1", "p3", 2, 9.75), ("q2", "p2", 1, -1.5)]


def test_it_imports_a_trec_run_file_with_the_format_option(catalogue, write, command):
    path = write("bm25.out", "q2 Q0 p2 3 1.0 tag\n")

    command("import_run", path, project=PROJECT, run="bm25", format="trec")

    assert results("bm25") == [("q2", "p2", 3, 1.0)]


def test_result_rows_point_at_their_query_product_and_pair(catalogue, write, command):
    command("import_run", write("bm25.run", "q1 Q0 p1 1 1 x\nq2 Q0 p3 1 1 x\n"), project=PROJECT, run="bm25")

    for result in SearchResult.objects.select_related("pair"):
        assert (result.pair.query_id, result.pair.product_id, result.pair.project_id) == (
            result.query_id,
            result.product_id,
            catalogue.id,
        )


def test_runs_share_pairs(catalogue, write, command):
    command("import_run", write("a.run", "q1 Q0 p1 1 3 a\nq1 Q0 p2 2 2 a\nq2 Q0 p1 1 1 a\n"), project=PROJECT, run="a")

    out = command(
        "import_run", write("b.run", "q1 Q0 p2 1 3 b\nq2 Q0 p1 2 2 b\nq2 Q0 p3 1 1 b\n"), project=PROJECT, run="b"
    )

    assert "results created 3" in out
    assert "new pairs 1" in out
    pairs = set(Pair.objects.values_list("query__external_id", "product__external_id"))
    assert pairs == {("q1", "p1"), ("q1", "p2"), ("q2", "p1"), ("q2", "p3")}
    assert Pair.objects.count() == 4
    assert SearchResult.objects.count() == 6
    for key in [("q1", "p2"), ("q2", "p1")]:
        pair_ids = set(
            SearchResult.objects.filter(query__external_id=key[0], product__external_id=key[1]).values_list(
                "pair_id", flat=True
            )
        )
        assert len(pair_ids) == 1
        assert SearchResult.objects.filter(pair_id__in=pair_ids).count() == 2


def test_reimporting_the_same_run_changes_nothing(catalogue, write, command, snapshot):
    path = write("bm25.run", "q1 Q0 p1 1 14.2 bm25\nq1 Q0 p3 2 9.75 bm25\n")
    command("import_run", path, project=PROJECT, run="bm25")
    before = snapshot()

    out = command("import_run", path, project=PROJECT, run="bm25")

    assert (
        "run existing; results created 0; updated 0; unchanged 2; new pairs 0; queries created 0; products created 0"
        in out
    )
    assert snapshot() == before


def test_changing_one_rank_updates_exactly_that_result(catalogue, write, command):
    command("import_run", write("v1.run", "q1 Q0 p1 1 5 x\nq1 Q0 p2 2 4 x\n"), project=PROJECT, run="bm25")
    untouched = SearchResult.objects.filter(product__external_id="p1").values().get()

    out = command("import_run", write("v2.run", "q1 Q0 p1 1 5 x\nq1 Q0 p2 3 4 x\n"), project=PROJECT, run="bm25")

    assert "results created 0; updated 1; unchanged 1" in out
    assert results("bm25") == [("q1", "p1", 1, 5.0), ("q1", "p2", 3, 4.0)]
    assert SearchResult.objects.filter(product__external_id="p1").values().get() == untouched


def test_the_same_run_name_in_two_projects_is_two_runs(catalogue, write, command):
    project_create(name="other")
    path = write("run.csv", "query_id,query,product_id,product_title,rank\nq1,red dress,p1,Red dress,1\n")

    command("import_run", path, project=PROJECT, run="bm25")
    command("import_run", path, project="other", run="bm25")

    assert SearchRun.objects.filter(name="bm25").count() == 2
    assert Pair.objects.filter(project__name="other").count() == 1
    assert Query.objects.filter(project__name="other").count() == 1


def test_the_service_refuses_an_empty_run_name(catalogue, write):
    with pytest.raises(ImportFailed, match="the run needs a name"):
        run_import(project=catalogue, run_name=" ", path=Path(write("bm25.run", "q1 Q0 p1 1 5 x\n")))

    assert SearchRun.objects.count() == 0
