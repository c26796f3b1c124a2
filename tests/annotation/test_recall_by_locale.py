"""Recall@1/5/10 and MRR per locale (MERIT) on the metrics and compare pages, in the
metrics API and the `metrics` command; the queries (with reference images) come through
the real importers, gold through an imported label file."""

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from PIL import Image

from annotation.importers import labels_import, products_import, queries_import, run_import
from annotation.metrics import run_metrics
from annotation.metrics.recall import ALL_LOCALES, recall_by_locale
from annotation.models import Membership, QueryImage, Role, SearchRun
from annotation.services import project_create

pytestmark = pytest.mark.django_db

# Query → (locale, ranked products); gold: "hit" products are relevant (2), others 0.
QUERIES = {
    "en1": ("en-GB", ["hit", "x1", "x2"]),  # first relevant at 1
    "en2": ("en-GB", ["x1", "x2", "x3", "x4", "x5", "x6", "hit"]),  # at 7: only R@10
    "de1": ("de-DE", ["x1", "hit"]),  # at 2
    "de2": ("de-DE", ["x1", "x2"]),  # none in the list: MRR 0, no hit
    "fr1": ("fr-FR", ["x1"]),  # no relevant judged pair at all: left out
}


@pytest.fixture
def world(tmp_path, django_user_model):
    project = project_create(name="merit-shop")
    Image.new("RGB", (10, 10), (200, 0, 0)).save(tmp_path / "ref.png")
    queries = [
        {"query_id": q, "query": f"like this {q}", "locale": locale, "image": ["ref.png"]}
        for q, (locale, _) in QUERIES.items()
    ]
    (tmp_path / "q.jsonl").write_text("".join(json.dumps(row) + "\n" for row in queries))
    queries_import(project=project, path=tmp_path / "q.jsonl")
    products = {p for _, ranked in QUERIES.values() for p in ranked}
    (tmp_path / "p.csv").write_text("product_id,title\n" + "".join(f"{p},Product {p}\n" for p in sorted(products)))
    products_import(project=project, path=tmp_path / "p.csv")
    run_lines = [f"{q},{p},{rank}" for q, (_, ranked) in QUERIES.items() for rank, p in enumerate(ranked, 1)]
    (tmp_path / "run.csv").write_text("query_id,product_id,rank\n" + "\n".join(run_lines) + "\n")
    run_import(project=project, run_name="merit", path=tmp_path / "run.csv")
    label_lines = [
        f"{q},{p},{2 if p == 'hit' else 0}" for q, (_, ranked) in QUERIES.items() for p in ranked if q != "fr1"
    ]
    label_lines.append("de2,hit,2")  # relevant, but not in de2's list: MRR 0
    (tmp_path / "gold.csv").write_text("query_id,product_id,label\n" + "\n".join(label_lines) + "\n")
    labels_import(project=project, path=tmp_path / "gold.csv", rater="expert", gold=True)
    lead = django_user_model.objects.create_user(username="lea")
    Membership.objects.create(project=project, user=lead, role=Role.LEAD)
    client = Client()
    client.force_login(lead)
    assert QueryImage.objects.filter(query__project=project, status="stored").count() == 5
    return project, SearchRun.objects.get(project=project, name="merit"), client


def test_recall_and_mrr_are_computed_per_locale_and_over_all_queries(world):
    _, run, _ = world

    rows = {row.locale: row for row in recall_by_locale(run_metrics(run, k=10))}

    assert list(rows) == ["de-DE", "en-GB", "fr-FR", ALL_LOCALES]
    assert rows["en-GB"].recall == {1: 0.5, 5: 0.5, 10: 1.0}
    assert rows["en-GB"].mrr == pytest.approx((1 + 1 / 7) / 2)
    assert rows["de-DE"].recall == {1: 0.0, 5: 0.5, 10: 0.5}
    assert rows["de-DE"].mrr == pytest.approx(0.25)
    assert (rows["fr-FR"].queries, rows["fr-FR"].unanswerable, rows["fr-FR"].mrr) == (0, 1, None)
    assert rows["all"].recall == {1: 0.25, 5: 0.5, 10: 0.75}
    assert (rows["all"].queries, rows["all"].unanswerable) == (4, 1)


def test_the_figures_do_not_depend_on_the_pages_cut_off(world):
    _, run, _ = world

    assert recall_by_locale(run_metrics(run, k=1)) == recall_by_locale(run_metrics(run, k=10))


def test_the_metrics_and_compare_pages_show_a_row_per_locale(world):
    project, run, client = world
    SearchRun.objects.create(project=project, name="empty")
    empty = SearchRun.objects.get(name="empty")

    page = client.get(reverse("run_metrics", args=[project.id, run.id])).content.decode()
    compare = client.get(
        reverse("run_compare", args=[project.id]), {"a": empty.id, "b": run.id, "k": 10, "source": "gold"}
    ).content.decode()

    assert "Recall and MRR by locale" in page
    for locale in ("de-DE", "en-GB", "fr-FR", "all"):
        assert f'data-locale="{locale}"' in page
    en = page[page.index('data-locale="en-GB"') :].split("</tr>")[0]
    assert "0.500" in en and "1.000" in en and "0.571" in en
    assert compare.count("Recall and MRR by locale") == 2
    assert 'data-recall-run="merit"' in compare and 'data-recall-run="empty"' in compare


def test_the_metrics_api_and_command_report_recall_per_locale(world):
    project, run, client = world

    api = client.get(f"/api/projects/{project.id}/runs/{run.id}/metrics/", {"k": 10}).json()
    out = io.StringIO()
    call_command("metrics", project=project.name, run="merit", stdout=out)
    as_json = io.StringIO()
    call_command("metrics", project=project.name, run="merit", json=True, stdout=as_json)

    en = next(row for row in api["by_locale"] if row["locale"] == "en-GB")
    assert (en["recall_at_1"], en["recall_at_5"], en["recall_at_10"]) == (0.5, 0.5, 1.0)
    assert json.loads(as_json.getvalue())["by_locale"] == api["by_locale"]
    assert "en-GB    R@1 0.5000  R@5 0.5000  R@10 1.0000  MRR 0.5714  (2 queries)" in out.getvalue()


def test_a_metrics_page_of_a_run_without_locales_has_one_unnamed_row(tmp_path, django_user_model):
    project = project_create(name="plain")
    Path(tmp_path / "run.csv").write_text("query_id,query,product_id,product_title,rank\nq1,red,p1,Red dress,1\n")
    run_import(project=project, run_name="r", path=tmp_path / "run.csv")

    rows = recall_by_locale(run_metrics(SearchRun.objects.get(project=project), k=10))

    assert [(row.locale, row.queries, row.unanswerable) for row in rows] == [("(none)", 0, 1), ("all", 0, 1)]
