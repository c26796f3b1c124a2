"""Exports: gold as CSV / JSONL / qrels, all labels as JSONL, a run as a TREC run file."""

import csv
import inspect
import io
import json
from datetime import UTC
from pathlib import Path

import pytest
import pytrec_eval
from django.utils import timezone

from annotation.exports import (
    ExportError,
    ExtraColumns,
    csv_blocks,
    export_gold,
    export_gold_csv,
    export_gold_jsonl,
    export_gold_qrels,
    export_labels_jsonl,
    export_run_trec,
    gold_table,
    jsonl_blocks,
    labels_table,
    neutralise,
    write_file,
)
from annotation.metrics import run_metrics
from annotation.models import GoldProvenance, Label, LabelSource, Pair, Product, Query, SearchResult, SearchRun
from annotation.services import project_create

pytestmark = pytest.mark.django_db


def add_pair(
    project,
    qid: str,
    pid: str,
    *,
    gold=None,
    provenance=GoldProvenance.IMPORTED,
    policy=None,
    query_text=None,
    title=None,
):
    query, _ = Query.objects.get_or_create(
        project=project, external_id=qid, defaults={"text": query_text or f"query {qid}"}
    )
    product, _ = Product.objects.get_or_create(
        project=project, external_id=pid, defaults={"title": title or f"product {pid}", "content_hash": "x"}
    )
    pair = Pair.objects.create(
        project=project,
        query=query,
        product=product,
        gold_value=gold,
        gold_provenance=provenance if gold is not None else "",
        gold_policy_version=policy,
        gold_updated_at=timezone.now() if gold is not None else None,
    )
    return pair


def label(pair, source, rater, value):
    return Label.objects.create(project=pair.project, pair=pair, source=source, rater=rater, value=value)


def text(blocks) -> str:
    return "".join(blocks)


@pytest.fixture
def project(db):
    project = project_create(name="shop")
    p1 = add_pair(project, "q1", "p1", gold=2, provenance=GoldProvenance.ADJUDICATED, policy=3, query_text="red dress")
    label(p1, LabelSource.LLM, "gpt-old", 1)
    label(p1, LabelSource.LLM, "gpt-new", 2)
    label(p1, LabelSource.HUMAN, "zoe", 2)
    label(p1, LabelSource.HUMAN, "anna", 1)
    label(p1, LabelSource.HUMAN, "zoe", 2)
    p2 = add_pair(project, "q1", "p2", gold=0, provenance=GoldProvenance.LLM_AUTO, policy=3)
    label(p2, LabelSource.LLM, "gpt-new", 0)
    add_pair(project, "q2", "p1", gold=1)
    unjudged = add_pair(project, "q2", "p3")
    label(unjudged, LabelSource.LLM, "gpt-new", 1)
    return project


# --- CSV safety ------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["=1+1", "+49 30 1234", "-2", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://x")'])
def test_text_cells_that_a_spreadsheet_would_run_are_quoted(cell):
    assert neutralise(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["red dress", "a=b", "", " =spaced", "'quoted", None, -3, -1.5, 0.0])
def test_other_cells_and_numbers_pass_unchanged(cell):
    assert neutralise(cell) == cell


def test_the_gold_csv_neutralises_formulas_in_every_text_column_but_not_our_numbers():
    project = project_create(name="evil")
    pair = add_pair(project, "=cmd|' /C calc'!A0", "-p1", gold=1, policy=2, query_text="@SUM(1+1)", title="+danger")
    label(pair, LabelSource.HUMAN, "=rater", 1)
    label(pair, LabelSource.LLM, "\tmodel", 1)
    extra = ExtraColumns(("agreement", "note"), lambda ids: {i: {"agreement": -0.25, "note": "-3"} for i in ids})

    rows = list(csv.DictReader(io.StringIO(text(export_gold_csv(project, extra=extra)))))

    assert len(rows) == 1
    row = rows[0]
    assert row["query_id"] == "'=cmd|' /C calc'!A0"
    assert row["query"] == "'@SUM(1+1)"
    assert row["product_id"] == "'-p1"
    assert row["product_title"] == "'+danger"
    assert row["raters"] == "'=rater"
    assert row["llm_model"] == "'\tmodel"
    assert (row["label"], row["policy_version"], row["label_name"]) == ("1", "2", "acceptable substitute")
    assert row["agreement"] == "-0.25"  # a number of ours: a spreadsheet shows it, runs nothing
    assert row["note"] == "'-3"  # text from outside, even if it looks like a number


# --- gold exports ------------------------------------------------------------------------


def test_the_gold_csv_has_one_row_per_gold_pair_with_provenance_and_raters(project):
    rows = list(csv.DictReader(io.StringIO(text(export_gold_csv(project)))))

    assert [(r["query_id"], r["product_id"], r["label"]) for r in rows] == [
        ("q1", "p1", "2"),
        ("q1", "p2", "0"),
        ("q2", "p1", "1"),
    ]
    first = rows[0]
    assert first["query"] == "red dress"
    assert (first["label_name"], first["provenance"], first["policy_version"]) == (
        "highly relevant",
        "adjudicated",
        "3",
    )
    assert first["raters"] == "anna,zoe"  # distinct, sorted
    assert first["llm_model"] == "gpt-new"  # the newest LLM label's model
    assert (rows[1]["raters"], rows[1]["provenance"]) == ("", "llm-auto")
    assert (rows[2]["llm_model"], rows[2]["policy_version"]) == ("", "")


def test_the_gold_jsonl_carries_the_same_fields_typed_and_extra_columns_from_a_hook(project):
    seen_ids = []

    def prompt_versions(pair_ids):
        seen_ids.extend(pair_ids)
        return {pair_ids[0]: {"prompt_version": "judge-v7"}}

    extra = ExtraColumns(("prompt_version",), prompt_versions)
    rows = [json.loads(line) for line in text(export_gold_jsonl(project, extra=extra)).splitlines()]

    assert len(rows) == 3
    assert rows[0] | {"gold_updated_at": None} == {
        "query_id": "q1",
        "query": "red dress",
        "product_id": "p1",
        "product_title": "product p1",
        "label": 2,
        "label_name": "highly relevant",
        "provenance": "adjudicated",
        "policy_version": 3,
        "raters": "anna,zoe",
        "llm_model": "gpt-new",
        "gold_updated_at": None,
        "prompt_version": "judge-v7",
    }
    assert rows[1]["prompt_version"] is None
    assert sorted(seen_ids) == sorted(Pair.objects.filter(gold_value__isnull=False).values_list("id", flat=True))


def test_the_qrels_list_every_gold_pair_by_value(project):
    assert text(export_gold_qrels(project)) == "q1 0 p1 2\nq1 0 p2 0\nq2 0 p1 1\n"


def test_a_qrels_export_refuses_ids_with_whitespace_before_writing_anything():
    project = project_create(name="spaces")
    add_pair(project, "red dress", "p1", gold=1)

    with pytest.raises(ExportError, match="query id 'red dress' contains whitespace"):
        export_gold_qrels(project)  # raised on the call, not on the first read


def test_exports_are_streamed_in_chunks_as_generators(project, django_assert_num_queries):
    for fmt in ("csv", "jsonl", "qrels"):
        blocks = export_gold(project, fmt, chunk_size=1)
        assert inspect.isgenerator(blocks)
    assert inspect.isgenerator(export_labels_jsonl(project))
    assert inspect.isgenerator(export_run_trec(SearchRun.objects.create(project=project, name="r")))

    with django_assert_num_queries(0):
        blocks = export_gold_jsonl(project, chunk_size=2)  # nothing is read before the first block is asked for
    chunks = list(blocks)
    assert [chunk.count("\n") for chunk in chunks] == [2, 1]
    qrels = list(export_gold_qrels(project, chunk_size=2))
    assert [chunk.count("\n") for chunk in qrels] == [2, 1]


def test_all_labels_are_exported_as_jsonl_oldest_first(project):
    rows = [json.loads(line) for line in text(export_labels_jsonl(project)).splitlines()]

    assert len(rows) == Label.objects.count() == 7
    assert [(r["query_id"], r["product_id"], r["source"], r["rater"], r["label"]) for r in rows[:2]] == [
        ("q1", "p1", "llm", "gpt-old", 1),
        ("q1", "p1", "llm", "gpt-new", 2),
    ]
    assert rows[-1] | {"label_id": 0, "created_at": None} == {
        "label_id": 0,
        "query_id": "q2",
        "product_id": "p3",
        "source": "llm",
        "rater": "gpt-new",
        "label": 1,
        "label_name": "acceptable substitute",
        "confidence": None,
        "rationale": "",
        "guideline_version": None,
        "created_at": None,
    }
    assert rows[0]["label_id"] < rows[-1]["label_id"]


# --- round trips -------------------------------------------------------------------------


def gold_by_key(project) -> dict[tuple[str, str], int]:
    return {
        (q, p): v
        for q, p, v in Pair.objects.filter(project=project, gold_value__isnull=False).values_list(
            "query__external_id", "product__external_id", "gold_value"
        )
    }


def test_a_qrels_export_reimported_as_gold_into_a_fresh_project_gives_the_same_gold(project, tmp_path, command):
    path = tmp_path / "gold.qrels"
    command("export_gold", "--project", "shop", "--format", "qrels", "-o", str(path))
    fresh = project_create(name="fresh", scale="default")
    for query in Query.objects.filter(project=project):
        Query.objects.create(project=fresh, external_id=query.external_id, text=query.text)
    for product in Product.objects.filter(project=project):
        Product.objects.create(project=fresh, external_id=product.external_id, title=product.title, content_hash="x")

    out = command("import_labels", "--project", "fresh", str(path), "--gold", "--rater", "qrels")

    assert "gold set 3" in out
    assert gold_by_key(fresh) == gold_by_key(project) == {("q1", "p1"): 2, ("q1", "p2"): 0, ("q2", "p1"): 1}


def test_a_jsonl_export_loads_into_an_empty_project_with_its_queries_and_products(project, tmp_path, command):
    path = tmp_path / "gold.jsonl"
    write_file(export_gold_jsonl(project), path)
    fresh = project_create(name="empty", scale="default")

    command("import_labels", "--project", "empty", str(path), "--gold", "--rater", "export")

    assert gold_by_key(fresh) == gold_by_key(project)
    assert Query.objects.get(project=fresh, external_id="q1").text == "red dress"


# --- a run as a TREC run file ----------------------------------------------------------------


def make_run(project, name: str, results: list[tuple[str, str, int, float | None]]) -> SearchRun:
    run = SearchRun.objects.create(project=project, name=name)
    for qid, pid, rank, score in results:
        pair = Pair.objects.filter(project=project, query__external_id=qid, product__external_id=pid).first()
        if pair is None:
            pair = add_pair(project, qid, pid)
        SearchResult.objects.create(run=run, query=pair.query, product=pair.product, pair=pair, rank=rank, score=score)
    return run


def test_a_run_exports_in_qrelay_order_with_its_scores_where_trec_eval_keeps_that_order(project):
    run = make_run(
        project,
        "bm25 v2",
        [
            ("q1", "p1", 2, 0.5),
            ("q1", "p2", 1, -1.25),  # scores disagree with ranks: positions are written as scores
            ("q2", "p3", 1, 3.0),
            ("q2", "p1", 1, 3.0),  # a full tie: product id descending, as trec_eval
            ("q2", "p9", 3, 1.0),
        ],
    )

    lines = text(export_run_trec(run)).splitlines()

    assert lines == [
        "q1 Q0 p2 1 2 bm25_v2",
        "q1 Q0 p1 2 1 bm25_v2",
        "q2 Q0 p3 1 3.0 bm25_v2",
        "q2 Q0 p1 2 3.0 bm25_v2",
        "q2 Q0 p9 3 1.0 bm25_v2",
    ]
    assert text(export_run_trec(run, scores="rank", tag="x")).splitlines()[2:] == [
        "q2 Q0 p3 1 3 x",
        "q2 Q0 p1 2 2 x",
        "q2 Q0 p9 3 1 x",
    ]


def test_trec_eval_scores_an_exported_run_as_qrelay_does(project):
    run = make_run(
        project,
        "r",
        [
            ("q1", "p2", 1, None),
            ("q1", "p1", 2, None),
            ("q1", "p7", 2, 5.0),
            ("q2", "p3", 1, 1.0),
            ("q2", "p1", 1, 1.0),
        ],
    )
    qrels: dict[str, dict[str, int]] = {}
    for line in text(export_gold_qrels(project)).splitlines():
        qid, _, pid, value = line.split()
        qrels.setdefault(qid, {})[pid] = int(value)
    trec_run: dict[str, dict[str, float]] = {}
    for line in text(export_run_trec(run)).splitlines():
        qid, _, pid, _, score, _ = line.split()
        trec_run.setdefault(qid, {})[pid] = float(score)

    expected = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.2", "P.2"}).evaluate(trec_run)
    metrics = run_metrics(run, k=2)

    for row in metrics.queries:
        assert row.metrics.precision == pytest.approx(expected[row.external_id]["P_2"], abs=1e-9)
        assert (row.metrics.ndcg or 0.0) == pytest.approx(expected[row.external_id]["ndcg_cut_2"], abs=1e-9)


# --- commands --------------------------------------------------------------------------------


def test_export_gold_writes_to_stdout_by_default(project, command):
    out = command("export_gold", "--project", "shop", "--format", "csv")

    assert out.splitlines()[0] == ",".join(
        [
            "query_id",
            "query",
            "product_id",
            "product_title",
            "label",
            "label_name",
            "provenance",
            "policy_version",
            "raters",
            "llm_model",
            "gold_updated_at",
        ]
    )
    assert len(out.splitlines()) == 4


def test_export_gold_writes_all_labels_as_jsonl_to_a_file(project, command, tmp_path):
    path = tmp_path / "labels.jsonl"
    out = command("export_gold", "--project", "shop", "--format", "jsonl", "--all-labels", "--output", str(path))

    assert out == ""
    assert len(path.read_text().splitlines()) == 7
    assert [p.name for p in tmp_path.iterdir()] == ["labels.jsonl"]  # no temporary file left


def test_export_gold_explains_bad_requests(project, command_error):
    assert "--format jsonl" in command_error("export_gold", "--project", "shop", "--all-labels")
    assert "no project 'nope'" in command_error("export_gold", "--project", "nope")


def test_export_run_writes_a_trec_run_file(project, command, command_error, tmp_path):
    make_run(project, "r1", [("q1", "p1", 1, 2.0), ("q1", "p2", 2, 1.0)])

    assert command("export_run", "--project", "shop", "--run", "r1") == "q1 Q0 p1 1 2.0 r1\nq1 Q0 p2 2 1.0 r1\n"
    command("export_run", "--project", "shop", "--run", "r1", "-o", str(tmp_path / "r1.run"), "--tag", "mine")
    assert (tmp_path / "r1.run").read_text().splitlines()[0] == "q1 Q0 p1 1 2.0 mine"
    assert "no run 'r9' in project shop (runs: r1)" in command_error("export_run", "--project", "shop", "--run", "r9")


def test_a_failed_export_leaves_no_file_behind(tmp_path):
    def broken():
        yield "first line\n"
        raise RuntimeError("database went away")

    target = tmp_path / "out.csv"
    with pytest.raises(RuntimeError):
        write_file(broken(), target)

    assert list(tmp_path.iterdir()) == []
    assert write_file(iter(["a\n", "b\n"]), target) == 4
    assert Path(target).read_text() == "a\nb\n"


# --- the PostgreSQL paths against the reference ------------------------------------------------


@pytest.fixture
def tricky(project):
    """More pairs and labels: raters whose code-point order differs from a locale's,
    repeated raters, LLM labels written at the same moment, labels on pairs without gold,
    text that needs neutralising, quotes, commas and newlines."""
    pair = add_pair(project, "=q3", "p,4", gold=1, query_text='say "hi",\nthen @leave', title="-5% off")
    for rater in ("Zoe", "anna", "Ängel", "anna", "+bob"):
        label(pair, LabelSource.HUMAN, rater, 1)
    first, second = label(pair, LabelSource.LLM, "model-a", 1), label(pair, LabelSource.LLM, "model-b", 2)
    Label.objects.filter(id__in=[first.id, second.id]).update(created_at=first.created_at)  # a tie: the later id wins
    for n in range(5):
        other = add_pair(project, f"q{n + 10}", f"p{n + 10}", gold=n % 3 if n % 2 else None)
        label(other, LabelSource.LLM, f"m{n}", n % 3)
    return project


def parsed_csv(blocks) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text(blocks))))


def parsed_jsonl(blocks) -> list[dict]:
    return [json.loads(line) for line in text(blocks).splitlines()]


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 1000])
def test_the_database_paths_give_the_same_rows_as_the_reference_in_python(tricky, chunk_size):
    fast_csv = parsed_csv(export_gold_csv(tricky))
    fast_jsonl = parsed_jsonl(export_gold_jsonl(tricky))
    fast_labels = parsed_jsonl(export_labels_jsonl(tricky))

    assert fast_csv == parsed_csv(csv_blocks(gold_table(tricky, csv_safe=True, chunk_size=chunk_size)))
    assert fast_jsonl == parsed_jsonl(jsonl_blocks(gold_table(tricky, chunk_size=chunk_size)))
    assert fast_labels == parsed_jsonl(jsonl_blocks(labels_table(tricky, chunk_size=chunk_size)))
    row = next(r for r in fast_jsonl if r["query_id"] == "=q3")
    assert (row["raters"], row["llm_model"], row["query"]) == (
        "+bob,Zoe,anna,Ängel",
        "model-b",
        'say "hi",\nthen @leave',
    )
    safe = next(r for r in fast_csv if r[0] == "'=q3")
    assert safe[1:4] == ['say "hi",\nthen @leave', "p,4", "'-5% off"]
    assert safe[8] == "'+bob,Zoe,anna,Ängel"
    assert len(fast_jsonl) == 3 + 1 + 2  # gold pairs: the fixture's, =q3, two of the five others
    assert len(fast_labels) == Label.objects.count()


def test_timestamps_are_written_as_iso_8601_in_utc(project):
    pair = Pair.objects.get(query__external_id="q1", product__external_id="p1")
    row = parsed_jsonl(export_gold_jsonl(project))[0]
    reference = parsed_jsonl(jsonl_blocks(gold_table(project)))[0]

    assert (
        row["gold_updated_at"]
        == reference["gold_updated_at"]
        == pair.gold_updated_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    )
