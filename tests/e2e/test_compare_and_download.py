"""A lead compares two runs and downloads the gold labels, in a real browser."""

import csv
import io

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from annotation.comparison import compare_run_metrics, worst_queries
from annotation.metrics import run_metrics
from annotation.models import Membership, Pair, Query, Role
from annotation.services import project_create
from tests.annotation.test_metrics import load

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-compare-123"
QRELS = {
    "q1": {"p1": 2, "p2": 0, "p3": 1},
    "q2": {"p4": 2, "p5": 1},
    "q3": {"p6": 0, "p8": 2},
}
BASELINE = {
    "q1": [("p2", 1, 0.9), ("p1", 2, 0.8), ("p3", 3, 0.7)],
    "q2": [("p4", 1, 0.9), ("p5", 2, 0.8)],
    "q3": [("p6", 1, 0.9), ("p8", 2, 0.8)],
}
CANDIDATE = {
    "q1": [("p1", 1, 0.9), ("p3", 2, 0.8), ("p2", 3, 0.7)],
    "q2": [("p5", 1, 0.9), ("p4", 2, 0.8)],
    "q3": [("p8", 1, 0.9), ("p6", 2, 0.8)],
}


def test_a_lead_compares_two_runs_and_downloads_the_gold_labels(live_server, page, transactional_db):
    project = project_create(name="fashion-e2e")
    baseline = load(project, "baseline", QRELS, BASELINE)
    candidate = load(project, "candidate", QRELS, CANDIDATE)
    # Spreadsheet formulas in imported text must come out neutralised.
    Query.objects.filter(project=project, external_id="q2").update(text="=1+1 boots")
    lead = get_user_model().objects.create_user(username="lea", password=PASSWORD)
    Membership.objects.create(project=project, user=lead, role=Role.LEAD)
    expected = compare_run_metrics(run_metrics(baseline, k=3), run_metrics(candidate, k=3), metric="ndcg")

    page.goto(f"{live_server.url}{reverse('login')}")
    page.fill("input[name=username]", "lea")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}{reverse('home')}")

    page.click(f"text={project.name}")
    page.click("text=Compare runs")
    page.select_option("select[name=a]", str(baseline.id))
    page.select_option("select[name=b]", str(candidate.id))
    page.select_option("select[name=metric]", "ndcg")
    page.fill("input[name=k]", "3")
    page.click("#compare-form button[type=submit]")

    delta = page.locator("#mean-delta")
    delta.wait_for()
    assert delta.inner_text() == f"{expected.mean_delta:+.4f}"
    assert page.locator("#delta-ci").inner_text() == f"[{expected.ci[0]:+.4f}, {expected.ci[1]:+.4f}]"
    assert page.locator("#wtl").inner_text() == f"{expected.wins} / {expected.ties} / {expected.losses}"
    assert (expected.wins, expected.losses) == (2, 1)
    worsened = page.locator(".ev-worsened tbody tr[data-query]")
    assert [worsened.nth(i).get_attribute("data-query") for i in range(worsened.count())] == ["q2"]
    # htmx swapped the result in and pushed the settings into the address bar.
    assert f"a={baseline.id}" in page.url and f"b={candidate.id}" in page.url

    page.click(".page-links >> text=Downloads")
    page.wait_for_url(f"{live_server.url}{reverse('downloads', args=[project.id])}")
    with page.expect_download() as download_info:
        page.click("a[data-format=csv]")
    download = download_info.value
    assert download.suggested_filename == "fashion-e2e-gold.csv"
    with open(download.path(), encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(io.StringIO(handle.read())))

    gold = {
        (pair.query.external_id, pair.product.external_id): pair.gold_value
        for pair in Pair.objects.filter(project=project, gold_value__isnull=False).select_related("query", "product")
    }
    assert {(row["query_id"], row["product_id"]): int(row["label"]) for row in rows} == gold
    assert {row["query"] for row in rows if row["query_id"] == "q2"} == {"'=1+1 boots"}


def test_the_metrics_page_changes_settings_and_sorting_in_place(live_server, page, transactional_db):
    project = project_create(name="fashion-e2e")
    load(project, "baseline", QRELS, BASELINE)
    candidate = load(project, "candidate", QRELS, CANDIDATE)
    lead = get_user_model().objects.create_user(username="lea", password=PASSWORD)
    Membership.objects.create(project=project, user=lead, role=Role.LEAD)
    page.goto(f"{live_server.url}{reverse('login')}")
    page.fill("input[name=username]", "lea")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}{reverse('home')}")
    page.goto(f"{live_server.url}{reverse('run_metrics', args=[project.id, candidate.id])}")
    page.evaluate("() => { window.sameDocument = true; }")

    # The browser's own check would stop k=0 before the server sees it; the server's
    # 400 must still be shown in place.
    page.evaluate("() => document.querySelector('input[name=k]').removeAttribute('min')")
    page.fill("input[name=k]", "0")
    page.click("form.ev-form button[type=submit]")
    page.locator("#metrics .error-box").wait_for()
    assert "k: Ensure this value is greater than or equal to 1." in page.locator("#metrics .error-box").inner_text()

    page.fill("input[name=k]", "2")
    page.click("form.ev-form button[type=submit]")
    page.locator("#metrics tr[data-metric=ndcg]").wait_for()
    assert "k=2" in page.url
    page.click(".ev-queries th >> text=P@2")
    page.wait_for_url("**sort=precision**")
    expected = worst_queries(run_metrics(candidate, k=2), metric="precision", n=10)
    rows = page.locator(".ev-queries tbody tr[data-query]")
    assert [rows.nth(i).get_attribute("data-query") for i in range(rows.count())] == [
        row.external_id for row in expected
    ]
    assert page.evaluate("() => window.sameDocument") is True
