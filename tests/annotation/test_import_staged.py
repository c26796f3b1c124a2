"""The staged import path (PostgreSQL): rows are read as a stream and staged in batches,
the checks across rows run in SQL, and nothing is written unless the whole file is good,
even when the only problem is in its last row or spans batches."""

from pathlib import Path

import pytest

from annotation.importers import ImportFailed, labels_import, products_import, queries_import, run_import
from annotation.importers.columns import RUN_SPEC
from annotation.importers.errors import MAX_KEPT
from annotation.importers.reading import RowStream
from annotation.importers.staging import Stage
from annotation.models import Label, Pair, SearchResult

pytestmark = pytest.mark.django_db


@pytest.fixture
def small_batches(settings):
    """Two rows per batch, so that any file here spans many batches."""
    settings.QRELAY_IMPORT_BATCH_SIZE = 2
    return 2


def run_rows(count: int) -> str:
    return "".join(f"q{i % 3},p{i},{i // 3 + 1},{100 - i},query {i % 3},Product {i}\n" for i in range(count))


RUN_HEADER = "query_id,product_id,rank,score,query,product_title\n"


def failure_of(call) -> ImportFailed:
    with pytest.raises(ImportFailed) as failure:
        call()
    return failure.value


@pytest.mark.parametrize(
    "last_row, problem",
    [
        ("q9,p99,x,1,query 9,Product 99\n", ("rank", "must be a whole number >= 1, got 'x'")),
        ("q0,p0,7,100,query 0,Product 0\n", ("rank", "conflicts with line 2: same query_id/product_id q0/p0")),
        ("q9,p99,1,1,,Product 99\n", ("query_id", "unknown query_id 'q9': import the queries first")),
        ("q9,p99,1,1,query 9,\n", ("product_id", "unknown product_id 'p99': import the products first")),
    ],
    ids=["bad value", "conflicting repeat", "unknown query", "unknown product"],
)
def test_a_problem_in_the_last_row_leaves_the_database_unchanged(
    default_project, write, snapshot, small_batches, last_row, problem
):
    path = write("run.csv", RUN_HEADER + run_rows(40) + last_row)
    before = snapshot()

    failure = failure_of(lambda: run_import(project=default_project, run_name="r1", path=Path(path)))

    [found] = failure.problems
    assert (found.line, found.column) == (42, problem[0])
    assert found.message.startswith(problem[1])
    assert snapshot() == before


def test_repeats_and_conflicts_are_found_across_batches(default_project, write, small_batches):
    rows = run_rows(12)
    # Line 2 is q0/p0 at rank 1; its exact repeat and a conflicting repeat come batches later.
    path = write("run.csv", RUN_HEADER + rows + "q0,p0,1,100,query 0,Product 0\nq0,p0,5,100,query 0,Product 0\n")

    failure = failure_of(lambda: run_import(project=default_project, run_name="r1", path=Path(path)))

    assert [str(p) for p in failure.problems] == [
        "run.csv, line 15, column 'rank': conflicts with line 2: same query_id/product_id q0/p0 with a "
        "different rank 1 there, 5 here"
    ]


def test_exact_and_text_repeats_across_batches_are_skipped_and_noted(default_project, write, small_batches):
    rows = run_rows(12)
    path = write(
        "run.csv",
        RUN_HEADER + rows + "q0,p0,1,100,query 0,Product 0\nq1,p1,1,99,query 1,Produkt 1\n",
    )

    summary = run_import(project=default_project, run_name="r1", path=Path(path))

    assert summary.rows == 14
    assert summary.counts["results created"] == 12
    assert summary.notes == [
        "1 exact repeated row(s) skipped",
        "1 row(s) repeat a query_id/product_id with other product text (e.g. another product_locale): "
        "the first row's text was kept",
    ]
    assert SearchResult.objects.get(run__name="r1", product__external_id="p1").product.title == "Product 1"


def test_labels_conflicting_across_batches_and_gold_disagreements_are_refused(
    esci_project, write, snapshot, small_batches
):
    header = "query_id,product_id,rater,esci_label,query,product_title\n"
    rows = "".join(f"q{i % 2},p{i},ann,E,query {i % 2},Product {i}\n" for i in range(8))
    before = snapshot()

    conflict = write("labels.csv", header + rows + "q0,p0,ann,I,query 0,Product 0\n")
    failure = failure_of(lambda: labels_import(project=esci_project, path=Path(conflict)))
    assert [str(p) for p in failure.problems] == [
        "labels.csv, line 10, column 'label': conflicts with line 2: same query_id/product_id/rater q0/p0/ann "
        "with a different label 3 there, 0 here"
    ]

    gold = write("gold.csv", header + rows + "q0,p0,other,I,query 0,Product 0\n")
    failure = failure_of(lambda: labels_import(project=esci_project, path=Path(gold), gold=True))
    assert [str(p) for p in failure.problems] == [
        "gold.csv, line 10, column 'label': --gold needs one label per pair, but line 2 gives q0/p0 another label"
    ]
    assert snapshot() == before


def test_a_good_labels_file_in_many_batches_is_written_once_and_again_changes_nothing(
    esci_project, write, small_batches
):
    header = "query_id,product_id,rater,esci_label,query,product_title\n"
    rows = "".join(f"q{i % 2},p{i},ann,{'ESCI'[i % 4]},query {i % 2},Product {i}\n" for i in range(9))
    path = Path(write("labels.csv", header + rows))

    first = labels_import(project=esci_project, path=path, gold=True)
    again = labels_import(project=esci_project, path=path, gold=True)

    assert (first.counts["labels added"], first.counts["new pairs"], first.counts["gold set"]) == (9, 9, 9)
    assert (again.counts["labels added"], again.counts["unchanged"], again.counts["gold unchanged"]) == (0, 9, 9)
    assert Label.objects.count() == 9
    assert sorted(Pair.objects.values_list("product__external_id", "gold_value")) == sorted(
        (f"p{i}", {"E": 3, "S": 2, "C": 1, "I": 0}["ESCI"[i % 4]]) for i in range(9)
    )


def test_queries_and_products_conflicts_across_batches(default_project, write, snapshot, small_batches):
    before = snapshot()
    queries = write("queries.csv", "query_id,query\n" + "".join(f"q{i},query {i}\n" for i in range(7)) + "q1,other\n")
    failure = failure_of(lambda: queries_import(project=default_project, path=Path(queries)))
    assert [(p.line, p.column) for p in failure.problems] == [(9, "query")]
    assert "conflicts with line 3: same query_id q1 with a different query 'query 1' there, 'other' here" in str(
        failure.problems[0]
    )

    products = write(
        "products.csv", "product_id,title\n" + "".join(f"p{i},Product {i}\n" for i in range(7)) + "p0,Other\n"
    )
    failure = failure_of(lambda: products_import(project=default_project, path=Path(products)))
    assert [(p.line, p.column) for p in failure.problems] == [(9, "title")]
    assert snapshot() == before


def test_every_problem_is_counted_but_only_the_first_thousand_are_kept(default_project, write):
    path = write("run.csv", RUN_HEADER + "".join(f"q{i},p{i},x,1,query,title\n" for i in range(MAX_KEPT + 50)))

    failure = failure_of(lambda: run_import(project=default_project, run_name="r1", path=Path(path)))

    assert (len(failure.problems), failure.total) == (MAX_KEPT, MAX_KEPT + 50)
    assert str(failure).splitlines()[-1] == f"... and {MAX_KEPT + 50 - 20} more problem(s)"


# --- bounded memory, shown by behaviour ------------------------------------------------


def test_the_reader_yields_rows_before_it_has_read_the_rest_of_the_file(tmp_path):
    # Invalid UTF-8 on line 4: reading the whole file first would refuse it before any row.
    path = tmp_path / "run.csv"
    data = RUN_HEADER.encode() + b"q1,p1,1,1,a,b\nq1,p2,2,1,a,b\nq1,p3,3,1,a,\xff\n"
    path.write_bytes(data)
    bad_byte = data.index(b"\xff")
    rows = iter(RowStream(path, RUN_SPEC))

    first, second = next(rows), next(rows)

    assert (first.line, first.values["product_id"], second.values["product_id"]) == (2, "p1", "p2")
    with pytest.raises(ImportFailed, match=f"line 4: invalid UTF-8 at byte {bad_byte};"):
        next(rows)


def test_a_staged_import_holds_at_most_one_batch_of_rows(default_project, write, small_batches, monkeypatch):
    flushed: list[int] = []
    original = Stage.flush

    def spy(stage):
        flushed.append(len(stage.buffer))
        original(stage)

    monkeypatch.setattr(Stage, "flush", spy)
    path = write("run.csv", RUN_HEADER + run_rows(11))

    summary = run_import(project=default_project, run_name="r1", path=Path(path))

    assert summary.counts["results created"] == 11
    assert max(flushed) <= small_batches
    assert sum(flushed) == 11
