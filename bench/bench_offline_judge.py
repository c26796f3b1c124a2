"""The offline judge against human ESCI labels: accuracy, calibration and speed.

Runs the offline guideline step and judge over every row of an ESCI-format CSV (the
Amazon Shopping Queries columns: query, product_title, esci_label, and where present
query_id, product_id, product_locale, product_brand, product_description,
product_bullet_point) on the ESCI scale, as the app would after importing the file:
the catalogue vocabulary is collected from all of the file's products, one guideline is
written per query, and a product's description is its product_description, or its bullet
points when it has none. No Django, no database, no network.

Prints n, acc@4, acc@2 and their majority-class baselines, macro-F1, the confusion
matrix, a reliability table (stated confidence → observed accuracy), the share of pairs
the default routing policy would auto-accept (confidence ≥ its min_confidence) with the
accuracy of auto-accepted and routed pairs, and pairs/s on one core.

acc@2 collapses the scale to relevant or not by gain. The headline line counts Exact and
Substitute as relevant (gain ≥ the middle of the scale's gains); the agreement report
(reviews/agreement) counts every positive gain, Complement included, and has its own line.

Usage: python bench/bench_offline_judge.py [ESCI_CSV] [--min-confidence 0.7] [--bins 10]
       (default file: /work/shared/data/esci-calibration.csv)
"""

import argparse
import csv
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from annotation.scales import BUILTIN_SCALES
from judging.contracts import GuidelineDraft, LevelInfo, ProductContext, QueryContext, Verdict
from judging.offline import offline_guideline, offline_judge, semantic, vocabulary_from_products

DEFAULT_FILE = Path("/work/shared/data/esci-calibration.csv")
# The default of RoutingPolicy.min_confidence (reviews/models.py, reviews/routing.py);
# tests/judging/test_offline_semantic.py keeps the two equal.
DEFAULT_MIN_CONFIDENCE = 0.7
SCALE = BUILTIN_SCALES["esci"]
LEVELS = [LevelInfo(level.value, level.name) for level in SCALE]
_LABELS = {level.name.lower(): level.value for level in SCALE} | {level.name[0].lower(): level.value for level in SCALE}


@dataclass(frozen=True)
class Row:
    query: str
    locale: str
    product: ProductContext
    gold: int  # ESCI scale value: 0 Irrelevant, 1 Complement, 2 Substitute, 3 Exact


def read_esci(path: Path) -> list[Row]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        missing = {"query", "product_title", "esci_label"} - set(reader.fieldnames or ())
        if missing:
            raise SystemExit(f"{path}: not an ESCI file, missing column(s) {', '.join(sorted(missing))}")
        rows = []
        for line, record in enumerate(reader, start=2):
            label = (record["esci_label"] or "").strip().lower()
            if label not in _LABELS:
                raise SystemExit(f"{path}:{line}: unknown esci_label {record['esci_label']!r}")
            value = {column: (text or "").strip() for column, text in record.items() if column}
            product = ProductContext(
                external_id=value.get("product_id") or f"line-{line}",
                title=value["product_title"],
                brand=value.get("product_brand", ""),
                description=value.get("product_description") or value.get("product_bullet_point", ""),
            )
            rows.append(Row(value["query"], value.get("product_locale", ""), product, _LABELS[label]))
    if not rows:
        raise SystemExit(f"{path}: no rows")
    return rows


def guidelines(rows: list[Row]) -> dict[tuple[str, str], GuidelineDraft]:
    """One guideline per query, with the catalogue vocabulary, as a judge job writes them."""
    # ESCI repeats a product id per locale, with the title in that locale's language.
    products = {(row.product.external_id, row.locale): row.product for row in rows}
    vocabulary = vocabulary_from_products(products.values())
    queries = {(row.query, row.locale) for row in rows}
    return {
        (text, locale): offline_guideline(QueryContext(text=text, locale=locale, vocabulary=vocabulary))
        for text, locale in sorted(queries)
    }


def judge_all(rows: list[Row], drafts: dict[tuple[str, str], GuidelineDraft]) -> list[Verdict]:
    return [offline_judge(guideline=drafts[row.query, row.locale], product=row.product, levels=LEVELS) for row in rows]


# --- figures ------------------------------------------------------------------------


def relevant_from(*, middle: bool) -> int:
    """Lowest relevant value: gain ≥ the middle of the gains, or (the agreement report's
    cut) the lowest positive gain."""
    gains = [level.gain for level in SCALE]
    cut = (min(gains) + max(gains)) / 2 if middle else min(g for g in gains if g > 0)
    return min(level.value for level in SCALE if level.gain >= cut)


def accuracy(pairs: list[tuple[int, int]], cut: int | None = None) -> float:
    if not pairs:
        return float("nan")
    if cut is None:
        return sum(g == p for g, p in pairs) / len(pairs)
    return sum((g >= cut) == (p >= cut) for g, p in pairs) / len(pairs)


def majority(golds: list[int], cut: int | None = None) -> tuple[float, str]:
    if cut is None:
        value, count = Counter(golds).most_common(1)[0]
        return count / len(golds), next(level.name for level in SCALE if level.value == value)
    relevant = sum(g >= cut for g in golds)
    share = max(relevant, len(golds) - relevant) / len(golds)
    return share, "relevant" if relevant * 2 >= len(golds) else "not relevant"


def even_odds(golds: list[int], cut: int) -> list[float] | None:
    """Weights under which relevant and not relevant pairs count half each: what the
    figures would be on a sample with even odds (None if one side is empty)."""
    relevant = sum(g >= cut for g in golds)
    if relevant in (0, len(golds)):
        return None
    return [0.5 / relevant if g >= cut else 0.5 / (len(golds) - relevant) for g in golds]


def weighted(pairs: list[tuple[int, int]], weights: list[float], cut: int | None = None) -> float:
    if cut is None:
        return sum(w for (g, p), w in zip(pairs, weights) if g == p)
    return sum(w for (g, p), w in zip(pairs, weights) if (g >= cut) == (p >= cut))


def macro_f1(pairs: list[tuple[int, int]]) -> float:
    """Mean F1 over the labels present in gold or predictions (scikit-learn's default)."""
    labels = {g for g, _ in pairs} | {p for _, p in pairs}
    scores = []
    for label in labels:
        tp = sum(g == p == label for g, p in pairs)
        denominator = sum(g == label for g, _ in pairs) + sum(p == label for _, p in pairs)
        scores.append(2 * tp / denominator if denominator else 0.0)
    return sum(scores) / len(scores)


def reliability(
    confidences: list[float], correct: list[bool], bins: int, weights: list[float] | None = None
) -> list[tuple[str, int, float, float]]:
    """(bin, n, mean confidence, observed accuracy) per confidence bin with pairs in it;
    with weights, the observed accuracy is the weighted one."""
    w = weights or [1.0] * len(confidences)
    table = []
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = [i for i, c in enumerate(confidences) if lo <= c < hi or (b == bins - 1 and c == 1.0)]
        if inside:
            mean = sum(confidences[i] for i in inside) / len(inside)
            observed = sum(w[i] for i in inside if correct[i]) / sum(w[i] for i in inside)
            table.append((f"{lo:.1f}–{hi:.1f}", len(inside), mean, observed))
    return table


def expected_calibration_error(confidences: list[float], correct: list[bool], bins: int) -> float:
    n = len(confidences)
    return sum(count / n * abs(mean - observed) for _, count, mean, observed in reliability(confidences, correct, bins))


def run(rows: list[Row]) -> tuple[list[Verdict], dict[str, float]]:
    """The verdicts and pairs/s: CPU time of this single-threaded process, so one core.
    The first pass runs as a judge job over the file would in a fresh worker (the model
    loaded, every cache empty): the catalogue vocabulary, one guideline per query, then
    the judge step, which meets every product for the first time; a second pass judges
    the pairs again, as a long-running worker that has seen the products and queries."""
    start = time.process_time()
    drafts = guidelines(rows)
    middle = time.process_time()
    verdicts = judge_all(rows, drafts)
    end = time.process_time()
    judge_all(rows, drafts)
    again = time.process_time() - end
    n = len(rows)
    return verdicts, {"job": n / (end - start), "judge, first time": n / (end - middle), "judge, again": n / again}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", nargs="?", type=Path, default=DEFAULT_FILE, help="ESCI-format CSV")
    parser.add_argument("--min-confidence", type=float, default=DEFAULT_MIN_CONFIDENCE)
    parser.add_argument("--bins", type=int, default=10, help="confidence bins of the reliability table")
    args = parser.parse_args()

    rows = read_esci(args.file)
    start = time.perf_counter()
    semantic.load()
    loading = time.perf_counter() - start
    verdicts, speed = run(rows)

    golds = [row.gold for row in rows]
    pairs = [(row.gold, verdict.value) for row, verdict in zip(rows, verdicts)]
    confidences = [verdict.confidence for verdict in verdicts]
    correct = [g == p for g, p in pairs]
    names = {level.value: level.name for level in SCALE}
    es, positive = relevant_from(middle=True), relevant_from(middle=False)

    print(f"file: {args.file}")
    locales = Counter(row.locale or "(none)" for row in rows)
    print(f"n = {len(rows)} pairs, {len({(r.query, r.locale) for r in rows})} queries; locales {dict(locales)}")
    print("gold labels: " + ", ".join(f"{names[v]} {c}" for v, c in sorted(Counter(golds).items(), reverse=True)))
    print()
    figures = [
        ("acc@4", accuracy(pairs), majority(golds)),
        (f"acc@2 ({names[es]} and up relevant)", accuracy(pairs, es), majority(golds, es)),
        (
            f"acc@2 ({names[positive]} and up, as the agreement report)",
            accuracy(pairs, positive),
            majority(golds, positive),
        ),
    ]
    for name, value, (base, label) in figures:
        print(f"{name:<48} {value:.3f}   majority class ({label}) {base:.3f}")
    most = Counter(golds).most_common(1)[0][0]
    print(f"{'macro-F1':<48} {macro_f1(pairs):.3f}   majority class {macro_f1([(g, most) for g in golds]):.3f}")
    weights = even_odds(golds, es)
    if weights:
        print(
            f"re-weighted to even odds of relevant vs not: acc@4 {weighted(pairs, weights):.3f}, "
            f"acc@2 {weighted(pairs, weights, es):.3f} (majority class 0.500)"
        )

    print("\nconfusion (rows: human label, columns: judge)")
    print(" " * 12 + "".join(f"{names[v]:>12}" for v in sorted(names)))
    for g in sorted(names):
        print(
            f"{names[g]:>12}" + "".join(f"{sum(1 for x, p in pairs if x == g and p == v):>12}" for v in sorted(names))
        )

    ece = expected_calibration_error(confidences, correct, args.bins)
    print(f"\nreliability (4-level label correct), ECE {ece:.3f}")
    balanced = reliability(confidences, correct, args.bins, weights) if weights else None
    print(f"{'confidence':>12} {'pairs':>7} {'stated':>8} {'observed':>9}" + ("  (at even odds)" if balanced else ""))
    for k, (label, count, mean, observed) in enumerate(reliability(confidences, correct, args.bins)):
        extra = f"  ({balanced[k][3]:.3f})" if balanced else ""
        print(f"{label:>12} {count:>7} {mean:>8.3f} {observed:>9.3f}{extra}")

    accepted = [i for i, c in enumerate(confidences) if c >= args.min_confidence]
    routed = [i for i, c in enumerate(confidences) if c < args.min_confidence]
    print(
        f"\nrouting at min_confidence {args.min_confidence}: {len(accepted)} auto-accepted ({len(accepted) / len(rows):.1%}), {len(routed)} to humans"
    )
    for name, group in (("auto-accepted", accepted), ("routed", routed)):
        chosen = [pairs[i] for i in group]
        print(f"  {name:<14} acc@4 {accuracy(chosen):.3f}   acc@2 {accuracy(chosen, es):.3f}   (n = {len(chosen)})")

    if len(locales) > 1:
        print("\nper locale")
        for locale in sorted(locales):
            group = [i for i, row in enumerate(rows) if (row.locale or "(none)") == locale]
            chosen = [pairs[i] for i in group]
            share = sum(confidences[i] >= args.min_confidence for i in group) / len(group)
            print(
                f"  {locale:<8} n {len(group):>6}   acc@4 {accuracy(chosen):.3f}   acc@2 {accuracy(chosen, es):.3f}"
                f"   majority acc@2 {majority([g for g, _ in chosen], es)[0]:.3f}   auto-accepted {share:.1%}"
            )

    print("\nspeed, one core (pairs/s): " + ", ".join(f"{name} {rate:,.0f}" for name, rate in speed.items()))
    print(
        f"(job: vocabulary + a guideline per query + judge step, from scratch; loading the model took {loading:.2f} s)"
    )


if __name__ == "__main__":
    main()
