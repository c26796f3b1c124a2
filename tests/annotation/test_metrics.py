"""Run metrics: the pure functions, the database service, and agreement with pytrec_eval."""

import math
import random

import pytest
import pytrec_eval
from django.utils import timezone

from annotation.metrics import (
    MetricScale,
    MetricsError,
    dcg,
    ideal_dcg,
    mean_metrics,
    ordered_results,
    query_metrics,
    run_metrics,
    unjudged_pairs,
)
from annotation.models import GoldProvenance, Label, LabelSource, Pair, Product, Query, SearchResult, SearchRun
from annotation.services import project_create

pytestmark = pytest.mark.django_db

GAIN_IS_VALUE = "r0:0,r1:1,r2:2,r3:3"  # trec_eval takes qrels values as gains


def load(
    project, run_name: str, qrels: dict[str, dict[str, int]], run: dict[str, list[tuple[str, int, float | None]]]
) -> SearchRun:
    """Queries, products, pairs with gold from qrels, and a run of (docno, rank, score)."""
    query_ids = set(qrels) | set(run)
    product_ids = {d for docs in qrels.values() for d in docs} | {d for results in run.values() for d, _, _ in results}
    existing = set(Query.objects.filter(project=project).values_list("external_id", flat=True))
    Query.objects.bulk_create(
        [Query(project=project, external_id=q, text=f"text of {q}") for q in sorted(query_ids - existing)]
    )
    queries = {q.external_id: q for q in Query.objects.filter(project=project)}
    existing = set(Product.objects.filter(project=project).values_list("external_id", flat=True))
    Product.objects.bulk_create(
        [
            Product(project=project, external_id=p, title=f"title of {p}", content_hash="x")
            for p in sorted(product_ids - existing)
        ]
    )
    products = {p.external_id: p for p in Product.objects.filter(project=project)}
    keys = {(q, d) for q, docs in qrels.items() for d in docs} | {
        (q, d) for q, results in run.items() for d, _, _ in results
    }
    now = timezone.now()
    pairs = {}
    for q, d in sorted(keys):
        value = qrels.get(q, {}).get(d)
        pair, _ = Pair.objects.get_or_create(project=project, query=queries[q], product=products[d])
        if value is not None:
            pair.gold_value, pair.gold_provenance, pair.gold_updated_at = value, GoldProvenance.IMPORTED, now
            pair.save()
        pairs[(q, d)] = pair
    search_run = SearchRun.objects.create(project=project, name=run_name)
    SearchResult.objects.bulk_create(
        [
            SearchResult(
                run=search_run, query=queries[q], product=products[d], pair=pairs[(q, d)], rank=rank, score=score
            )
            for q, results in run.items()
            for d, rank, score in results
        ]
    )
    return search_run


def random_case(seed: int, queries: int = 40) -> tuple[dict, dict]:
    """qrels and a run with rank ties (equal and unequal scores within a rank), gaps in
    the ranks, unjudged results, judged pairs outside the run, queries without a
    relevant pair and a query without any judgment. Scores never increase with rank, so
    trec_eval (which orders by score, then docno descending) sees qrelay's order."""
    rng = random.Random(seed)
    qrels: dict[str, dict[str, int]] = {}
    run: dict[str, list[tuple[str, int, float | None]]] = {}
    for n in range(queries):
        q = f"q{n}"
        docs = rng.sample(range(200), rng.randint(1, 30))
        results = []
        rank = 0
        for d in docs:
            if not results or rng.random() > 0.3:
                rank += rng.choice((1, 1, 1, 2))  # sometimes a gap
            results.append((f"d{d:03d}", rank, 1000.0 - 10 * rank + rng.choice((0.0, 0.0, 1.5, 3.0))))
        run[q] = results
        if n == 0:
            continue  # no judgment at all
        no_relevant = n % 7 == 1
        judged = {}
        for d, _, _ in results:
            if rng.random() < 0.75:
                judged[d] = 0 if no_relevant else rng.choice((0, 0, 1, 2, 3))
        for extra in rng.sample(range(200, 260), rng.randint(0, 5)):  # judged, not retrieved
            judged[f"d{extra}"] = 0 if no_relevant else rng.choice((0, 1, 2, 3))
        if not judged:
            judged[results[0][0]] = 0
        qrels[q] = judged
    return qrels, run


def assert_agrees_with_pytrec_eval(metrics, qrels, run, k):
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {f"ndcg_cut.{k}", f"P.{k}", "recip_rank", f"recall.{k}"})
    expected = evaluator.evaluate({q: {d: score for d, _, score in results} for q, results in run.items()})
    rows = {row.external_id: row.metrics for row in metrics.queries}
    assert set(rows) == set(run)
    for q, row in rows.items():
        if q not in expected:  # trec_eval skips a query missing from the qrels
            assert row.judged_total == 0
            assert (row.ndcg, row.precision, row.mrr, row.recall) == (None, None, None, None)
            continue
        want = expected[q]
        assert row.precision == pytest.approx(want[f"P_{k}"], abs=1e-9), q
        if row.relevant_total == 0:
            # Undefined here; trec_eval says 0.
            assert (row.ndcg, row.mrr, row.recall) == (None, None, None)
            assert want[f"ndcg_cut_{k}"] == want["recip_rank"] == 0
            continue
        assert row.ndcg == pytest.approx(want[f"ndcg_cut_{k}"], abs=1e-9), q
        assert row.mrr == pytest.approx(want["recip_rank"], abs=1e-9), q
        assert row.recall == pytest.approx(want[f"recall_{k}"], abs=1e-9), q


# --- agreement with pytrec_eval ----------------------------------------------------------


@pytest.mark.parametrize("k", [1, 3, 5, 10, 20])
def test_ndcg_precision_and_mrr_agree_with_pytrec_eval(k):
    project = project_create(name="trec", labels=GAIN_IS_VALUE)
    qrels, run = random_case(seed=k)
    search_run = load(project, "r", qrels, run)

    metrics = run_metrics(search_run, k=k, relevant_min_value=1)

    assert_agrees_with_pytrec_eval(metrics, qrels, run, k)
    # The case has what it is meant to have.
    rows = [row.metrics for row in metrics.queries]
    assert any(r.judged_total == 0 for r in rows)
    assert any(r.judged_total and r.relevant_total == 0 for r in rows)
    assert any(r.coverage is not None and r.coverage < 1 for r in rows)


def test_full_ties_are_broken_like_trec_eval_by_product_id_descending():
    project = project_create(name="ties", labels=GAIN_IS_VALUE)
    qrels = {"q1": {"a": 3, "b": 0, "c": 1, "z": 2}}
    run = {"q1": [("a", 1, 5.0), ("b", 1, 5.0), ("c", 1, 5.0), ("d", 2, 1.0)]}
    search_run = load(project, "r", qrels, run)

    metrics = run_metrics(search_run, k=3, relevant_min_value=1)

    row = metrics.row("q1").metrics
    # Order c, b, a: gains 1, 0, 3.
    assert row.ndcg == pytest.approx((1 + 3 / 2) / (3 + 2 / math.log2(3) + 1 / 2))
    assert row.first_relevant == 1
    assert_agrees_with_pytrec_eval(metrics, qrels, run, 3)


def test_a_rank_tie_is_broken_by_score_and_missing_scores_come_last():
    project = project_create(name="scores", labels=GAIN_IS_VALUE)
    qrels = {"q1": {"a": 0, "b": 0, "c": 3}}
    run = {"q1": [("c", 1, None), ("a", 1, 2.0), ("b", 1, 7.0)]}
    search_run = load(project, "r", qrels, run)

    row = run_metrics(search_run, k=3, relevant_min_value=1).row("q1").metrics

    assert row.first_relevant == 3  # b (7.0), a (2.0), c (no score)
    assert row.mrr == pytest.approx(1 / 3)
    assert ordered_results([("c", 1, None), ("a", 1, 2.0), ("b", 1, 7.0)]) == [
        ("b", 1, 7.0),
        ("a", 1, 2.0),
        ("c", 1, None),
    ]


def test_positions_not_stored_ranks_give_the_discount():
    project = project_create(name="gaps", labels=GAIN_IS_VALUE)
    qrels = {"q1": {"a": 0, "b": 0, "c": 2}}
    search_run = load(project, "r", qrels, {"q1": [("a", 1, 3.0), ("b", 5, 2.0), ("c", 9, 1.0)]})

    row = run_metrics(search_run, k=3).row("q1").metrics

    assert (row.first_relevant, row.mrr, row.retrieved_at_k) == (3, pytest.approx(1 / 3), 3)
    assert row.ndcg == pytest.approx((2 / 2) / 2)  # gain 2 at position 3 over the ideal 2 at position 1


def test_ties_across_the_cut_off_and_a_first_relevant_result_deep_in_the_list():
    # Rank 2 is shared by c, d, e across the cut-off k=3 (e, d win by product id
    # descending); q2's only relevant result is its 7th, past the top 3 that the first
    # read returns, so its reciprocal rank comes from the whole list.
    project = project_create(name="deep", labels=GAIN_IS_VALUE)
    qrels = {"q1": {"a": 0, "c": 3, "d": 1, "e": 2}, "q2": {f"x{i}": 0 for i in range(6)} | {"y": 2}}
    run = {
        "q1": [("a", 1, 5.0), ("c", 2, 4.0), ("d", 2, 4.0), ("e", 2, 4.0), ("f", 3, 1.0)],
        "q2": [(f"x{i}", i + 1, 10.0 - i) for i in range(6)] + [("y", 7, 1.0), ("z", 8, 0.5)],
    }
    search_run = load(project, "r", qrels, run)
    # The same values as LLM labels: the other read path gives the same figures.
    for pair in Pair.objects.filter(project=project, gold_value__isnull=False):
        Label.objects.create(project=project, pair=pair, source=LabelSource.LLM, rater="m", value=pair.gold_value)

    for source in ("gold", "llm"):
        metrics = run_metrics(search_run, k=3, relevant_min_value=1, label_source=source)

        q1, q2 = metrics.row("q1").metrics, metrics.row("q2").metrics
        assert (q1.first_relevant, q1.relevant_at_k) == (2, 2), source  # a, e, d
        assert q1.ndcg == pytest.approx((2 / math.log2(3) + 1 / 2) / (3 + 2 / math.log2(3) + 1 / 2)), source
        assert (q2.first_relevant, q2.mrr, q2.retrieved) == (7, pytest.approx(1 / 7), 8), source
        assert_agrees_with_pytrec_eval(metrics, qrels, run, 3)


@pytest.mark.parametrize("source", ["gold", "llm"])
def test_the_embedded_databases_orm_reads_give_the_same_figures(monkeypatch, source):
    # reads.py is PostgreSQL's SQL; SQLite takes portable.py's window over the run.
    from types import SimpleNamespace

    from annotation.metrics import runs

    project = project_create(name="portable", labels=GAIN_IS_VALUE)
    qrels, run = random_case(seed=5)
    search_run = load(project, "r", qrels, run)
    for pair in Pair.objects.filter(project=project, gold_value__isnull=False):
        Label.objects.create(project=project, pair=pair, source=LabelSource.LLM, rater="m", value=pair.gold_value)
    fast = run_metrics(search_run, k=3, relevant_min_value=1, label_source=source).to_dict()

    monkeypatch.setattr(runs, "connection", SimpleNamespace(vendor="sqlite"))
    portable = run_metrics(search_run, k=3, relevant_min_value=1, label_source=source).to_dict()

    assert portable == fast
    assert any(row["first_relevant"] and row["first_relevant"] > 3 for row in fast["per_query"])


# --- the definitions ---------------------------------------------------------------------


def test_custom_gains_drive_ndcg_and_the_default_relevant_cut():
    project = project_create(name="gains", labels="bad:0:0,meh:1:0,ok:2:0.5,great:3:4")
    qrels = {"q1": {"a": 2, "b": 1, "c": 3, "x": 3, "y": 0}}
    search_run = load(project, "r", qrels, {"q1": [("a", 1, 3.0), ("b", 2, 2.0), ("c", 3, 1.0), ("u", 4, 0.5)]})

    metrics = run_metrics(search_run, k=3)
    row = metrics.row("q1").metrics

    assert metrics.relevant_min_value == 2  # the lowest value with a positive gain
    expected = (0.5 / 1 + 0 / math.log2(3) + 4 / 2) / (4 + 4 / math.log2(3) + 0.5 / 2)
    assert row.ndcg == pytest.approx(expected, abs=1e-12)
    assert (row.relevant_at_k, row.relevant_total) == (2, 3)  # a, c of ok/great; x outside the run
    assert row.precision == pytest.approx(2 / 3)
    assert row.recall == pytest.approx(2 / 3)
    assert row.irrelevant == 0  # meh is not the lowest level
    assert row.mrr == 1.0

    strict = run_metrics(search_run, k=3, relevant_min_value=3).row("q1").metrics
    assert (strict.precision, strict.mrr, strict.recall) == (
        pytest.approx(1 / 3),
        pytest.approx(1 / 3),
        pytest.approx(1 / 2),
    )
    assert strict.ndcg == pytest.approx(expected)  # gains, not the cut, drive nDCG


def test_unjudged_results_are_not_counted_as_irrelevant_and_coverage_says_so():
    scale = MetricScale.from_levels([(0, 0.0), (1, 1.0), (2, 2.0)])
    row = query_metrics([2, None, 0, None], [2, 0, 1], scale=scale, k=4)

    assert (row.judged_at_k, row.coverage) == (2, 0.5)
    assert row.irrelevant == 0.25  # only the one labelled irrelevant
    assert row.precision == 0.25
    assert row.ndcg == pytest.approx(2 / (2 + 1 / math.log2(3)))
    assert row.recall == 0.5


def test_a_short_list_is_divided_by_k_for_precision_but_not_for_coverage():
    scale = MetricScale.from_levels([(0, 0.0), (1, 1.0)])
    row = query_metrics([1, 1], [1, 1], scale=scale, k=10)

    assert (row.precision, row.coverage, row.recall, row.retrieved_at_k) == (0.2, 1.0, 1.0, 2)


def test_undefined_figures_are_none_not_zero():
    scale = MetricScale.from_levels([(0, 0.0), (1, 1.0)])
    nothing_relevant = query_metrics([0, None], [0, 0], scale=scale, k=5)
    nothing_judged = query_metrics([None, None], [], scale=scale, k=5)
    relevant_elsewhere = query_metrics([0, None], [0, 1], scale=scale, k=5)

    assert (nothing_relevant.ndcg, nothing_relevant.recall, nothing_relevant.mrr) == (None, None, None)
    assert nothing_relevant.precision == 0 and nothing_relevant.irrelevant == 0.2
    assert (nothing_judged.ndcg, nothing_judged.precision, nothing_judged.mrr, nothing_judged.coverage) == (
        None,
        None,
        None,
        0.0,
    )
    assert (relevant_elsewhere.ndcg, relevant_elsewhere.recall, relevant_elsewhere.mrr) == (0.0, 0.0, 0.0)


def test_mrr_looks_past_the_cut_off():
    scale = MetricScale.from_levels([(0, 0.0), (1, 1.0)])
    row = query_metrics([0, 0, 0, 1], [0, 1], scale=scale, k=2)

    assert (row.mrr, row.precision, row.first_relevant) == (0.25, 0.0, 4)


def test_dcg_and_ideal_dcg():
    scale = MetricScale.from_levels([(0, 0.0), (1, 1.0), (2, 3.0)])

    assert dcg([3, 1, 0, 1], 3) == pytest.approx(3 + 1 / math.log2(3))
    assert ideal_dcg({0: 5, 1: 2, 2: 1}, scale, 2) == pytest.approx(3 + 1 / math.log2(3))
    assert ideal_dcg({0: 5}, scale, 3) == 0


def test_the_scale_must_allow_something_relevant():
    with pytest.raises(MetricsError, match="positive gain"):
        MetricScale.from_levels([(0, 0.0), (1, 0.0)])
    with pytest.raises(MetricsError, match="not a value of the scale"):
        MetricScale.from_levels([(0, 0.0), (1, 1.0)], relevant_min_value=5)


def test_means_say_how_many_queries_they_are_over():
    scale = MetricScale.from_levels([(0, 0.0), (1, 1.0)])
    rows = [
        query_metrics([1, 0], [1, 0], scale=scale, k=2),
        query_metrics([0, 0], [0, 0], scale=scale, k=2),
        query_metrics([None], [], scale=scale, k=2),
    ]

    means = mean_metrics(rows)

    assert (means["ndcg"].value, means["ndcg"].queries) == (1.0, 1)
    assert (means["precision"].value, means["precision"].queries) == (0.25, 2)
    assert (means["coverage"].value, means["coverage"].queries) == (pytest.approx(2 / 3), 3)


# --- the service ------------------------------------------------------------------------


def test_run_metrics_reports_coverage_holes_and_queries_without_judgments():
    project = project_create(name="holes")
    qrels = {"q1": {"a": 2, "b": 0}}
    search_run = load(project, "r", qrels, {"q1": [("a", 1, 2.0), ("b", 2, 1.0), ("c", 3, 0.5)], "q2": [("a", 1, 1.0)]})

    metrics = run_metrics(search_run, k=10)

    assert [row.external_id for row in metrics.queries] == ["q1", "q2"]
    assert metrics.unjudged_queries == 1
    assert (metrics.retrieved_at_k, metrics.judged_at_k, metrics.holes) == (4, 2, 2)
    assert metrics.coverage == 0.5
    assert metrics.means["ndcg"].queries == 1
    assert metrics.means["coverage"].value == pytest.approx((2 / 3 + 0) / 2)
    assert not metrics.provisional
    assert sorted(unjudged_pairs(search_run)) == sorted(
        Pair.objects.filter(gold_value__isnull=True).values_list("id", flat=True)
    )
    assert len(unjudged_pairs(search_run, k=1)) == 1  # only q2's a is unjudged in the top 1
    data = metrics.to_dict()
    assert data["per_query"][0]["query_id"] == "q1" and data["means"]["ndcg"] == {"value": 1.0, "queries": 1}


def test_before_gold_metrics_can_use_the_newest_label_of_a_source_and_say_they_are_provisional():
    project = project_create(name="llm")
    search_run = load(project, "r", {}, {"q1": [("a", 1, 2.0), ("b", 2, 1.0)]})
    a, b = (Pair.objects.get(product__external_id=p) for p in "ab")
    Label.objects.create(project=project, pair=a, source=LabelSource.LLM, rater="m", value=0)
    Label.objects.create(project=project, pair=a, source=LabelSource.LLM, rater="m", value=2)  # newer: wins
    Label.objects.create(project=project, pair=b, source=LabelSource.HUMAN, rater="ann", value=1)

    gold = run_metrics(search_run, k=2)
    llm = run_metrics(search_run, k=2, label_source="llm")
    any_source = run_metrics(search_run, k=2, label_source="any")

    assert gold.row("q1").metrics.ndcg is None and gold.unjudged_queries == 1
    assert llm.provisional and "provisional" in llm.notes[0] and llm.to_dict()["provisional"] is True
    assert (llm.row("q1").metrics.ndcg, llm.row("q1").metrics.coverage) == (1.0, 0.5)
    assert any_source.row("q1").metrics.ndcg == pytest.approx((2 + 1 / math.log2(3)) / (2 + 1 / math.log2(3)))
    assert any_source.row("q1").metrics.coverage == 1.0
    with pytest.raises(MetricsError, match="unknown label source"):
        run_metrics(search_run, label_source="gpt")


def test_run_metrics_reads_a_run_in_a_constant_number_of_queries(django_assert_max_num_queries):
    project = project_create(name="bulk", labels=GAIN_IS_VALUE)
    qrels, run = random_case(seed=99, queries=60)
    search_run = load(project, "r", qrels, run)

    with django_assert_max_num_queries(10):
        metrics = run_metrics(search_run, k=10)

    assert len(metrics.queries) == 60
