"""Bad input: every import names the file, line and column of each problem and writes
nothing at all, even when the bad row is the last one after valid rows."""

import csv
import io
from pathlib import Path

import pytest
from PIL import Image

from annotation.importers import ImportFailed, ImportProblem, labels_import, products_import, queries_import, run_import
from annotation.models import GoldProvenance, Pair, Product, Query

pytestmark = pytest.mark.django_db

PROJECT = "fashion-DE"


def csv_text(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


@pytest.fixture
def catalogue(default_project, command, write):
    """Existing queries q1, q2 and products p1, p2, so later imports have something to
    update (and must not)."""
    command(
        "import_queries",
        write("seed_queries.csv", "query_id,query,traffic\nq1,red dress,10\nq2,winter boots,5\n"),
        project=PROJECT,
    )
    command(
        "import_products", write("seed_products.csv", "product_id,title\np1,Red dress\np2,Boots\n"), project=PROJECT
    )
    return default_project


# --- file structure -----------------------------------------------------------------


def test_it_rejects_an_unterminated_quote_naming_the_line_where_it_opens_and_changes_nothing(
    catalogue, write, snapshot, command_error
):
    path = write("products.csv", 'product_id,title\np1,Red dress v2\np3,"Broken title\np4,Shoe\np5,Sock\n')
    before = snapshot()

    message = command_error("import_products", path, project=PROJECT)

    assert message.startswith("nothing was imported:")
    assert "products.csv, line 3: malformed CSV:" in message
    assert "never closed" in message
    assert snapshot() == before


def test_it_rejects_a_stray_character_after_a_closing_quote(catalogue, write, snapshot, command_error):
    path = write("queries.csv", 'query_id,query\nq1,red dress new\nq3,"boots"x\n')
    before = snapshot()

    message = command_error("import_queries", path, project=PROJECT)

    assert "queries.csv, line 3: malformed CSV: ',' expected after '\"'" in message
    assert snapshot() == before


def test_it_rejects_rows_with_the_wrong_number_of_fields_listing_every_such_line(
    catalogue, write, snapshot, command_error
):
    path = write("queries.csv", "query_id,query\nq1,red dress new\nq3,sandals,extra\nq4,hats\nq5\n")
    before = snapshot()

    message = command_error("import_queries", path, project=PROJECT)

    assert "queries.csv, line 3: expected 2 fields as in the header, got 3" in message
    assert "queries.csv, line 5: expected 2 fields as in the header, got 1" in message
    assert "line 4" not in message
    assert snapshot() == before


def test_it_rejects_a_malformed_json_line_and_changes_nothing(catalogue, write, snapshot, command_error):
    path = write("queries.jsonl", '{"query_id": "q1", "query": "red dress new"}\n{"query_id": "q3", "query": }\n')
    before = snapshot()

    message = command_error("import_queries", path, project=PROJECT)

    assert "queries.jsonl, line 2: malformed JSON at character 29: Expecting value" in message
    assert snapshot() == before


@pytest.mark.parametrize("line", ['["q3", "boots"]', '"q3"', "42", "null"])
def test_it_rejects_a_jsonl_line_that_is_not_an_object(catalogue, write, snapshot, command_error, line):
    path = write("queries.jsonl", '{"query_id": "q1", "query": "red dress new"}\n\n' + line + "\n")
    before = snapshot()

    message = command_error("import_queries", path, project=PROJECT)

    assert "queries.jsonl, line 3: each line must be a JSON object" in message
    assert snapshot() == before


def test_it_rejects_a_jsonl_object_missing_a_required_field(catalogue, write, snapshot, command_error):
    path = write("products.jsonl", '{"product_id": "p9", "title": "Hat"}\n{"product_id": "p10", "brand": "Acme"}\n')
    before = snapshot()

    message = command_error("import_products", path, project=PROJECT)

    assert "products.jsonl, line 2, column 'title': missing required field 'title'" in message
    assert snapshot() == before


def test_it_keeps_jsonl_line_numbers_right_when_a_value_holds_a_unicode_line_separator(default_project, write):
    # JSON allows U+2028 and U+0085 raw inside strings; they do not end a line.
    path = Path(
        write("queries.jsonl", '{"query_id": "q1", "query": "red\u2028dress\x85x"}\n{"query_id": "q2", "query": ""}\n')
    )

    with pytest.raises(ImportFailed) as failure:
        queries_import(project=default_project, path=path)

    assert failure.value.problems == [ImportProblem("queries.jsonl", 2, "query", "empty query text")]


def test_it_imports_a_jsonl_value_holding_a_unicode_line_separator(default_project, write):
    path = Path(write("queries.jsonl", '{"query_id": "q1", "query": "red\u2028dress"}\n'))

    queries_import(project=default_project, path=path)

    assert Query.objects.get().text == "red\u2028dress"


def test_it_rejects_a_trec_run_line_with_the_wrong_number_of_fields(catalogue, write, snapshot, command_error):
    path = write("bm25.run", "q1 Q0 p1 1 9.5 bm25\nq1 Q0 p2 2 8.1\n")
    before = snapshot()

    message = command_error("import_run", path, project=PROJECT, run="bm25")

    assert (
        "bm25.run, line 2: expected 6 whitespace-separated fields (query_id _q0 product_id rank score _tag), got 5"
        in message
    )
    assert snapshot() == before


# --- encoding -----------------------------------------------------------------------


def test_it_rejects_invalid_utf8_naming_the_line_and_changes_nothing(catalogue, write, snapshot, command_error):
    path = write("queries.csv", b"query_id,query\nq1,red dress new\nq3,\xff boots\n")
    before = snapshot()

    message = command_error("import_queries", path, project=PROJECT)

    assert "queries.csv, line 3: invalid UTF-8 at byte 35; save the file as UTF-8" in message
    assert snapshot() == before


def test_it_rejects_a_latin1_file(default_project, write, snapshot, command_error):
    path = write("products.csv", "product_id,title\np1,Schuh\np2,Kleid für Damen\n".encode("latin-1"))
    before = snapshot()

    message = command_error("import_products", path, project=PROJECT)

    assert "products.csv, line 3: invalid UTF-8" in message
    assert snapshot() == before


def test_it_rejects_nul_bytes_naming_the_line_and_changes_nothing(catalogue, write, snapshot, command_error):
    path = write("queries.csv", b"query_id,query\nq1,red dress new\nq3,bo\x00ots\n")
    before = snapshot()

    message = command_error("import_queries", path, project=PROJECT)

    assert "queries.csv, line 3: NUL byte in file (is it a binary or UTF-16 file?)" in message
    assert snapshot() == before


def test_it_rejects_a_utf16_file(default_project, write, snapshot, command_error):
    path = write("queries.csv", "query_id,query\nq1,red dress\n".encode("utf-16"))
    before = snapshot()

    message = command_error("import_queries", path, project=PROJECT)

    assert "queries.csv, line 1: NUL byte in file" in message
    assert snapshot() == before


@pytest.mark.parametrize("content", [b"", b"\n\n   \n", b"\xef\xbb\xbf"])
@pytest.mark.parametrize(
    ("command_name", "name", "options"),
    [
        ("import_products", "products.csv", {}),
        ("import_queries", "queries.jsonl", {}),
        ("import_run", "bm25.run", {"run": "bm25"}),
        ("import_labels", "labels.qrels", {"rater": "ann"}),
    ],
)
def test_it_rejects_an_empty_file(
    default_project, write, snapshot, command_error, content, command_name, name, options
):
    path = write(name, content)
    before = snapshot()

    message = command_error(command_name, path, project=PROJECT, **options)

    assert f"{name}: file is empty" in message
    assert snapshot() == before


def test_it_rejects_a_header_only_file(default_project, write, snapshot, command_error):
    path = write("products.csv", "product_id,title,brand\n\n")
    before = snapshot()

    message = command_error("import_products", path, project=PROJECT)

    assert "products.csv: file has a header but no rows" in message
    assert snapshot() == before


def test_it_rejects_a_missing_required_column_and_names_its_aliases(default_project, write, snapshot, command_error):
    path = write("products.csv", "product_id,brand\np1,Acme\n")
    before = snapshot()

    message = command_error("import_products", path, project=PROJECT)

    assert "products.csv, line 1, column 'title': missing required column 'title' (or name, product_title)" in message
    assert snapshot() == before


def test_it_rejects_two_columns_that_mean_the_same(default_project, write, snapshot, command_error):
    path = write("products.csv", "product_id,sku,title\np1,p1,Dress\n")
    before = snapshot()

    message = command_error("import_products", path, project=PROJECT)

    assert (
        "products.csv, line 1, column 'sku': duplicate column: 'sku' and 'product_id' both mean 'product_id'" in message
    )
    assert snapshot() == before


def test_it_rejects_a_file_whose_format_it_cannot_tell(default_project, write, command_error):
    path = write("products.xlsx", "product_id,title\np1,Dress\n")

    message = command_error("import_products", path, project=PROJECT)

    assert (
        "products.xlsx: cannot tell the format from the extension '.xlsx'; use --format csv|tsv|jsonl|trec" in message
    )
    assert Product.objects.count() == 0


def test_it_refuses_the_trec_format_for_products(default_project, write, command_error):
    path = write("products.txt", "p1 Dress\n")

    message = command_error("import_products", path, project=PROJECT)

    assert "products.txt: TREC format is only for runs and labels (qrels)" in message


def test_it_rejects_a_missing_file(default_project, tmp_path, command_error):
    message = command_error("import_products", str(tmp_path / "nope.csv"), project=PROJECT)

    assert "nope.csv: cannot read file: No such file or directory" in message


def test_it_rejects_an_unknown_project(default_project, write, command_error):
    path = write("products.csv", "product_id,title\np1,Dress\n")

    message = command_error("import_products", path, project="nope")

    assert "no project 'nope' (projects: fashion-DE)" in message
    assert Product.objects.count() == 0


def test_it_lists_at_most_twenty_problems_and_counts_the_rest(default_project, write):
    path = Path(write("queries.csv", "query_id,query\n" + "".join(f"q{i},\n" for i in range(25))))

    with pytest.raises(ImportFailed) as failure:
        queries_import(project=default_project, path=path)

    assert len(failure.value.problems) == 25
    rendered = failure.value.render().splitlines()
    assert len(rendered) == 21
    assert rendered[0] == "queries.csv, line 2, column 'query': empty query text"
    assert rendered[-1] == "... and 5 more problem(s)"
    assert Query.objects.count() == 0


# --- values -------------------------------------------------------------------------


@pytest.mark.parametrize("rank", ["0", "-1", "x", "1.5", ""])
def test_it_rejects_a_bad_rank_and_changes_nothing(catalogue, write, snapshot, command_error, rank):
    path = write("run.csv", f"query_id,product_id,rank\nq1,p1,1\nq2,p2,{rank}\n")
    before = snapshot()

    message = command_error("import_run", path, project=PROJECT, run="bm25")

    assert f"run.csv, line 3, column 'rank': must be a whole number >= 1, got {rank!r}" in message
    assert snapshot() == before


def test_it_rejects_a_bad_score(catalogue, write, snapshot, command_error):
    path = write("bm25.run", "q1 Q0 p1 1 9.5 bm25\nq1 Q0 p2 2 high bm25\n")
    before = snapshot()

    message = command_error("import_run", path, project=PROJECT, run="bm25")

    assert "bm25.run, line 2, column 'score': must be a number, got 'high'" in message
    assert snapshot() == before


@pytest.mark.parametrize("traffic", ["-5", "many", "2.5"])
def test_it_rejects_bad_traffic_and_changes_nothing(catalogue, write, snapshot, command_error, traffic):
    path = write("queries.csv", f"query_id,query,traffic\nq1,red dress,99\nq3,sandals,{traffic}\n")
    before = snapshot()

    message = command_error("import_queries", path, project=PROJECT)

    assert f"queries.csv, line 3, column 'traffic': must be a whole number >= 0, got {traffic!r}" in message
    assert snapshot() == before


@pytest.mark.parametrize(
    ("attributes", "problem"),
    [
        ('["red", "silk"]', 'must be a JSON object, e.g. {"colour": "red"}'),
        ('"red"', 'must be a JSON object, e.g. {"colour": "red"}'),
        ("42", 'must be a JSON object, e.g. {"colour": "red"}'),
        ('{"colour": red}', "not valid JSON (Expecting value at character 12)"),
    ],
)
def test_it_rejects_attributes_that_are_not_a_json_object(
    catalogue, write, snapshot, command_error, attributes, problem
):
    rows = [
        ["product_id", "title", "attributes"],
        ["p1", "Red dress v2", '{"colour": "red"}'],
        ["p3", "Hat", attributes],
    ]
    path = write("products.csv", csv_text(rows))
    before = snapshot()

    message = command_error("import_products", path, project=PROJECT)

    assert f"products.csv, line 3, column 'attributes': {problem}" in message
    assert snapshot() == before


def test_it_rejects_jsonl_attributes_that_are_a_list(default_project, write, snapshot, command_error):
    path = write(
        "products.jsonl",
        '{"product_id": "p1", "title": "Dress"}\n{"product_id": "p2", "title": "Hat", "attributes": ["red"]}\n',
    )
    before = snapshot()

    message = command_error("import_products", path, project=PROJECT)

    assert "products.jsonl, line 2, column 'attributes': must be a JSON object" in message
    assert snapshot() == before


def test_it_rejects_empty_ids_and_titles(default_project, write, snapshot):
    path = Path(write("products.csv", "product_id,title\np1,Dress\n ,Hat\np3,  \n"))
    before = snapshot()

    with pytest.raises(ImportFailed) as failure:
        products_import(project=default_project, path=path)

    assert failure.value.problems == [
        ImportProblem("products.csv", 3, "product_id", "empty product_id"),
        ImportProblem("products.csv", 4, "title", "empty title"),
    ]
    assert snapshot() == before


def test_it_rejects_an_unknown_label_and_lists_the_scale(catalogue, write, snapshot, command_error):
    path = write("labels.csv", "query_id,product_id,label\nq1,p1,2\nq1,p2,great\n")
    before = snapshot()

    message = command_error("import_labels", path, project=PROJECT, rater="ann")

    assert (
        "labels.csv, line 3, column 'label': unknown label 'great'; the project's scale is: "
        "irrelevant (0), acceptable substitute (1), highly relevant (2)"
    ) in message
    assert snapshot() == before


@pytest.mark.parametrize("label", ["3", "-1", "1.5", "x", ""])
def test_it_rejects_label_values_outside_the_scale(catalogue, write, snapshot, label):
    path = Path(write("labels.csv", f"query_id,product_id,label\nq1,p1,2\nq2,p2,{label}\n"))
    before = snapshot()

    with pytest.raises(ImportFailed) as failure:
        labels_import(project=catalogue, path=path, rater="ann")

    [problem] = failure.value.problems
    assert (problem.file, problem.line, problem.column) == ("labels.csv", 3, "label")
    assert problem.message.startswith(f"unknown label {label!r}")
    assert snapshot() == before


def test_it_rejects_labels_without_a_rater(catalogue, write, snapshot, command_error):
    path = write("labels.csv", "query_id,product_id,label,rater\nq1,p1,2,ann\nq2,p2,1,\n")
    before = snapshot()

    message = command_error("import_labels", path, project=PROJECT)

    assert "labels.csv, line 3, column 'rater': no rater: add a 'rater' column or pass --rater NAME" in message
    assert snapshot() == before


def test_it_rejects_unknown_query_and_product_ids_in_a_run_without_text_columns(
    catalogue, write, snapshot, command_error
):
    path = write("run.csv", "query_id,product_id,rank\nq1,p1,1\nq1,p2,2\nq9,p1,1\nq2,p7,1\n")
    before = snapshot()

    message = command_error("import_run", path, project=PROJECT, run="bm25")

    assert (
        "run.csv, line 4, column 'query_id': unknown query_id 'q9': import the queries first or add a 'query' column"
        in message
    )
    assert (
        "run.csv, line 5, column 'product_id': unknown product_id 'p7': import the products first or add a 'product_title' column"
        in message
    )
    assert snapshot() == before


def test_it_rejects_unknown_ids_in_trec_qrels(catalogue, write, snapshot, command_error):
    path = write("judged.qrels", "q1 0 p1 2\nq1 0 p9 1\n")
    before = snapshot()

    message = command_error("import_labels", path, project=PROJECT, rater="trec")

    assert "judged.qrels, line 2, column 'product_id': unknown product_id 'p9'" in message
    assert snapshot() == before


def test_it_rejects_a_gold_file_where_two_raters_disagree_naming_both_lines(catalogue, write, snapshot, command_error):
    path = write("labels.csv", "query_id,product_id,label,rater\nq1,p1,2,ann\nq2,p2,0,ann\nq1,p1,1,bob\n")
    before = snapshot()

    message = command_error("import_labels", path, project=PROJECT, gold=True)

    assert (
        "labels.csv, line 4, column 'label': --gold needs one label per pair, but line 2 gives q1/p1 another label"
        in message
    )
    assert snapshot() == before


# --- conflicting and repeated rows ---------------------------------------------------

CONFLICTS = {
    "products": (
        "import_products",
        {},
        "products.csv",
        "product_id,title\np1,Red dress v2\np3,Hat\np1,Blue dress\n",
        "products.csv, line 4, column 'title': conflicts with line 2: same product_id p1 with a different title "
        "'Red dress v2' there, 'Blue dress' here",
    ),
    "queries": (
        "import_queries",
        {},
        "queries.csv",
        "query_id,query,traffic\nq1,red dress,11\nq3,hat,1\nq3,hat,2\n",
        "queries.csv, line 4, column 'traffic': conflicts with line 3: same query_id q3 with a different traffic 1 there, 2 here",
    ),
    "run results": (
        "import_run",
        {"run": "bm25"},
        "bm25.run",
        "q1 Q0 p1 1 9.0 x\nq1 Q0 p2 2 8.0 x\nq1 Q0 p1 3 7.0 x\n",
        "bm25.run, line 3, column 'rank': conflicts with line 1: same query_id/product_id q1/p1 with a different rank "
        "1 there, 3 here; score 9.0 there, 7.0 here",
    ),
    "labels": (
        "import_labels",
        {"rater": "ann"},
        "labels.csv",
        "query_id,product_id,label\nq1,p1,2\nq2,p2,1\nq1,p1,0\n",
        "labels.csv, line 4, column 'label': conflicts with line 2: same query_id/product_id/rater q1/p1/ann with a "
        "different label 2 there, 0 here",
    ),
}


@pytest.mark.parametrize("kind", CONFLICTS)
def test_it_rejects_conflicting_rows_for_the_same_key_and_changes_nothing(
    catalogue, write, snapshot, command_error, kind
):
    command_name, options, name, content, expected = CONFLICTS[kind]
    path = write(name, content)
    before = snapshot()

    message = command_error(command_name, path, project=PROJECT, **options)

    assert expected in message
    assert snapshot() == before


REPEATS = {
    "products": ("import_products", {}, "products.csv", "product_id,title\np3,Hat\np4,Cap\np3,Hat\n", {"Product": 2}),
    "queries": ("import_queries", {}, "queries.csv", "query_id,query\nq3,hat\nq3,hat\n", {"Query": 1}),
    "run results": (
        "import_run",
        {"run": "bm25"},
        "bm25.run",
        "q1 Q0 p1 1 9.0 x\nq1 Q0 p2 2 8.0 x\nq1 Q0 p1 1 9.0 x\n",
        {"SearchRun": 1, "SearchResult": 2, "Pair": 2},
    ),
    "labels": (
        "import_labels",
        {"rater": "ann"},
        "labels.csv",
        "query_id,product_id,label\nq1,p1,2\nq1,p1,2\n",
        {"Label": 1, "Pair": 1},
    ),
}


@pytest.mark.parametrize("kind", REPEATS)
def test_it_skips_exact_repeats_with_a_note(catalogue, write, counts, command, kind):
    command_name, options, name, content, expected_growth = REPEATS[kind]
    before = counts()

    out = command(command_name, write(name, content), project=PROJECT, **options)

    assert "note: 1 exact repeated row(s) skipped" in out
    after = counts()
    assert {model: after[model] - before[model] for model in after if after[model] != before[model]} == expected_growth


def test_it_counts_every_exact_repeat_in_the_note(default_project, write, command):
    out = command("import_queries", write("queries.csv", "query_id,query\nq3,hat\nq3,hat\nq3,hat\n"), project=PROJECT)

    assert "note: 2 exact repeated row(s) skipped" in out
    assert Query.objects.count() == 1


# --- images -------------------------------------------------------------------------


def products_with_image(write, png: bytes, image_column: str) -> str:
    write("img/ok.png", png)
    return write(
        "products.csv",
        csv_text([["product_id", "title", "image"], ["p1", "Red dress v2", "img/ok.png"], ["p3", "Hat", image_column]]),
    )


def test_it_rejects_a_missing_image_file_and_writes_nothing(catalogue, write, snapshot, command_error, png_rgba):
    path = products_with_image(write, png_rgba, "img/missing.png")
    before = snapshot()

    message = command_error("import_products", path, project=PROJECT)

    assert "products.csv, line 3, column 'image': image file not found: img/missing.png" in message
    assert snapshot() == before


@pytest.mark.parametrize("image", ["../x.png", "img/../../x.png", "/etc/passwd"])
def test_it_rejects_an_image_path_outside_the_files_folder(
    catalogue, write, tmp_path, snapshot, command_error, png_rgba, image
):
    (tmp_path.parent / "x.png").write_bytes(png_rgba)  # exists, so only the location can be the reason
    path = products_with_image(write, png_rgba, image)
    before = snapshot()

    message = command_error("import_products", path, project=PROJECT)

    assert f"products.csv, line 3, column 'image': image path {image!r} points outside the file's folder" in message
    assert snapshot() == before


def test_it_rejects_a_symlink_that_leads_out_of_the_folder(
    catalogue, write, tmp_path, snapshot, command_error, png_rgba
):
    outside = tmp_path.parent / "secret.png"
    outside.write_bytes(png_rgba)
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "link.png").symlink_to(outside)
    path = products_with_image(write, png_rgba, "img/link.png")
    before = snapshot()

    message = command_error("import_products", path, project=PROJECT)

    assert "line 3, column 'image': image path 'img/link.png' points outside the file's folder" in message
    assert snapshot() == before


@pytest.mark.parametrize("image", ["file:///etc/passwd", "ftp://example.com/x.png", "data:image/png;base64,AAAA"])
def test_it_rejects_image_urls_that_are_not_http(catalogue, write, snapshot, command_error, png_rgba, image):
    path = products_with_image(write, png_rgba, image)
    before = snapshot()

    message = command_error("import_products", path, project=PROJECT)

    assert (
        f"products.csv, line 3, column 'image': only http(s) URLs or relative paths are accepted, got {image!r}"
        in message
    )
    assert snapshot() == before


def test_it_rejects_a_file_that_is_not_an_image_and_writes_nothing(catalogue, write, snapshot, command_error, png_rgba):
    write("img/fake.png", b"this is a text file, not a picture\n")
    path = products_with_image(write, png_rgba, "img/fake.png")
    before = snapshot()

    message = command_error("import_products", path, project=PROJECT)

    assert (
        "products.csv, line 3, column 'image': img/fake.png: not an image in an accepted format (JPEG, PNG, WEBP, GIF) or too large"
        in message
    )
    assert snapshot() == before


def test_it_rejects_an_image_in_a_format_outside_the_allow_list(catalogue, write, snapshot, command_error, png_rgba):
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="BMP")
    write("img/pic.png", buffer.getvalue())
    path = products_with_image(write, png_rgba, "img/pic.png")
    before = snapshot()

    message = command_error("import_products", path, project=PROJECT)

    assert "line 3, column 'image': img/pic.png: not an image in an accepted format" in message
    assert snapshot() == before


def test_it_rejects_a_truncated_image(catalogue, write, snapshot, command_error, png_rgba, jpeg):
    write("img/cut.jpg", jpeg[: len(jpeg) // 2])
    path = products_with_image(write, png_rgba, "img/cut.jpg")
    before = snapshot()

    message = command_error("import_products", path, project=PROJECT)

    assert "line 3, column 'image': img/cut.jpg: image is damaged" in message
    assert snapshot() == before


def test_it_rejects_a_decompression_bomb_and_writes_nothing(
    catalogue, write, snapshot, command_error, settings, png_rgba, png_20x20
):
    settings.QRELAY_IMAGE_MAX_PIXELS = 100  # the 8x6 image passes, the 20x20 one is "a bomb"
    write("img/bomb.png", png_20x20)
    path = products_with_image(write, png_rgba, "img/bomb.png")
    before = snapshot()

    message = command_error("import_products", path, project=PROJECT)

    assert (
        "products.csv, line 3, column 'image': img/bomb.png: image has 20x20 pixels, more than the limit of 100"
        in message
    )
    assert snapshot() == before


def test_it_rejects_an_image_file_over_the_byte_limit(
    catalogue, write, snapshot, command_error, settings, png_rgba, png_20x20
):
    settings.QRELAY_IMAGE_MAX_BYTES = len(png_rgba)
    write("img/big.png", png_20x20 + b"\0" * len(png_rgba))
    path = products_with_image(write, png_rgba, "img/big.png")
    before = snapshot()

    message = command_error("import_products", path, project=PROJECT)

    assert (
        f"products.csv, line 3, column 'image': cannot read image img/big.png: image is larger than {len(png_rgba)} bytes"
        in message
    )
    assert snapshot() == before


# --- too long or too large for the database -----------------------------------------


@pytest.mark.parametrize(
    ("header", "row", "column", "limit"),
    [
        ("product_id,title", "x" * 201 + ",Hat", "product_id", 200),
        ("product_id,title,brand", "p3,Hat," + "b" * 201, "brand", 200),
        ("product_id,title,category", "p3,Hat," + "c" * 301, "category", 300),
    ],
)
def test_it_rejects_product_values_longer_than_their_column(catalogue, write, snapshot, header, row, column, limit):
    path = Path(write("products.csv", f"{header}\n{row}\n"))
    before = snapshot()

    with pytest.raises(ImportFailed) as failure:
        products_import(project=catalogue, path=path)

    assert failure.value.problems == [ImportProblem("products.csv", 2, column, f"longer than {limit} characters")]
    assert snapshot() == before


def test_it_rejects_a_locale_longer_than_its_column(catalogue, write, snapshot, command_error):
    path = write("queries.csv", "query_id,query,locale\nq3,hat,de-DE\nq4,cap,English (United States)\n")
    before = snapshot()

    message = command_error("import_queries", path, project=PROJECT)

    assert "queries.csv, line 3, column 'locale': longer than 20 characters" in message
    assert snapshot() == before


def test_it_rejects_a_rater_name_longer_than_its_column(catalogue, write, snapshot, command_error):
    path = write("labels.csv", "query_id,product_id,label,rater\nq1,p1,2,ann\nq2,p2,1," + "r" * 201 + "\n")
    before = snapshot()

    message = command_error("import_labels", path, project=PROJECT)

    assert "labels.csv, line 3, column 'rater': longer than 200 characters" in message
    assert snapshot() == before


def test_it_rejects_a_rank_too_large_for_the_database(catalogue, write, snapshot, command_error):
    path = write("run.csv", "query_id,product_id,rank\nq1,p1,1\nq1,p2,2147483648\n")
    before = snapshot()

    message = command_error("import_run", path, project=PROJECT, run="bm25")

    assert "run.csv, line 3, column 'rank': must be at most 2147483647, got '2147483648'" in message
    assert snapshot() == before


def test_it_rejects_traffic_too_large_for_the_database(catalogue, write, snapshot, command_error):
    path = write("queries.csv", "query_id,query,traffic\nq3,hat,1\nq4,cap,9223372036854775808\n")
    before = snapshot()

    message = command_error("import_queries", path, project=PROJECT)

    assert (
        "queries.csv, line 3, column 'traffic': must be at most 9223372036854775807, got '9223372036854775808'"
        in message
    )
    assert snapshot() == before


def test_it_rejects_a_run_name_longer_than_its_column(catalogue, write, snapshot, command_error):
    path = write("run.csv", "query_id,product_id,rank\nq1,p1,1\n")
    before = snapshot()

    message = command_error("import_run", path, project=PROJECT, run="r" * 201)

    assert "run.csv: the run name is longer than 200 characters" in message
    assert snapshot() == before


# --- a failing import leaves existing gold alone ------------------------------------


def test_a_failing_gold_import_leaves_existing_gold_alone(catalogue, write, command, command_error):
    command(
        "import_labels",
        write("gold1.csv", "query_id,product_id,label\nq1,p1,2\n"),
        project=PROJECT,
        rater="ann",
        gold=True,
    )
    path = write("gold2.csv", "query_id,product_id,label\nq1,p1,0\nq2,p2,nonsense\n")

    command_error("import_labels", path, project=PROJECT, rater="ann", gold=True)

    pair = Pair.objects.get()
    assert (pair.gold_value, pair.gold_provenance) == (2, GoldProvenance.IMPORTED)
    assert pair.labels.count() == 1


def test_the_service_raises_import_failed_with_structured_problems(catalogue, write):
    path = Path(write("run.csv", "query_id,product_id,rank,score\nq1,p1,0,x\nq1,p2,2,y\n"))

    with pytest.raises(ImportFailed) as failure:
        run_import(project=catalogue, run_name="bm25", path=path)

    assert failure.value.problems == [
        ImportProblem("run.csv", 2, "rank", "must be a whole number >= 1, got '0'"),
        ImportProblem("run.csv", 3, "score", "must be a number, got 'y'"),
    ]
