"""Every page a lead reads shows a label by its key (the n-th level is key n, as on the
review card's keyboard) and its name, never by its stored value. On a scale of 10/20/30
a stored value can never pass for a key: keys are 1/2/3."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from annotation.label_keys import ShownLabel, keyed_levels
from annotation.models import GoldProvenance, Label, LabelSource, Pair, Role
from annotation.services import project_create
from reviews.services.queue import task_claim_next, task_flag
from reviews.services.route import route_pairs

from .lead_actions import forms_posting_to

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
OPTIONS = [("", "gold…"), ("10", "1 · low"), ("20", "2 · mid"), ("30", "3 · high")]


@pytest.fixture
def project(db):
    # Overrides the conftest's 0/1/2 project: the fixtures built on it use this scale.
    return project_create(name="tens", labels="low:10:0,mid:20:1,high:30:2")


@pytest.fixture
def lead_client(member):
    client = Client()
    client.force_login(member("lea", Role.LEAD))
    return client


@pytest.fixture
def settled(judge, member):
    """settled(llm, gold) → a pair the LLM labelled `llm` and hugo labelled `gold` (human gold)."""
    human = member("hugo")

    def make(llm: int, gold: int):
        judged = judge(value=llm, confidence=0.9)
        pair = judged.pair
        Label.objects.create(
            project_id=pair.project_id, pair=pair, source=LabelSource.HUMAN, rater="hugo", user=human, value=gold
        )
        Pair.objects.filter(id=pair.id).update(gold_value=gold, gold_provenance=GoldProvenance.HUMAN)
        pair.refresh_from_db()
        return pair

    return make


def row_of(html: str, row_id: str) -> str:
    start = html.index(f'<tr id="{row_id}"')
    return html[start : html.index("</tr>", start)]


def badges(html: str) -> list[str]:
    return re.findall(r'<span class="badge">(.*?)</span>', html)


def test_keys_follow_the_scale_order_whatever_the_values():
    shown = keyed_levels([(30, "high"), (10, "low"), (20, "mid")])

    assert shown == {10: ShownLabel(1, "low"), 20: ShownLabel(2, "mid"), 30: ShownLabel(3, "high")}
    assert str(shown[20]) == "2 · mid"


def test_hard_disagreements_show_keys_and_names_and_offer_gold_by_key(project, policy, settled, lead_client):
    pair = settled(10, 30)

    html = lead_client.get(reverse("reviews:disagreements", args=[project.id])).content.decode()

    row = row_of(html, f"dis-{pair.id}")
    # The LLM's label, then gold; then each human's label.
    assert badges(row) == ["<kbd>1</kbd> low", "<kbd>3</kbd> high"]
    assert "hugo: <kbd>3</kbd> high" in row
    # The override posts the stored value and shows the key and name.
    forms, _ = forms_posting_to(html, reverse("reviews:disagreement_action", args=[project.id, pair.id]))
    [options] = forms[-1]["selects"].values()
    assert [(o["value"], o["text"]) for o in options] == OPTIONS


def test_overriding_a_disagreement_says_the_gold_by_key_and_stores_the_value(project, policy, settled, lead_client):
    pair = settled(10, 30)
    url = reverse("reviews:disagreement_action", args=[project.id, pair.id])

    response = lead_client.post(url, {"action": "override", "value": "20"}, **HTMX)

    body = response.content.decode()
    assert response.status_code == 200
    assert "Gold set to 2 · mid by you (provenance: adjudicated)." in body
    assert "Gold set to 20" not in body
    pair.refresh_from_db()
    assert (pair.gold_value, pair.gold_provenance) == (20, GoldProvenance.ADJUDICATED)
    # The row as it is now: gold by key and name.
    assert badges(row_of(body, f"dis-{pair.id}")) == ["<kbd>1</kbd> low", "<kbd>2</kbd> mid"]


def test_the_flagged_page_offers_gold_by_key_and_says_it_by_key(project, policy, judge, member, lead_client):
    doubtful = judge(value=20, confidence=0.3)
    route_pairs(project=project, pair_ids=[doubtful.pair.id])
    ann = member("ann")
    task = task_claim_next(project=project, user=ann)
    task_flag(task=task, user=ann, comment="odd image")
    url = reverse("reviews:flag_action", args=[project.id, task.id])

    page = lead_client.get(reverse("reviews:flagged", args=[project.id])).content.decode()
    response = lead_client.post(url, {"action": "override", "value": "30"}, **HTMX)

    forms, _ = forms_posting_to(page, url)
    [options] = forms[-1]["selects"].values()
    assert [(o["value"], o["text"]) for o in options] == OPTIONS
    body = response.content.decode()
    assert "Gold set to 3 · high by you (provenance: adjudicated)." in body and "Gold set to 30" not in body
    doubtful.pair.refresh_from_db()
    assert doubtful.pair.gold_value == 30


def test_the_dashboard_charts_name_levels_by_key(project, policy, settled, lead_client):
    settled(10, 30)
    settled(20, 20)
    settled(30, 30)

    html = lead_client.get(reverse("reviews:dashboard", args=[project.id])).content.decode()

    # The confusion matrix's axes (each name fits one line of its cell) and the distribution's legend.
    for name in ("1 · low", "2 · mid", "3 · high"):
        assert f">{name}</tspan>" in html
        assert f'<tspan class="chart-count">{name}</tspan>:' in html
    for value in ("10", "20", "30"):
        assert f">{value} ·" not in html


def test_run_pair_metrics_and_project_pages_show_keys(project, policy, settled, run_of, lead_client):
    pair = settled(10, 30)
    run = run_of("baseline", [pair])

    run_page = lead_client.get(reverse("run_detail", args=[project.id, run.id])).content.decode()
    pair_page = lead_client.get(reverse("judging:pair_detail", args=[project.id, pair.id])).content.decode()
    metrics = lead_client.get(reverse("run_metrics", args=[project.id, run.id])).content.decode()
    project_page = lead_client.get(reverse("project_detail", args=[project.id])).content.decode()

    pair_link = reverse("judging:pair_detail", args=[project.id, pair.id])
    assert f'<a href="{pair_link}"><kbd>1</kbd> low</a>' in run_page  # the LLM column
    assert '<span class="badge"><kbd>3</kbd> high</span>' in run_page  # gold
    # Gold, then its labels in order: the LLM's, then hugo's.
    assert badges(pair_page)[:3] == ["<kbd>3</kbd> high", "<kbd>1</kbd> low", "<kbd>3</kbd> high"]
    assert "relevant: <kbd>2</kbd> mid and up · irrelevant: <kbd>1</kbd> low" in metrics
    # The scale's own table keeps the stored value beside the key: files and the API carry it.
    assert '<tr><td><kbd>1</kbd></td><td>low</td><td class="num">10</td>' in project_page


def test_the_judge_vs_humans_confusion_table_names_levels_by_key(project, policy, settled, lead_client):
    settled(10, 30)
    settled(20, 20)

    html = lead_client.get(reverse("reviews:calibration", args=[project.id])).content.decode()

    # Columns (the judge) and rows (humans) of the confusion table.
    assert '<th class="num">1 · low</th><th class="num">2 · mid</th><th class="num">3 · high</th>' in html
    assert '<th scope="row">3 · high</th>' in html
