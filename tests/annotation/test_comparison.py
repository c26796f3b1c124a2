"""Run comparison (paired bootstrap, wins/ties/losses, worst queries) and the metrics command."""

import json

import numpy as np
import pytest

from annotation.comparison import compare_rows, compare_run_metrics, compare_runs, paired_bootstrap_ci, worst_queries
from annotation.metrics import MetricScale, MetricsError, QueryRow, RunMetrics, mean_metrics, query_metrics, run_metrics
from annotation.services import project_create

from .test_metrics import load

pytestmark = pytest.mark.django_db

SCALE = MetricScale.from_levels([(0, 0.0), (1, 1.0), (2, 2.0)])


def row(external_id: str, ranked, judged, *, traffic: int = 0, k: int = 3) -> QueryRow:
    return QueryRow(0, external_id, f"text {external_id}", traffic, query_metrics(ranked, judged, scale=SCALE, k=k))


# --- the bootstrap -------------------------------------------------------------------------


def test_the_bootstrap_interval_contains_the_true_mean_difference_on_a_synthetic_case():
    # Run b is better than run a by exactly 0.05 on average over these 400 queries, with
    # query-to-query noise (centred, so the true mean difference is known exactly).
    rng = np.random.default_rng(7)
    a = rng.uniform(0.2, 0.8, size=400)
    noise = rng.normal(0, 0.1, size=400)
    b = a + 0.05 + (noise - noise.mean())
    true_difference = 0.05

    low, high = paired_bootstrap_ci(b - a, resamples=10_000, seed=1)

    assert low < true_difference < high
    assert low > 0  # the improvement is found
    assert high - low == pytest.approx(2 * 1.96 * 0.1 / 20, rel=0.15)  # the normal-theory width


def test_the_bootstrap_interval_covers_the_true_mean_about_95_times_in_100():
    rng = np.random.default_rng(11)
    covered = 0
    for trial in range(200):
        deltas = rng.normal(-0.02, 0.15, size=80)
        low, high = paired_bootstrap_ci(deltas, resamples=2_000, seed=trial)
        covered += low < -0.02 < high

    assert 0.88 <= covered / 200 <= 0.99


def test_the_bootstrap_is_seeded_and_handles_edge_cases():
    deltas = [0.1, -0.2, 0.3, 0.0, 0.05]

    assert paired_bootstrap_ci(deltas, seed=3) == paired_bootstrap_ci(deltas, seed=3)
    assert paired_bootstrap_ci(deltas, seed=3) != paired_bootstrap_ci(deltas, seed=4)
    assert paired_bootstrap_ci([], seed=3) is None
    assert paired_bootstrap_ci([0.2, 0.2, 0.2]) == (pytest.approx(0.2), pytest.approx(0.2))
    with pytest.raises(MetricsError):
        paired_bootstrap_ci(deltas, confidence=1.5)


def test_large_inputs_are_resampled_in_blocks_with_the_same_result(monkeypatch):
    from annotation import comparison

    deltas = np.random.default_rng(0).normal(size=1000)
    whole = paired_bootstrap_ci(deltas, resamples=500, seed=9)
    monkeypatch.setattr(comparison, "BLOCK_DRAWS", 10_000)  # 10 resamples per block

    assert paired_bootstrap_ci(deltas, resamples=500, seed=9) == pytest.approx(whole)


# --- wins, ties, losses ----------------------------------------------------------------------


def test_wins_ties_and_losses_are_counted_per_query_and_unpaired_queries_are_reported():
    judged = [2, 1, 0]
    a = [
        row("win", [0, 0, 2], judged),
        row("tie", [2, 1, 0], judged),
        row("loss-big", [2, 1, 0], judged, traffic=5),
        row("loss-small", [2, 0, 1], judged),
        row("undefined", [0], [0]),
        row("only-a", [2], [2]),
    ]
    b = [
        row("win", [2, 1, 0], judged),
        row("tie", [2, 1, 0], judged),
        row("loss-big", [0, 0, 0], judged, traffic=5),
        row("loss-small", [1, 2, 0], judged),
        row("undefined", [0], [0]),
        row("only-b", [2], [2]),
    ]

    comparison = compare_rows(a, b, metric="ndcg", run_a="base", run_b="new", resamples=1000)

    assert (comparison.wins, comparison.ties, comparison.losses) == (1, 1, 2)
    assert (comparison.only_in_a, comparison.only_in_b, comparison.undefined) == (1, 1, 1)
    assert [d.external_id for d in comparison.worsened()] == ["loss-big", "loss-small"]
    assert [d.external_id for d in comparison.improved()] == ["win"]
    deltas = [d.delta for d in comparison.deltas]
    assert comparison.mean_delta == pytest.approx(sum(deltas) / 4)
    assert comparison.mean_b - comparison.mean_a == pytest.approx(comparison.mean_delta)
    low, high = comparison.ci
    assert low <= comparison.mean_delta <= high
    assert "only 4 paired queries" in comparison.notes[0]
    data = comparison.to_dict()
    assert (data["wins"], data["worsened"][0]["query_id"], data["run_b"]) == (1, "loss-big", "new")


def test_for_irrelevant_at_k_a_drop_is_a_win():
    judged = [2, 0, 0]
    a = [row("q1", [0, 0, 2], judged), row("q2", [2, 1, 1], judged)]
    b = [row("q1", [2, 1, 1], judged), row("q2", [0, 0, 2], judged)]

    comparison = compare_rows(a, b, metric="irrelevant", resamples=100)

    assert (comparison.wins, comparison.losses) == (1, 1)
    assert [d.external_id for d in comparison.worsened()] == ["q2"]


def test_unknown_metrics_and_differently_scored_runs_are_refused():
    with pytest.raises(MetricsError, match="unknown metric"):
        compare_rows([], [], metric="map")
    a = RunMetrics(1, "a", 1, 10, "gold", 1, 0, [], mean_metrics([]))
    b = RunMetrics(2, "b", 1, 5, "gold", 1, 0, [], mean_metrics([]))
    with pytest.raises(MetricsError, match="scored differently"):
        compare_run_metrics(a, b)


def test_the_worst_queries_of_a_run_come_lowest_first_heavier_traffic_first_among_equals():
    judged = [2, 1, 0]
    rows = [
        row("good", [2, 1, 0], judged, traffic=100),
        row("bad-rare", [0, 0, 0], judged, traffic=1),
        row("bad-popular", [0, 0, 0], judged, traffic=50),
        row("middling", [1, 0, 0], judged),
        row("no-relevant", [0], [0]),
    ]
    metrics = RunMetrics(1, "r", 1, 3, "gold", 1, 0, rows, mean_metrics(r.metrics for r in rows))

    assert [r.external_id for r in worst_queries(metrics, n=3)] == ["bad-popular", "bad-rare", "middling"]
    assert [r.external_id for r in worst_queries(metrics, metric="irrelevant", n=1)] == ["bad-popular"]


# --- over the database and through the command -------------------------------------------


@pytest.fixture
def two_runs(db):
    project = project_create(name="shop")
    qrels = {"q1": {"a": 2, "b": 1, "c": 0}, "q2": {"a": 0, "d": 2}, "q3": {"e": 1}, "q4": {"f": 0}}
    baseline = load(
        project,
        "bm25",
        qrels,
        {
            "q1": [("c", 1, 3.0), ("b", 2, 2.0), ("a", 3, 1.0)],
            "q2": [("d", 1, 1.0)],
            "q3": [("e", 1, 1.0)],
            "q4": [("f", 1, 1.0)],
        },
    )
    candidate = load(
        project,
        "hybrid",
        {},
        {
            "q1": [("a", 1, 3.0), ("b", 2, 2.0)],
            "q2": [("a", 1, 2.0), ("d", 2, 1.0)],
            "q3": [("e", 1, 1.0)],
            "q5": [("g", 1, 1.0)],
        },
    )
    return project, baseline, candidate


def test_compare_runs_pairs_queries_and_reports_the_mean_difference(two_runs):
    _, baseline, candidate = two_runs

    comparison = compare_runs(baseline, candidate, k=3, resamples=2000)

    by_query = {d.external_id: d for d in comparison.deltas}
    assert set(by_query) == {"q1", "q2", "q3"}  # q4: undefined (no relevant); q5 only in the candidate
    assert by_query["q1"].delta > 0 and by_query["q2"].delta < 0 and by_query["q3"].delta == 0
    assert (comparison.wins, comparison.ties, comparison.losses) == (1, 1, 1)
    assert (comparison.only_in_a, comparison.only_in_b) == (1, 1)
    expected = run_metrics(candidate, k=3).row("q1").metrics.ndcg - run_metrics(baseline, k=3).row("q1").metrics.ndcg
    assert by_query["q1"].delta == pytest.approx(expected)


def test_runs_of_different_projects_are_not_compared(two_runs):
    _, baseline, _ = two_runs
    other = load(project_create(name="other"), "x", {}, {"q1": [("a", 1, 1.0)]})

    with pytest.raises(MetricsError, match="different projects"):
        compare_runs(baseline, other)


def test_the_metrics_command_prints_means_with_their_query_counts_coverage_and_the_worst_queries(two_runs, command):
    out = command("metrics", "--project", "shop", "--run", "bm25", "--k", "3")

    assert "run bm25: 4 queries, k=3, from gold labels" in out
    lines = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()}
    assert lines["nDCG@3"][1] == "3"  # over 3 queries: q4 has nothing relevant
    assert lines["P@3"][1] == "4"
    assert lines["MRR"][1] == "3"
    assert "judged: 1.0000 of all top-3 results; 0 unjudged result(s) in the top 3" in out
    assert "worst queries by nDCG@3" in out


def test_the_metrics_command_compares_with_a_baseline(two_runs, command):
    out = command("metrics", "--project", "shop", "--run", "hybrid", "--k", "3", "--compare", "bm25")

    assert "hybrid vs bm25 (baseline) on nDCG@3, over 3 paired queries:" in out
    assert "wins 1, ties 1, losses 1" in out
    assert "95% bootstrap interval [" in out
    assert "not paired: 1 only in bm25, 1 only in hybrid" in out
    assert "got worse most:" in out and "q2" in out.split("got worse most:")[1]
    assert "unjudged result(s) in the top 3" in out
    assert "1 query(ies) without any judged pair" in out  # q5


def test_the_metrics_command_prints_json_and_marks_provisional_figures(two_runs, command):
    data = json.loads(
        command("metrics", "--project", "shop", "--run", "hybrid", "--k", "3", "--json", "--compare", "bm25")
    )

    assert data["label_source"] == "gold" and data["provisional"] is False
    assert data["means"]["ndcg"]["queries"] == 3  # q5 has no judged pair
    assert [q["query_id"] for q in data["per_query"]] == ["q1", "q2", "q3", "q5"]
    assert data["comparison"]["wins"] == 1 and data["comparison"]["run_a"] == "bm25"

    provisional = json.loads(command("metrics", "--project", "shop", "--run", "hybrid", "--labels", "llm", "--json"))
    assert provisional["provisional"] is True and "provisional" in provisional["notes"][0]


def test_the_metrics_command_explains_bad_input(two_runs, command, command_error):
    assert "no run 'nope'" in command_error("metrics", "--project", "shop", "--run", "nope")
    assert "not a label of the scale" in command_error(
        "metrics", "--project", "shop", "--run", "bm25", "--relevant-min", "great"
    )
    out = command("metrics", "--project", "shop", "--run", "bm25", "--relevant-min", "highly relevant", "--per-query")
    assert "relevant: 3 · highly relevant and up; irrelevant: 1 · irrelevant" in out
    assert out.count("\nq") >= 4


def test_the_metrics_command_shows_levels_by_key_and_name_and_its_json_by_stored_value(command):
    # On a 10/20/30 scale a stored value cannot pass for a key: keys are 1/2/3.
    project = project_create(name="tens", labels="low:10:0,mid:20:1,high:30:2")
    load(project, "bm25", {"q1": {"a": 30, "b": 10}}, {"q1": [("a", 1, 2.0), ("b", 2, 1.0)]})

    default = command("metrics", "--project", "tens", "--run", "bm25", "--k", "2")
    by_value = command("metrics", "--project", "tens", "--run", "bm25", "--relevant-min", "30")
    data = json.loads(command("metrics", "--project", "tens", "--run", "bm25", "--relevant-min", "high", "--json"))

    assert "relevant: 2 · mid and up; irrelevant: 1 · low" in default  # the lowest positive gain: 20
    assert "relevant: 3 · high and up; irrelevant: 1 · low" in by_value
    assert (data["relevant_min_value"], data["irrelevant_value"]) == (30, 10)
