"""The evaluate pages' charts (issue #14): the per-query distribution of nDCG@k on a
run's metrics page, and on compare each run's mean with its bootstrap interval."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from annotation.comparison import compare_run_metrics, paired_bootstrap_ci
from annotation.metrics import run_metrics
from annotation.models import Membership, Role
from annotation.services import project_create
from annotation.views.charts import histogram, histogram_bins, intervals
from tests.annotation.test_metrics import load

pytestmark = pytest.mark.django_db

QRELS = {"q1": {"p1": 2, "p2": 0, "p3": 1}, "q2": {"p4": 2, "p5": 1}, "q3": {"p6": 0, "p8": 2}}
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


@pytest.fixture
def runs(db):
    project = project_create(name="charts")
    baseline = load(project, "baseline <b>", QRELS, BASELINE)
    candidate = load(project, "candidate", QRELS, CANDIDATE)
    lead = get_user_model().objects.create_user(username="lea")
    Membership.objects.create(project=project, user=lead, role=Role.LEAD)
    client = Client()
    client.force_login(lead)
    return {"project": project, "baseline": baseline, "candidate": candidate, "client": client}


def test_values_fall_in_tenths_with_one_in_the_last_bin():
    assert histogram_bins([0.0, 0.05, 0.1, 0.55, 0.999, 1.0]) == [2, 1, 0, 0, 0, 1, 0, 0, 0, 2]


def test_the_histogram_draws_a_bar_per_bin_and_writes_each_count():
    svg = str(histogram([0.2, 0.25, 0.9], title="t", x_title="nDCG@3"))

    assert svg.count("<rect ") == 10
    assert "0.2–0.3: 2 queries" in svg and "0.9–1.0: 1 query" in svg
    assert 'class="chart-count">2</text>' in svg and "nDCG@3 (3 queries)" in svg
    assert "no query has this figure defined" in str(histogram([], title="t", x_title="x"))


def test_the_metrics_page_shows_the_ndcg_distribution_of_its_queries(runs):
    url = reverse("run_metrics", args=[runs["project"].id, runs["baseline"].id])
    body = runs["client"].get(url, {"k": "3"}).content.decode()

    expected = [row.metrics.ndcg for row in run_metrics(runs["baseline"], k=3).queries if row.metrics.ndcg is not None]
    figure = body[body.index('id="ndcg-histogram"') :]
    figure = figure[: figure.index("</figure>")]
    counts = [int(n) for n in re.findall(r": (\d+) quer", figure)]
    assert counts == histogram_bins(expected) and sum(counts) == 3
    assert "nDCG@3 (3 queries)" in figure


def test_the_compare_page_shows_each_runs_mean_with_its_bootstrap_interval(runs):
    url = reverse("run_compare", args=[runs["project"].id])
    params = {"a": runs["baseline"].id, "b": runs["candidate"].id, "metric": "ndcg", "k": "3"}
    body = runs["client"].get(url, params).content.decode()

    comparison = compare_run_metrics(
        run_metrics(runs["baseline"], k=3), run_metrics(runs["candidate"], k=3), metric="ndcg"
    )
    figure = body[body.index('id="interval-chart"') :]
    figure = figure[: figure.index("</figure>")]
    for mean, values in (
        (comparison.mean_a, [d.a for d in comparison.deltas]),
        (comparison.mean_b, [d.b for d in comparison.deltas]),
    ):
        low, high = paired_bootstrap_ci(values)
        assert f"{mean:.3f} [{low:.3f}, {high:.3f}]" in figure
    assert figure.count('class="ev-dot') == 2
    # A run's name comes from a user: escaped inside the SVG.
    assert "A · baseline &lt;b&gt;" in figure and "<b>" not in figure


def test_a_run_without_a_defined_mean_is_drawn_as_undefined():
    svg = str(
        intervals([{"label": "A", "mean": None, "ci": None}, {"label": "B", "mean": 0.5, "ci": (0.4, 0.6)}], title="t")
    )

    assert "undefined" in svg and "0.500 [0.400, 0.600]" in svg and svg.count("<circle") == 1
