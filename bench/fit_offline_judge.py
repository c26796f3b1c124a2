"""Refit the offline judge's calibration (judging/offline/calibration.py) and
cross-validate it.

Reads an ESCI-format CSV (default: the calibration file), gathers the judge's evidence for
every pair exactly as bench_offline_judge.py runs it, then fits
- the score weights: 1 / the standard deviation of the similarity, and MATCH_SHARE / the
  standard deviation of the match, over the pairs the curves judge (not fitted to the
  labels: see MATCH_SHARE);
- P(relevant | score): a logistic curve, relevant = Exact or Substitute, the two sides
  weighted equally (even odds, whatever the file's skew);
- P(exact | relevant, score): a logistic curve over the relevant pairs whose product
  states nothing against the query;
- the decisive rules' confidence, (right + 1) / (fired + 2), pooled over the three
  that make a product irrelevant, and the share of Substitutes among relevant pairs with
  a conflicting attribute, (S + 1) / (relevant + 2).

Then repeated stratified k-fold cross-validation of the curves (the rules do not depend on
the folds) prints out-of-fold figures: what the judge is worth on pairs it was not fitted
on. Last, the constants to paste into calibration.py.

Usage: python bench/fit_offline_judge.py [ESCI_CSV] [--folds 5] [--repeats 20] [--seed 0]
"""

import argparse
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_offline_judge import DEFAULT_FILE, DEFAULT_MIN_CONFIDENCE, Row, even_odds, guidelines, read_esci

from judging.offline.calibration import FITTED, Calibration
from judging.offline.judge import Assessment, assess, decide

LEVELS = 4  # the ESCI scale: 0 Irrelevant, 1 Complement, 2 Substitute, 3 Exact
RELEVANT, EXACT = 2, 3
RIDGE = 1e-3  # a touch of L2 on the slope, so that a separable fold cannot diverge
# The match counts as much as the similarity, per standard deviation: a choice, not a fit.
# On the calibration file the similarity alone ranks relevant above irrelevant pairs better
# (AUC 0.90 against 0.73 for the match), and cross-validation cannot tell a match share of
# 0.25 from 1 on its few irrelevant pairs; but the embeddings read English only, while the
# rules translate German ("Damen Leder Stiefeletten schwarz" meets "women's black ankle
# boots"): at half the share, such a product fell to irrelevant.
MATCH_SHARE = 1.0


@dataclass(frozen=True)
class Pair:
    gold: int
    evidence: Assessment | None

    @property
    def curved(self) -> bool:
        """Judged by the fitted curves (not by a rule, an open-ended query or no requirement)."""
        return self.evidence is not None and not self.evidence.rule and not self.evidence.open_ended


def gather(rows: list[Row]) -> list[Pair]:
    drafts = guidelines(rows)
    return [Pair(row.gold, assess(guideline=drafts[row.query, row.locale], product=row.product)) for row in rows]


def logistic(x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """(slope, centre) of the weighted maximum-likelihood curve σ(slope · (x − centre))."""
    design = np.column_stack([np.ones_like(x), x])
    beta = np.zeros(2)
    for _ in range(100):
        p = 1 / (1 + np.exp(-design @ beta))
        gradient = design.T @ (weights * (p - y)) + RIDGE * np.array([0.0, beta[1]])
        hessian = (design * (weights * p * (1 - p))[:, None]).T @ design + RIDGE * np.diag([0.0, 1.0])
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.abs(step).max() < 1e-10:
            break
    return float(beta[1]), float(-beta[0] / beta[1])


def balanced(y: np.ndarray) -> np.ndarray:
    """Weights (mean 1) under which positives and negatives count half each."""
    positive = y.mean()
    if positive in (0.0, 1.0):
        return np.ones_like(y)
    return np.where(y == 1, 0.5 / positive, 0.5 / (1 - positive))


def fit(pairs: list[Pair], base: Calibration = FITTED) -> Calibration:
    curved = [p for p in pairs if p.curved]
    sim = np.array([p.evidence.similarity or 0.0 for p in curved])
    match = np.array([p.evidence.match for p in curved])
    gold = np.array([p.gold for p in curved])
    w_sim, w_match = 1 / sim.std(), MATCH_SHARE / match.std()
    score = w_sim * sim + w_match * match
    relevant = (gold >= RELEVANT).astype(float)
    relevant_slope, relevant_centre = logistic(score, relevant, balanced(relevant))
    plain = np.array([not p.evidence.conflicts for p in curved]) & (gold >= RELEVANT)
    exact = (gold[plain] == EXACT).astype(float)
    exact_slope, exact_centre = logistic(score[plain], exact, np.ones_like(exact))
    return Calibration(
        similarity_weight=round(float(w_sim), 2),
        match_weight=round(float(w_match), 2),
        relevant_slope=round(relevant_slope, 3),
        relevant_centre=round(relevant_centre, 2),
        exact_slope=round(exact_slope, 3),
        exact_centre=round(exact_centre, 2),
        rules=base.rules,
        conflict_partial=base.conflict_partial,
    )


# The rules that make a product irrelevant (an excluded property present, another
# product type, another brand) are one kind of evidence, a hard violation the lexicon
# found, and each fires on a handful of pairs: their record is pooled.
VIOLATIONS = ("negation", "type", "brand")


def rule_rates(pairs: list[Pair]) -> tuple[dict[str, float], float, dict[str, tuple[int, int]]]:
    """The rules' confidences, (right + 1) / (fired + 2) with the violations pooled, the
    conflict share (substitutes + 1) / (relevant + 2), and the raw counts."""
    counts = {}
    for rule, right_label in (*((rule, 0) for rule in VIOLATIONS), ("related", RELEVANT)):
        fired = [p for p in pairs if p.evidence is not None and p.evidence.rule == rule]
        counts[rule] = (sum(p.gold == right_label for p in fired), len(fired))
    conflicted = [p for p in pairs if p.curved and p.evidence.conflicts and p.gold >= RELEVANT]
    counts["conflict"] = (sum(p.gold == RELEVANT for p in conflicted), len(conflicted))

    def rate(right: int, fired: int) -> float:
        return round((right + 1) / (fired + 2), 2)

    violations = rate(sum(counts[r][0] for r in VIOLATIONS), sum(counts[r][1] for r in VIOLATIONS))
    rates = dict.fromkeys(VIOLATIONS, violations) | {"related": rate(*counts["related"])}
    return rates, rate(*counts["conflict"]), counts


def predictions(pairs: list[Pair], calibration: Calibration) -> list[tuple[int, int, float]]:
    """(gold, label, confidence) per pair; a pair without requirements gets the middle."""
    out = []
    for p in pairs:
        if p.evidence is None:
            out.append((p.gold, LEVELS // 2, 0.3))
        else:
            index, confidence, _ = decide(p.evidence, LEVELS, calibration)
            out.append((p.gold, index, confidence))
    return out


def cross_validate(pairs: list[Pair], base: Calibration, *, folds: int, repeats: int, seed: int):
    """Out-of-fold (gold, label, confidence) lists, one per repeat."""
    rng = np.random.default_rng(seed)
    curved = [i for i, p in enumerate(pairs) if p.curved]
    fixed = predictions([p for p in pairs if not p.curved], base)
    runs = []
    for _ in range(repeats):
        fold = {}
        for label in sorted({pairs[i].gold for i in curved}):
            members = [i for i in curved if pairs[i].gold == label]
            rng.shuffle(members)
            fold.update({i: k % folds for k, i in enumerate(members)})
        out = list(fixed)
        for k in range(folds):
            train = [pairs[i] for i in curved if fold[i] != k]
            test = [pairs[i] for i in curved if fold[i] == k]
            out += predictions(test, fit(train, base))
        runs.append(out)
    return runs


def auc(values: np.ndarray, positive: np.ndarray) -> float:
    """P(a random positive scores above a random negative), ties counting half."""
    pos, neg = values[positive], values[~positive]
    if not len(pos) or not len(neg):
        return float("nan")
    return float(np.mean([(x > neg).mean() + 0.5 * (x == neg).mean() for x in pos]))


def figures(run: list[tuple[int, int, float]], min_confidence: float) -> dict[str, float]:
    gold = [g for g, _, _ in run]
    right = [g == label for g, label, _ in run]
    right2 = [(g >= RELEVANT) == (label >= RELEVANT) for g, label, _ in run]
    weights = even_odds(gold, RELEVANT) or [1 / len(run)] * len(run)
    accepted = [i for i, (_, _, c) in enumerate(run) if c >= min_confidence]
    routed = [i for i, (_, _, c) in enumerate(run) if c < min_confidence]

    def share(flags, group):
        return sum(flags[i] for i in group) / len(group) if group else float("nan")

    return {
        "acc@4": sum(right) / len(run),
        "acc@2": sum(right2) / len(run),
        "acc@4, even odds": sum(w for w, r in zip(weights, right) if r),
        "acc@2, even odds": sum(w for w, r in zip(weights, right2) if r),
        "auto-accepted share": len(accepted) / len(run),
        "acc@4 auto-accepted": share(right, accepted),
        "acc@4 routed": share(right, routed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", nargs="?", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-confidence", type=float, default=DEFAULT_MIN_CONFIDENCE)
    args = parser.parse_args()

    pairs = gather(read_esci(args.file))
    rules, conflict, counts = rule_rates(pairs)
    base = Calibration(**{**FITTED.__dict__, "rules": rules, "conflict_partial": conflict})
    fitted = fit(pairs, base)
    curved = sum(p.curved for p in pairs)
    print(f"file: {args.file}: {len(pairs)} pairs, {curved} judged by the curves, the rest by rules")
    for rule, (right, fired) in counts.items():
        print(f"  {rule:<9} fired {fired:>3}, right {right:>3}")

    print("\nhow well each signal ranks relevant above not relevant pairs (AUC, pairs judged by the curves):")
    curved_pairs = [p for p in pairs if p.curved]
    relevant = np.array([p.gold >= RELEVANT for p in curved_pairs])
    similarity = np.array([p.evidence.similarity or 0.0 for p in curved_pairs])
    match = np.array([p.evidence.match for p in curved_pairs])
    score = fitted.similarity_weight * similarity + fitted.match_weight * match
    for name, values in (("match", match), ("similarity", similarity), ("score", score)):
        print(f"  {name:<10} {auc(values, relevant):.3f}")

    runs = cross_validate(pairs, base, folds=args.folds, repeats=args.repeats, seed=args.seed)
    print(f"\ncross-validated ({args.repeats} × {args.folds}-fold, curves refitted per fold): mean (sd over repeats)")
    per_run = [figures(run, args.min_confidence) for run in runs]
    for name in per_run[0]:
        values = [f[name] for f in per_run]
        print(f"  {name:<22} {statistics.mean(values):.3f} ({statistics.pstdev(values):.3f})")
    pooled = [x for run in runs for x in run]
    weights = [w for run in runs for w in even_odds([g for g, _, _ in run], RELEVANT) or [1.0] * len(run)]
    print("  reliability, pooled over repeats: confidence bin, pairs per repeat, stated, observed acc@4 (as is;")
    print("  at even odds of relevant vs not)")
    for b in range(10):
        inside = [i for i, (_, _, c) in enumerate(pooled) if b / 10 <= c < (b + 1) / 10 or (b == 9 and c == 1.0)]
        if not inside:
            continue
        stated = statistics.mean(pooled[i][2] for i in inside)
        observed = statistics.mean(pooled[i][0] == pooled[i][1] for i in inside)
        at_even = sum(weights[i] for i in inside if pooled[i][0] == pooled[i][1]) / sum(weights[i] for i in inside)
        print(
            f"    {b / 10:.1f}–{(b + 1) / 10:.1f}: {len(inside) / args.repeats:6.1f}  {stated:.3f}  {observed:.3f}; {at_even:.3f}"
        )
    print("  acc@2 were the share of relevant pairs different (out-of-fold labels re-weighted):")
    for share in (0.9, 0.75, 0.6, 0.5):
        values = []
        for run in runs:
            relevant = sum(g >= RELEVANT for g, _, _ in run)
            weights = [share / relevant if g >= RELEVANT else (1 - share) / (len(run) - relevant) for g, _, _ in run]
            values.append(sum(w for w, (g, p, _) in zip(weights, run) if (g >= RELEVANT) == (p >= RELEVANT)))
        print(f"    {share:.0%} relevant: {statistics.mean(values):.3f} (majority class {max(share, 1 - share):.3f})")

    print("\nfitted on the whole file, for judging/offline/calibration.py:\n")
    print("FITTED = Calibration(")
    for name, value in fitted.__dict__.items():
        print(f"    {name}={value!r},")
    print(")")


if __name__ == "__main__":
    main()
