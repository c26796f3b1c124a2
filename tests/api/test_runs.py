"""Runs through the API: creating one, uploading its results (the import_run service,
same per-row problems), imports of queries and labels, metrics and comparison (the
figures run_metrics and compare_run_metrics compute), and streamed exports."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotation.comparison import compare_run_metrics
from annotation.exports import export_gold, export_labels_jsonl, export_run_trec
from annotation.metrics import run_metrics
from annotation.metrics.recall import recall_by_locale
from annotation.models import Label, Query, SearchResult, SearchRun

pytestmark = pytest.mark.django_db


def url(world, tail: str) -> str:
    return f"/api/projects/{world['project'].id}/{tail}"


def upload(name: str, text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="application/octet-stream")


def body(response) -> str:
    return b"".join(response.streaming_content).decode()


# --- creating and uploading -----------------------------------------------------------------


def test_a_lead_creates_a_run_and_uploads_its_results(lead_api, world):
    created = lead_api.post(url(world, "runs/"), {"name": "semantic", "description": "dense v2"}, format="json")
    run_id = created.json()["id"]
    results = "query_id,product_id,rank,score\nq1,p2,1,0.9\nq1,p1,2,0.8\nq2,p3,1,0.7\nq3,p9,1,0.5\n"

    refused = lead_api.post(url(world, f"runs/{run_id}/results/upload/"), {"file": upload("sem.csv", results)})
    assert refused.status_code == 400
    assert refused.json()["problems"] == [
        {
            "file": "sem.csv",
            "line": 5,
            "column": "query_id",
            "message": "unknown query_id 'q3': import the queries first or add a 'query' column",
        },
        {
            "file": "sem.csv",
            "line": 5,
            "column": "product_id",
            "message": "unknown product_id 'p9': import the products first or add a 'product_title' column",
        },
    ]
    assert not SearchResult.objects.filter(run_id=run_id).exists()

    good = results.replace("q3,p9,1,0.5\n", "")
    response = lead_api.post(url(world, f"runs/{run_id}/results/upload/"), {"file": upload("sem.csv", good)})

    assert created.status_code == 201
    assert created.json() | {"created_at": None} == {
        "id": run_id,
        "name": "semantic",
        "description": "dense v2",
        "created_at": None,
        "result_count": 0,
        "query_count": 0,
    }
    assert response.status_code == 200
    assert response.json()["counts"]["results created"] == 3
    assert response.json()["counts"]["new pairs"] == 0  # the pairs are bm25's
    run = SearchRun.objects.get(id=run_id)
    assert (run.project, run.description) == (world["project"], "dense v2")
    assert list(
        SearchResult.objects.filter(run=run)
        .order_by("query__external_id", "rank")
        .values_list("product__external_id", "rank")
    ) == [("p2", 1), ("p1", 2), ("p3", 1)]
    again = lead_api.post(url(world, f"runs/{run_id}/results/upload/"), {"file": upload("sem.csv", good)})
    assert again.json()["counts"]["unchanged"] == 3


def test_an_upload_takes_a_format_for_files_without_an_extension(lead_api, world):
    trec = "q1 Q0 p3 1 2.5 x\nq2 Q0 p1 1 1.0 x\n"

    response = lead_api.post(
        url(world, f"runs/{world['run'].id}/results/upload/"), {"file": upload("run", trec), "format": "trec"}
    )
    unknown = lead_api.post(url(world, f"runs/{world['run'].id}/results/upload/"), {"file": upload("run", trec)})

    assert response.status_code == 200 and response.json()["counts"]["results created"] == 2
    assert unknown.status_code == 400
    assert "cannot tell the format from the extension" in unknown.json()["problems"][0]["message"]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({}, {"file": ["No file was submitted."]}),
        ({"file": "not a file"}, {"file": ["The submitted data was not a file. Check the encoding type on the form."]}),
        ({"file": "FILE", "format": "xml"}, {"format": ['"xml" is not a valid choice.']}),
    ],
)
def test_a_bad_upload_request_is_400(lead_api, world, data, expected):
    data = {
        key: upload("r.csv", "query_id,product_id,rank\n") if value == "FILE" else value for key, value in data.items()
    }

    response = lead_api.post(url(world, f"runs/{world['run'].id}/results/upload/"), data)

    assert response.status_code == 400
    assert response.json() == expected


def test_the_uploaded_file_name_never_chooses_a_path(lead_api, world):
    response = lead_api.post(
        url(world, f"runs/{world['run'].id}/results/upload/"),
        {"file": upload("../../etc/x.csv", "query_id,product_id\nq1,p1\n")},
    )

    assert response.status_code == 400
    assert response.json()["problems"][0]["file"] == "x.csv"


@pytest.mark.parametrize(
    ("body_", "field", "message"),
    [
        ({}, "name", "This field is required."),
        ({"name": "   "}, "name", "This field may not be blank."),
        ({"name": "bm25"}, "name", "The project has a run named 'bm25' already."),
        ({"name": "x" * 201}, "name", "Ensure this field has no more than 200 characters."),
        ({"name": ["a"]}, "name", "Not a valid string."),
    ],
)
def test_creating_a_run_with_a_bad_body_is_400(lead_api, world, body_, field, message):
    response = lead_api.post(url(world, "runs/"), body_, format="json")

    assert response.status_code == 400
    assert response.json() == {field: [message]}
    assert SearchRun.objects.filter(project=world["project"]).count() == 1


def test_malformed_json_is_a_400(lead_api, world):
    response = lead_api.post(url(world, "runs/"), "{not json", content_type="application/json")

    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_queries_and_labels_are_imported_from_uploads(lead_api, world):
    queries = lead_api.post(
        url(world, "queries/upload/"), {"file": upload("q.jsonl", '{"query_id": "q9", "query": "silk scarf"}\n')}
    )
    labels = lead_api.post(
        url(world, "labels/upload/"),
        {
            "file": upload("l.csv", "query_id,product_id,label\nq2,p3,highly relevant\n"),
            "rater": "maria",
            "gold": "true",
        },
    )

    assert queries.status_code == 200 and queries.json()["counts"]["queries created"] == 1
    assert Query.objects.get(project=world["project"], external_id="q9").text == "silk scarf"
    assert labels.status_code == 200, labels.json()
    label = Label.objects.get(project=world["project"], rater="maria")
    assert (label.source, label.value, label.pair_id) == ("human", 2, world["pairs"][2].id)
    world["pairs"][2].refresh_from_db()
    assert (world["pairs"][2].gold_value, world["pairs"][2].gold_provenance) == (2, "imported")


# --- metrics and comparison -----------------------------------------------------------------


def test_metrics_are_the_figures_run_metrics_computes(lead_api, world):
    response = lead_api.get(url(world, f"runs/{world['run'].id}/metrics/?k=5&per_query=true"))

    assert response.status_code == 200
    metrics = run_metrics(world["run"], k=5)
    expected = json.loads(
        json.dumps({**metrics.to_dict(), "by_locale": [r.to_dict() for r in recall_by_locale(metrics)]})
    )
    assert response.json() == expected
    assert response.json()["means"]["ndcg"] == {"value": 1.0, "queries": 1}


def test_metrics_from_llm_labels_are_marked_provisional_and_skip_rows_by_default(lead_api, world):
    data = lead_api.get(url(world, f"runs/{world['run'].id}/metrics/?labels=llm&relevant_min=2")).json()

    metrics = run_metrics(world["run"], label_source="llm", relevant_min_value=2)
    expected = {**metrics.to_dict(), "by_locale": [r.to_dict() for r in recall_by_locale(metrics)]}
    del expected["per_query"]
    assert data == json.loads(json.dumps(expected))
    assert data["provisional"] is True and data["relevant_min_value"] == 2


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?k=0", {"k": ["Ensure this value is greater than or equal to 1."]}),
        ("?k=ten", {"k": ["A valid integer is required."]}),
        ("?labels=crowd", {"labels": ['"crowd" is not a valid choice.']}),
        ("?relevant_min=7", {"detail": "relevant_min_value 7 is not a value of the scale ([0, 1, 2])"}),
    ],
)
def test_bad_metrics_parameters_are_400(lead_api, world, query, expected):
    response = lead_api.get(url(world, f"runs/{world['run'].id}/metrics/{query}"))

    assert response.status_code == 400
    assert response.json() == expected


def test_compare_is_what_compare_run_metrics_computes(lead_api, world):
    baseline = SearchRun.objects.create(project=world["project"], name="old")
    for pair, rank in [(world["pairs"][1], 1), (world["pairs"][0], 2)]:
        SearchResult.objects.create(run=baseline, query=pair.query, product=pair.product, pair=pair, rank=rank)

    response = lead_api.get(
        url(world, f"runs/{world['run'].id}/compare/?baseline={baseline.id}&metric=ndcg&seed=3&top=5")
    )

    assert response.status_code == 200
    expected = compare_run_metrics(run_metrics(baseline), run_metrics(world["run"]), metric="ndcg", seed=3).to_dict(5)
    assert response.json() == json.loads(json.dumps(expected))
    assert response.json()["mean_delta"] > 0 and response.json()["wins"] == 1


def test_compare_needs_a_baseline(lead_api, world):
    response = lead_api.get(url(world, f"runs/{world['run'].id}/compare/"))

    assert response.status_code == 400
    assert response.json() == {"baseline": ["This field is required."]}


# --- exports -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "content_type", "extension"),
    [("csv", "text/csv", "csv"), ("jsonl", "application/x-ndjson", "jsonl"), ("qrels", "text/plain", "qrels")],
)
def test_gold_exports_stream_the_export_with_its_content_type(lead_api, world, fmt, content_type, extension):
    response = lead_api.get(url(world, f"exports/gold/?format={fmt}"), HTTP_ACCEPT="text/csv")

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == f"{content_type}; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="fashion-DE-gold.{extension}"'
    text = body(response)
    assert text == "".join(export_gold(world["project"], fmt))
    assert len(text.splitlines()) == (3 if fmt == "csv" else 2)  # two gold pairs (+ the CSV header)


def test_the_labels_export_is_every_label_as_jsonl(lead_api, world):
    response = lead_api.get(url(world, "exports/labels/"))

    lines = body(response).splitlines()
    assert response["Content-Type"] == "application/x-ndjson; charset=utf-8"
    assert "\n".join(lines) + "\n" == "".join(export_labels_jsonl(world["project"]))
    assert sorted(json.loads(line)["source"] for line in lines) == ["human", "llm", "llm", "llm"]


def test_the_run_export_is_a_trec_run_file(lead_api, world):
    response = lead_api.get(url(world, f"runs/{world['run'].id}/export/?tag=bm25-v1"))

    text = body(response)
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert text == "".join(export_run_trec(world["run"], tag="bm25-v1"))
    # Unscored results get scores from their positions; q2's single result is one of them.
    assert text.splitlines() == ["q1 Q0 p1 1 2 bm25-v1", "q1 Q0 p2 2 1 bm25-v1", "q2 Q0 p3 1 1 bm25-v1"]


def test_an_export_that_trec_cannot_hold_is_a_400_before_any_byte(lead_api, world):
    Query.objects.filter(id=world["pairs"][0].query_id).update(external_id="red dress")

    response = lead_api.get(url(world, "exports/gold/?format=qrels"))
    bad_format = lead_api.get(url(world, "exports/gold/?format=xlsx"))

    assert response.status_code == 400
    assert "contains whitespace" in response.json()["detail"]
    assert bad_format.status_code == 400 and bad_format.json() == {"format": ['"xlsx" is not a valid choice.']}
