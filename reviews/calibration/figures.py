"""Judge-versus-humans figures on plain arrays; no database here.

Input, one entry per pair that has both a human reference label and a judgment of the
configuration under evaluation: the reference's and the judge's positions on the scale
(0 = least relevant) and the judge's stated confidence (NaN when it stated none).

Every figure resamples pairs for its bootstrap CI (reviews.agreement.stats). The
reliability table and the routing-value curve are what make the hybrid policy an informed
choice: they say what a min-confidence threshold buys (errors caught) and costs (pairs sent
to humans).
"""

from dataclasses import dataclass

import numpy as np

from reviews.agreement.stats import N_BOOT, SEED, alpha_figure, confusion_figures, missing

METRICS = ("accuracy", "binary_accuracy", "macro_f1", "kappa", "weighted_kappa")
RELIABILITY_BINS = 10


@dataclass(frozen=True)
class Compared:
    """Aligned arrays over the compared pairs."""

    reference: np.ndarray  # int positions
    judged: np.ndarray  # int positions
    confidence: np.ndarray  # float in [0, 1], NaN = none stated

    def __post_init__(self):
        if not (len(self.reference) == len(self.judged) == len(self.confidence)):
            raise ValueError("reference, judged and confidence must have one entry per pair")

    def where(self, mask: np.ndarray) -> "Compared":
        return Compared(self.reference[mask], self.judged[mask], self.confidence[mask])

    @property
    def correct(self) -> np.ndarray:
        return self.reference == self.judged


def agreement_figures(
    compared: Compared,
    *,
    size: int,
    domain: np.ndarray,
    cut: int | None,
    level: str,
    n_boot: int = N_BOOT,
    seed: int = SEED,
) -> dict:
    """acc@all-levels, acc@2 (relevant vs not), macro-F1, κ (and linearly weighted κ for
    ordinal scales), Krippendorff's α between judge and reference, each with CI and n."""
    n = len(compared.reference)
    if n == 0:
        return {name: missing(0, "no pair has both a human label and a judgment") for name in (*METRICS, "alpha")}
    groups = np.zeros((n, size, size))
    groups[np.arange(n), compared.reference, compared.judged] = 1
    weights = np.ones(n, dtype=np.int64)
    figures = confusion_figures(groups, weights, metrics=METRICS, cut=cut, n_boot=n_boot, seed=seed)
    counts = np.zeros((n, size), dtype=np.int64)
    np.add.at(counts, (np.arange(n), compared.reference), 1)
    np.add.at(counts, (np.arange(n), compared.judged), 1)
    figures["alpha"] = alpha_figure(counts, weights, domain=domain, level=level, n_boot=n_boot, seed=seed)
    return figures


def confusion_matrix(compared: Compared, size: int) -> list[list[int]]:
    """Rows: the human reference; columns: the judge."""
    matrix = np.zeros((size, size), dtype=np.int64)
    np.add.at(matrix, (compared.reference, compared.judged), 1)
    return matrix.tolist()


def reliability(compared: Compared, bins: int = RELIABILITY_BINS) -> list[dict]:
    """Stated confidence against observed accuracy, in equal-width confidence bins: a
    calibrated judge has accuracy ≈ mean confidence in every bin."""
    stated = ~np.isnan(compared.confidence)
    confidence, correct = compared.confidence[stated], compared.correct[stated]
    index = np.minimum((confidence * bins).astype(int), bins - 1)
    rows = []
    for b in range(bins):
        inside = index == b
        count = int(inside.sum())
        rows.append(
            {
                "low": b / bins,
                "high": (b + 1) / bins,
                "n": count,
                "mean_confidence": float(confidence[inside].mean()) if count else None,
                "accuracy": float(correct[inside].mean()) if count else None,
            }
        )
    return rows


def expected_calibration_error(rows: list[dict]) -> float | None:
    total = sum(row["n"] for row in rows)
    if not total:
        return None
    return sum(row["n"] * abs(row["accuracy"] - row["mean_confidence"]) for row in rows if row["n"]) / total


def routing_curve(compared: Compared) -> list[dict]:
    """For every min-confidence threshold t (0, each distinct stated confidence, and one
    above 1 that sends everything): pairs with confidence < t go to humans. Each point: the
    share of pairs sent to humans, the share of the judge's errors among them (caught), and
    the accuracy of what is auto-accepted and of what is routed. Pairs without a stated
    confidence always go to humans."""
    if len(compared.reference) == 0:
        return []
    stated = compared.confidence[~np.isnan(compared.confidence)]
    thresholds = np.unique(np.concatenate([[0.0], stated, [np.inf]]))
    return [routing_point(compared, float(t)) for t in thresholds]


def routing_point(compared: Compared, threshold: float) -> dict:
    """What a policy with min_confidence = threshold does with these pairs."""
    confidence = np.where(np.isnan(compared.confidence), -1.0, compared.confidence)
    correct = compared.correct
    to_humans = confidence < threshold
    auto = ~to_humans
    errors = int((~correct).sum())
    return {
        "threshold": threshold if np.isfinite(threshold) else None,  # None: everything to humans
        "to_humans": float(to_humans.mean()) if len(correct) else 0.0,
        "errors_caught": float((~correct & to_humans).sum() / errors) if errors else None,
        "auto_accuracy": float(correct[auto].mean()) if auto.any() else None,
        "routed_accuracy": float(correct[to_humans].mean()) if to_humans.any() else None,
        "n_auto": int(auto.sum()),
    }


def threshold_for_errors_caught(curve: list[dict], target: float) -> dict | None:
    """The cheapest point (fewest pairs to humans) that catches at least `target` of the
    judge's errors, or None if none does (no errors, or no usable confidences)."""
    reaching = [p for p in curve if p["errors_caught"] is not None and p["errors_caught"] >= target - 1e-12]
    if not reaching:
        return None
    return min(reaching, key=lambda p: p["to_humans"])
