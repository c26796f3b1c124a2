"""qrelay's run metrics side by side with pytrec_eval and ranx, on the same qrels and run.

One run, one data set, held in memory: `--queries` queries × `--results` results
(default 10,000 × 100), each query with 20 more judged pairs outside the run, 80% of the
results judged on a 0–3 scale, every query with at least one relevant pair (so every
figure is defined in all three tools), strictly decreasing scores (no ties: the tools
break ties differently). Timed, each on the same data:
- qrelay in the database: `run_metrics(run, k)` over the run loaded into PostgreSQL
  (the path the run page and the API use; loading is timed apart, users do it once);
- qrelay in Python: the per-query pure functions (`ordered_results`, `query_metrics`,
  `mean_metrics`) over the in-memory dicts, the same input the other tools get;
- pytrec_eval: `RelevanceEvaluator(qrels, measures)` plus `evaluate(run)`;
- ranx: `Qrels`/`Run` from the dicts plus `evaluate` (numba: the first call compiles,
  so it is timed cold once and then warm).
Then checks that every query's nDCG@k, P@k, Recall@k and MRR agree (max absolute
difference), and prints each time as a ratio to pytrec_eval's. Ratios are the figures
to compare: absolute times on a shared machine vary from run to run.

Usage: DATABASE_URL=... python bench/bench_vs_trec_tools.py [--queries N] [--results N] [--k 10] [--repeat 3]
Needs `make bench-deps` (ranx). Uses its own database, qrelay_bench_vs_trec_tools.
"""

import argparse
import os
import random
import statistics
import time
from collections.abc import Callable

import _build
from _setup import analyze, setup

PRODUCTS = 200_000
EXTRA = 20  # judged pairs per query outside the run
LEVELS = "r0:0,r1:1,r2:2,r3:3"  # gain = value, as trec_eval reads qrels


def make_data(queries: int, results: int, seed: int = 7) -> tuple[dict, dict]:
    """qrels {q: {doc: value}} and run {q: [(doc, rank, score)]}. Query n's i-th pair is
    product (n * 7919 + i * 13) mod PRODUCTS: distinct within a query."""
    assert 13 * (results + EXTRA) < PRODUCTS
    rng = random.Random(seed)
    qrels: dict[str, dict[str, int]] = {}
    run: dict[str, list[tuple[str, int, float]]] = {}
    for n in range(queries):
        q = f"q{n}"
        docs = [f"p{(n * 7919 + i * 13) % PRODUCTS}" for i in range(results + EXTRA)]
        run[q] = [(d, i + 1, 1000.0 - i) for i, d in enumerate(docs[:results])]
        judged = {d: rng.choice((0, 0, 1, 2, 3)) for d in docs[:results] if rng.random() < 0.8}
        judged.update({d: rng.choice((0, 1, 2, 3)) for d in docs[results:]})
        if not any(v > 0 for v in judged.values()):
            judged[docs[results]] = 1
        qrels[q] = judged
    return qrels, run


def load(qrels: dict, run: dict):
    """The project, its pairs with gold and the run, through COPY (annotation.bulk)."""
    from django.db import transaction
    from django.utils import timezone

    from annotation.models import GoldProvenance, Pair, Product, Query, SearchRun
    from annotation.services import project_create

    now = timezone.now()
    project = project_create(name="bench-vs-trec-tools", labels=LEVELS)
    with transaction.atomic():
        _build.copy_rows(
            "annotation.Query",
            ["project", "external_id", "text"],
            [(project.id, q, f"query {q}") for q in run],
            now=now,
        )
        docs = sorted(
            {d for judged in qrels.values() for d in judged} | {d for rows in run.values() for d, _, _ in rows}
        )
        _build.copy_rows(
            "annotation.Product",
            ["project", "external_id", "title", "content_hash"],
            [(project.id, d, f"product {d}", "x") for d in docs],
            now=now,
        )
        analyze("annotation_query", "annotation_product")
        query_ids = dict(Query.objects.filter(project=project).values_list("external_id", "id"))
        product_ids = dict(Product.objects.filter(project=project).values_list("external_id", "id"))
        keys = {(q, d) for q, judged in qrels.items() for d in judged} | {
            (q, d) for q, rows in run.items() for d, _, _ in rows
        }
        _build.copy_rows(
            "annotation.Pair",
            ["project", "query", "product", "gold_value", "gold_provenance", "gold_updated_at"],
            [
                (project.id, query_ids[q], product_ids[d], value, GoldProvenance.IMPORTED if value is not None else "",
                 now if value is not None else None)
                for q, d in keys
                for value in [qrels.get(q, {}).get(d)]
            ],
            now=now,
        )  # fmt: skip
        analyze("annotation_pair")
        pair_ids = {
            (q, p): i for q, p, i in Pair.objects.filter(project=project).values_list("query_id", "product_id", "id")
        }
        search_run = SearchRun.objects.create(project=project, name="r1")
        _build.copy_rows(
            "annotation.SearchResult",
            ["run", "query", "product", "pair", "rank", "score"],
            [
                (search_run.id, query_ids[q], product_ids[d], pair_ids[(query_ids[q], product_ids[d])], rank, score)
                for q, rows in run.items()
                for d, rank, score in rows
            ],
        )
    analyze("annotation_query", "annotation_product", "annotation_pair", "annotation_searchresult")
    return search_run


def best_of(repeat: int, work: Callable[[], object]) -> tuple[float, float, object]:
    """(best, median) seconds of `repeat` runs, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times), result


def qrelay_in_python(qrels: dict, run: dict, k: int) -> dict[str, object]:
    """qrelay's per-query pure functions over the in-memory data: {q: QueryMetrics}."""
    from annotation.metrics import MetricScale, mean_metrics, ordered_results, query_metrics

    scale = MetricScale.from_levels([(0, 0.0), (1, 1.0), (2, 2.0), (3, 3.0)], relevant_min_value=1)
    out = {}
    for q, rows in run.items():
        judged = qrels.get(q, {})
        ranked = [judged.get(d) for d, _, _ in ordered_results(rows)]
        out[q] = query_metrics(ranked, list(judged.values()), scale=scale, k=k)
    mean_metrics(out.values())
    return out


def pytrec(qrels: dict, scores: dict, k: int) -> dict:
    import pytrec_eval

    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {f"ndcg_cut.{k}", f"P.{k}", "recip_rank", f"recall.{k}"})
    per_query = evaluator.evaluate(scores)
    return {
        q: {"ndcg": v[f"ndcg_cut_{k}"], "precision": v[f"P_{k}"], "mrr": v["recip_rank"], "recall": v[f"recall_{k}"]}
        for q, v in per_query.items()
    }


def ranx_eval(qrels: dict, scores: dict, k: int) -> dict:
    import warnings

    from ranx import Qrels, Run, evaluate

    warnings.filterwarnings("ignore", module="ranx")  # numba's type-safety notes, once per compile

    names = {"ndcg": f"ndcg@{k}", "precision": f"precision@{k}", "mrr": "mrr", "recall": f"recall@{k}"}
    ranx_run = Run(scores)
    evaluate(Qrels(qrels), ranx_run, list(names.values()))
    return {q: {ours: float(ranx_run.scores[theirs][q]) for ours, theirs in names.items()} for q in scores}


def max_differences(ours: dict[str, object], theirs: dict[str, dict[str, float]]) -> dict[str, float]:
    worst = dict.fromkeys(("ndcg", "precision", "mrr", "recall"), 0.0)
    assert set(ours) == set(theirs), "the tools scored different queries"
    for q, row in ours.items():
        for name in worst:
            value = getattr(row, name)
            assert value is not None, f"{name} undefined for {q}: the data should define every figure"
            worst[name] = max(worst[name], abs(value - theirs[q][name]))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--results", type=int, default=100)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per tool (the best counts)")
    args = parser.parse_args()
    setup(fresh=True)
    from annotation.metrics import run_metrics

    qrels, run = make_data(args.queries, args.results)
    scores = {q: {d: score for d, _, score in rows} for q, rows in run.items()}
    judged = sum(len(j) for j in qrels.values())
    print(f"data: {args.queries:,} queries × {args.results} results, {judged:,} judged pairs, k={args.k}")
    start = time.perf_counter()
    search_run = load(qrels, run)
    print(f"loaded into PostgreSQL in {time.perf_counter() - start:.1f} s (not part of any figure below)")

    k, repeat = args.k, args.repeat
    start = time.perf_counter()
    ranx_eval(qrels, scores, k)
    ranx_cold = time.perf_counter() - start
    timed = {
        "pytrec_eval (evaluator + evaluate)": best_of(repeat, lambda: pytrec(qrels, scores, k)),
        "ranx (Qrels + Run + evaluate), warm": best_of(repeat, lambda: ranx_eval(qrels, scores, k)),
        "qrelay run_metrics, in PostgreSQL": best_of(
            repeat, lambda: run_metrics(search_run, k=k, relevant_min_value=1)
        ),
        "qrelay per-query functions, in Python": best_of(repeat, lambda: qrelay_in_python(qrels, run, k)),
    }
    load_avg = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    base = timed["pytrec_eval (evaluator + evaluate)"][0]
    print(f"\nbest of {repeat} (median), and the ratio of the best to pytrec_eval's; load average {load_avg}")
    for label, (best, median, _) in timed.items():
        print(f"  {label:<40} {best:7.3f} s ({median:7.3f})   × {best / base:5.2f}")
    print(f"  {'ranx, first call (numba compiles)':<40} {ranx_cold:7.3f} s             × {ranx_cold / base:5.2f}")

    in_db = {row.external_id: row.metrics for row in timed["qrelay run_metrics, in PostgreSQL"][2].queries}
    in_python = timed["qrelay per-query functions, in Python"][2]
    reference = timed["pytrec_eval (evaluator + evaluate)"][2]
    print("\nagreement, max |difference| over all queries:")
    for label, ours, theirs in [
        ("qrelay in PostgreSQL vs pytrec_eval", in_db, reference),
        ("qrelay in Python vs pytrec_eval", in_python, reference),
        ("qrelay in PostgreSQL vs ranx", in_db, timed["ranx (Qrels + Run + evaluate), warm"][2]),
    ]:
        worst = max_differences(ours, theirs)
        verdict = "agree" if max(worst.values()) < 1e-9 else "DIFFER"
        print(f"  {label:<38} " + ", ".join(f"{n} {v:.1e}" for n, v in worst.items()) + f"  → {verdict}")


if __name__ == "__main__":
    main()
