"""Gold downloads filtered by run, provenance and human-only, and the CSV that Excel
opens as UTF-8 (issue #14: "Größe" showed as "GrÃ¶ÃŸe")."""

import csv
import io

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.exports import ExportError, ExtraColumns, GoldFilter, export_gold, gold_table
from annotation.models import GoldProvenance, Membership, Role, SearchResult, SearchRun
from annotation.services import project_create
from tests.annotation.test_exports import add_pair

pytestmark = pytest.mark.django_db

NO_EXTRA = ExtraColumns((), lambda ids: {})  # forces the Python path, the SQL path's reference


@pytest.fixture
def shop(db):
    project = project_create(name="Größe-shop")
    human = add_pair(project, "q1", "p1", gold=2, provenance=GoldProvenance.HUMAN, query_text="Größe 38 Kleid")
    auto = add_pair(project, "q1", "p2", gold=0, provenance=GoldProvenance.LLM_AUTO)
    add_pair(project, "q2", "p1", gold=1, provenance=GoldProvenance.IMPORTED)
    adjudicated = add_pair(project, "q2", "p3", gold=2, provenance=GoldProvenance.ADJUDICATED)
    add_pair(project, "q3", "p3")  # no gold
    run = SearchRun.objects.create(project=project, name="bm25")
    for rank, pair in enumerate([human, auto, adjudicated], 1):
        SearchResult.objects.create(run=run, query=pair.query, product=pair.product, pair=pair, rank=rank)
    lead = get_user_model().objects.create_user(username="lea")
    Membership.objects.create(project=project, user=lead, role=Role.LEAD)
    return {"project": project, "run": run, "lead": lead}


def keys(text: str) -> list[tuple[str, str, str]]:
    rows = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))
    return [(row["query_id"], row["product_id"], row["provenance"]) for row in rows]


@pytest.mark.parametrize(
    ("gold_filter", "expected"),
    [
        (GoldFilter(), ["human", "llm-auto", "imported", "adjudicated"]),
        (GoldFilter(human_only=True), ["human", "imported", "adjudicated"]),
        (GoldFilter(provenances=("llm-auto", "imported")), ["llm-auto", "imported"]),
        (GoldFilter(provenances=("llm-auto",), human_only=True), []),
    ],
)
def test_gold_filters_by_provenance_in_sql_and_python_alike(shop, gold_filter, expected):
    sql = keys("".join(export_gold(shop["project"], "csv", gold_filter=gold_filter)))
    python = keys("".join(export_gold(shop["project"], "csv", gold_filter=gold_filter, extra=NO_EXTRA)))

    assert [provenance for _, _, provenance in sql] == expected
    assert python == sql


def test_gold_filters_by_run_in_every_format(shop):
    only_run = GoldFilter(run_id=shop["run"].id, human_only=True)

    csv_rows = keys("".join(export_gold(shop["project"], "csv", gold_filter=only_run)))
    qrels = "".join(export_gold(shop["project"], "qrels", gold_filter=only_run))
    jsonl = "".join(export_gold(shop["project"], "jsonl", gold_filter=only_run)).splitlines()
    table = [row for chunk in gold_table(shop["project"], gold_filter=only_run).chunks for row in chunk]

    assert csv_rows == [("q1", "p1", "human"), ("q2", "p3", "adjudicated")]
    assert qrels.splitlines() == ["q1 0 p1 2", "q2 0 p3 2"]
    assert len(jsonl) == 2
    assert [row[:3] for row in table] == [("q1", "Größe 38 Kleid", "p1"), ("q2", "query q2", "p3")]


def test_the_excel_csv_starts_with_a_byte_order_mark_and_reads_back_as_utf8(shop):
    plain = "".join(export_gold(shop["project"], "csv"))
    excel = "".join(export_gold(shop["project"], "csv", excel=True))

    assert not plain.startswith("\ufeff")
    assert excel == "\ufeff" + plain
    # What Excel does with the BOM: read the bytes as UTF-8 (Python's utf-8-sig).
    rows = list(csv.DictReader(io.StringIO(excel.encode("utf-8").decode("utf-8-sig"))))
    assert rows[0]["query"] == "Größe 38 Kleid"
    with pytest.raises(ExportError, match="CSV option"):
        export_gold(shop["project"], "jsonl", excel=True)


def test_the_downloads_page_offers_the_filters_and_the_download_applies_them(shop):
    client = Client()
    client.force_login(shop["lead"])
    project = shop["project"]

    page = client.get(reverse("downloads", args=[project.id])).content.decode()
    response = client.get(
        reverse("download_gold", args=[project.id, "csv"]),
        {"run": shop["run"].id, "human_only": "on", "excel": "on"},
    )

    assert 'name="human_only"' in page and 'name="excel"' in page and 'name="provenance"' in page
    assert f'<option value="{shop["run"].id}">bm25</option>' in page
    body = b"".join(response.streaming_content)
    assert body.startswith("\ufeff".encode())
    assert keys(body.decode()) == [("q1", "p1", "human"), ("q2", "p3", "adjudicated")]
    assert "gold-excel.csv" in response["Content-Disposition"] and "bm25" in response["Content-Disposition"]


def test_a_download_refuses_a_foreign_run_or_an_unknown_provenance(shop):
    client = Client()
    client.force_login(shop["lead"])
    other = SearchRun.objects.create(project=project_create(name="other"), name="secret")
    url = reverse("download_gold", args=[shop["project"].id, "csv"])

    foreign = client.get(url, {"run": other.id})
    unknown = client.get(url, {"provenance": "rumour"})

    assert foreign.status_code == 400 and "Select a valid choice" in foreign.content.decode()
    assert unknown.status_code == 400 and "secret" not in foreign.content.decode()


def test_the_api_filters_gold_and_writes_the_excel_variant(shop):
    api = APIClient()
    token, _ = Token.objects.get_or_create(user=shop["lead"])
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    base = f"/api/projects/{shop['project'].id}/exports/gold/"

    response = api.get(base, {"format": "csv", "provenance": "human,llm-auto", "run": shop["run"].id, "excel": "true"})
    foreign = api.get(base, {"run": SearchRun.objects.create(project=project_create(name="x"), name="y").id})

    assert response.status_code == 200, getattr(response, "data", None)
    body = b"".join(response.streaming_content).decode()
    assert body.startswith("\ufeff")
    assert keys(body) == [("q1", "p1", "human"), ("q1", "p2", "llm-auto")]
    assert foreign.status_code == 400 and "no run" in foreign.json()["detail"]
    unknown = api.get(base, {"provenance": "human,rumour"})
    assert unknown.status_code == 400 and unknown.json() == {"provenance": ["unknown provenance rumour"]}
