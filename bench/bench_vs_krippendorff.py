"""qrelay's Krippendorff's α side by side with `krippendorff.alpha`, on the same matrix.

One reliability matrix, made in memory: `--pairs` pairs (default 200,000), each labelled by
the LLM and by 1–3 of 20 human raters (60% / 30% / 10%) on a 0–3 scale, raters agreeing
with a hidden true value 70% of the time. Timed on it:
- `krippendorff.alpha(reliability_data=…)`: raters × pairs, what a user would call;
- qrelay's `alpha(matrix)` (reviews.agreement): grouped value counts, then the point
  estimate, without and with the bootstrap CI qrelay reports (`--boot` replicates);
- qrelay's `project_agreement_summary(project)`: the dashboard's figures, read from the
  same labels loaded into PostgreSQL (its "alpha" is over all raters, the LLM as one).
Checks that α is the same number each way (and that `reliability_matrix(project)` reads
back the matrix that was loaded) and prints each time as a ratio to krippendorff's.

Usage: DATABASE_URL=... python bench/bench_vs_krippendorff.py [--pairs N] [--boot N] [--level ordinal] [--repeat 3]
Uses its own database, qrelay_bench_vs_krippendorff.
"""

import argparse
import os
import statistics
import time
from collections.abc import Callable

import _build
import numpy as np
from _setup import analyze, setup

RATERS = 20
DOMAIN = np.array([0, 1, 2, 3])


def make_matrix(pairs: int, seed: int = 11) -> tuple[list[str], np.ndarray]:
    """(rater names sorted as qrelay sorts them, raters × pairs matrix with NaN gaps); the
    LLM is the rater "(LLM)" and labels every pair."""
    from reviews.agreement import LLM_RATER

    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 4, pairs)
    names = sorted([LLM_RATER] + [f"annotator-{i:02d}" for i in range(RATERS)])
    data = np.full((len(names), pairs), np.nan)
    humans = [names.index(f"annotator-{i:02d}") for i in range(RATERS)]
    how_many = rng.choice([1, 2, 3], size=pairs, p=[0.6, 0.3, 0.1])

    def rate(rows: np.ndarray, cols: np.ndarray) -> None:
        noisy = rng.random(cols.size) >= 0.7
        data[rows, cols] = np.where(noisy, rng.integers(0, 4, cols.size), truth[cols])

    rate(np.full(pairs, names.index(LLM_RATER)), np.arange(pairs))
    order = np.argsort(rng.random((pairs, RATERS)), axis=1)  # a random rater order per pair
    for slot in range(3):
        cols = np.nonzero(how_many > slot)[0]
        rate(np.asarray(humans)[order[cols, slot]], cols)
    return names, data


def load(names: list[str], data: np.ndarray):
    """Queries, products, pairs and one label per matrix cell, through COPY."""
    from django.db import transaction
    from django.utils import timezone

    from annotation.models import Pair, Product, Query
    from annotation.services import project_create
    from reviews.agreement import LLM_RATER

    now = timezone.now()
    pairs = data.shape[1]
    queries = max(pairs // 50, 1)
    project = project_create(name="bench-vs-krippendorff", labels="r0:0,r1:1,r2:2,r3:3")
    with transaction.atomic():
        _build.copy_rows(
            "annotation.Query",
            ["project", "external_id", "text"],
            [(project.id, f"q{i}", f"query {i}") for i in range(queries)],
            now=now,
        )
        _build.copy_rows(
            "annotation.Product",
            ["project", "external_id", "title", "content_hash"],
            [(project.id, f"p{i}", f"product {i}", "x") for i in range(pairs)],
            now=now,
        )
        analyze("annotation_query", "annotation_product")
        query_ids = dict(Query.objects.filter(project=project).values_list("external_id", "id"))
        product_ids = dict(Product.objects.filter(project=project).values_list("external_id", "id"))
        _build.copy_rows(
            "annotation.Pair",
            ["project", "query", "product"],
            [(project.id, query_ids[f"q{i % queries}"], product_ids[f"p{i}"]) for i in range(pairs)],
            now=now,
        )
        # Pair i of the matrix is the i-th pair by id (bulk insert keeps the order).
        pair_ids = np.array(Pair.objects.filter(project=project).order_by("id").values_list("id", flat=True))
        rows, cols = np.nonzero(~np.isnan(data))
        _build.copy_rows(
            "annotation.Label",
            ["project", "pair", "source", "rater", "value"],
            [
                (project.id, int(pair_ids[c]), "llm" if names[r] == LLM_RATER else "human", names[r], int(data[r, c]))
                for r, c in zip(rows, cols)
            ],
            now=now,
        )
    analyze("annotation_pair", "annotation_label")
    return project, pair_ids


def best_of(repeat: int, work: Callable[[], object]) -> tuple[float, float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=200_000)
    parser.add_argument("--boot", type=int, default=1000, help="bootstrap replicates of qrelay's CI")
    parser.add_argument("--level", default="ordinal", choices=["nominal", "ordinal", "interval", "ratio"])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    setup(fresh=True)
    import krippendorff

    from reviews.agreement import ReliabilityMatrix, alpha, project_agreement_summary, reliability_matrix

    names, data = make_matrix(args.pairs)
    labels = int((~np.isnan(data)).sum())
    print(f"matrix: {len(names)} raters (the LLM one of them) × {args.pairs:,} pairs, {labels:,} labels, {args.level}")
    start = time.perf_counter()
    project, pair_ids = load(names, data)
    print(f"loaded into PostgreSQL in {time.perf_counter() - start:.1f} s (not part of any figure below)")
    read_back = reliability_matrix(project)
    assert read_back.raters == names and np.array_equal(read_back.pair_ids, pair_ids), "matrix read back differs"
    assert np.array_equal(np.isnan(read_back.data), np.isnan(data))
    assert np.array_equal(np.nan_to_num(read_back.data, nan=-1), np.nan_to_num(data, nan=-1))
    matrix = ReliabilityMatrix(names, pair_ids, data)

    level, repeat = args.level, args.repeat
    timed = {
        "krippendorff.alpha(reliability_data)": best_of(
            repeat, lambda: krippendorff.alpha(reliability_data=data, value_domain=DOMAIN, level_of_measurement=level)
        ),
        "qrelay alpha(matrix), point estimate": best_of(
            repeat, lambda: alpha(matrix, domain=DOMAIN, level=level, n_boot=0)
        ),
        f"qrelay alpha(matrix), with {args.boot}-replicate CI": best_of(
            repeat, lambda: alpha(matrix, domain=DOMAIN, level=level, n_boot=args.boot)
        ),
        "qrelay reliability_matrix(project), from DB": best_of(repeat, lambda: reliability_matrix(project)),
        f"qrelay project_agreement_summary, {args.boot} repl.": best_of(
            repeat, lambda: project_agreement_summary(project, level=level, n_boot=args.boot)
        ),
    }
    load_avg = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    base = timed["krippendorff.alpha(reliability_data)"][0]
    print(f"\nbest of {repeat} (median), and the ratio of the best to krippendorff's; load average {load_avg}")
    for label, (best, median, _) in timed.items():
        print(f"  {label:<48} {best:7.3f} s ({median:7.3f})   × {best / base:5.2f}")

    theirs = float(timed["krippendorff.alpha(reliability_data)"][2])  # type: ignore[arg-type]
    figures = {
        "qrelay alpha(matrix)": timed["qrelay alpha(matrix), point estimate"][2]["value"],  # type: ignore[index]
        "qrelay summary 'alpha'": timed[f"qrelay project_agreement_summary, {args.boot} repl."][2]["alpha"]["value"],  # type: ignore[index]
    }
    ci = timed[f"qrelay alpha(matrix), with {args.boot}-replicate CI"][2]["ci"]  # type: ignore[index]
    # qrelay reports α rounded to 6 places (Figure.as_dict): equal means equal to that.
    print(f"\nα: krippendorff {theirs:.12f}; qrelay's 95% CI {ci}")
    for label, value in figures.items():
        verdict = "equal to 6 places" if value == round(theirs, 6) else "DIFFER"
        print(f"  {label:<24} {value:.12f}  |difference| {abs(value - theirs):.1e}  → {verdict}")


if __name__ == "__main__":
    main()
