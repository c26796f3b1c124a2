"""Agreement statistics on small, already aggregated numpy arrays; no database here.

Two inputs cover every figure:
- a confusion matrix (V × V counts, rows = the reference, columns = the rater under
  evaluation, in scale order) for Cohen's κ, weighted κ, accuracy, acc@2 and macro-F1;
- per-pair value counts (G × V: how many raters gave each value to a pair) for
  Krippendorff's α.

Identical rows are grouped with a weight (how many pairs share them), which is what
the database returns. Bootstrap replicates resample *pairs*: drawing pair multiplicities
from a multinomial over the groups is exactly resampling pairs with replacement, and it
costs O(groups), not O(pairs), per replicate.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeGuard

import krippendorff
import numpy as np

Level = Literal["nominal", "ordinal", "interval", "ratio"]
LEVELS: tuple[Level, ...] = ("nominal", "ordinal", "interval", "ratio")
N_BOOT = 1000
SEED = 0
# A CI is reported only when at least this share of the replicates gives a defined value.
MIN_DEFINED_SHARE = 0.5


@dataclass(frozen=True)
class Figure:
    """One number for the dashboard: the point estimate, its bootstrap 95% CI, how many
    items it rests on, and why it is missing when it is."""

    value: float | None
    n: int
    ci: tuple[float, float] | None = None
    reason: str | None = None

    def as_dict(self) -> dict:
        return {
            "value": None if self.value is None else round(float(self.value), 6),
            "ci": None if self.ci is None else [round(float(self.ci[0]), 6), round(float(self.ci[1]), 6)],
            "n": int(self.n),
            "reason": self.reason,
        }


def missing(n: int, reason: str) -> dict:
    return Figure(None, n, None, reason).as_dict()


def percentile_ci(replicates: np.ndarray) -> tuple[float, float] | None:
    defined = replicates[np.isfinite(replicates)]
    if replicates.size == 0 or defined.size < MIN_DEFINED_SHARE * replicates.size:
        return None
    low, high = np.percentile(defined, [2.5, 97.5])
    return float(low), float(high)


def resample_weights(weights: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, G) multiplicities: each replicate draws sum(weights) pairs with replacement."""
    weights = np.asarray(weights, dtype=np.int64)
    total = int(weights.sum())
    if total == 0 or n_boot <= 0:
        return np.zeros((0, weights.size), dtype=np.int64)
    # A fresh generator per figure: the same data and seed give the same CI whatever else
    # is computed in the same call.
    rng = np.random.default_rng(seed)
    return rng.multinomial(total, weights / total, size=n_boot)


def merge_identical(rows: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows that are equal are exchangeable in the bootstrap: one row with the summed
    weight draws the same distribution, with fewer categories to draw from."""
    rows, weights = np.asarray(rows), np.asarray(weights, dtype=np.int64)
    if len(rows) < 2:
        return rows, weights
    unique, inverse = np.unique(rows.reshape(len(rows), -1), axis=0, return_inverse=True)
    return unique.reshape(-1, *rows.shape[1:]), np.bincount(
        inverse.ravel(), weights=weights, minlength=len(unique)
    ).astype(np.int64)


# --- confusion-matrix figures ----------------------------------------------------------


def disagreement_weights(size: int, weighted: bool) -> np.ndarray:
    """Cohen's disagreement weights on scale positions: 0/1, or |i − j| (linear)."""
    idx = np.arange(size)
    if weighted:
        return np.abs(idx[:, None] - idx[None, :]).astype(float)
    return (idx[:, None] != idx[None, :]).astype(float)


def kappa(confusion: np.ndarray, *, weighted: bool = False) -> np.ndarray:
    """Cohen's κ of one confusion matrix (V × V) or a stack (..., V, V); NaN where it
    is undefined (no items, or expected disagreement 0: a single category)."""
    c = np.asarray(confusion, dtype=float)
    w = disagreement_weights(c.shape[-1], weighted)
    n = c.sum(axis=(-2, -1))
    rows, cols = c.sum(axis=-1), c.sum(axis=-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = rows[..., :, None] * cols[..., None, :] / n[..., None, None]
        observed_d = (w * c).sum(axis=(-2, -1))
        expected_d = (w * expected).sum(axis=(-2, -1))
        return np.where(expected_d > 0, 1.0 - observed_d / expected_d, np.nan)


def accuracy(confusion: np.ndarray) -> np.ndarray:
    c = np.asarray(confusion, dtype=float)
    n = c.sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, np.trace(c, axis1=-2, axis2=-1) / n, np.nan)


def binary_accuracy(confusion: np.ndarray, cut: int) -> np.ndarray:
    """Accuracy after collapsing the scale to relevant (position ≥ cut) vs not: RAIR's acc@2."""
    c = np.asarray(confusion, dtype=float)
    n = c.sum(axis=(-2, -1))
    agree = c[..., :cut, :cut].sum(axis=(-2, -1)) + c[..., cut:, cut:].sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, agree / n, np.nan)


def macro_f1(confusion: np.ndarray) -> np.ndarray:
    """Mean F1 over the labels that occur in either the reference or the predictions
    (scikit-learn's f1_score(average="macro") with its default labels)."""
    c = np.asarray(confusion, dtype=float)
    tp = np.diagonal(c, axis1=-2, axis2=-1)
    denominator = c.sum(axis=-1) + c.sum(axis=-2)  # 2·TP + FP + FN
    present = denominator > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(present, 2 * tp / np.where(present, denominator, 1), 0.0)
        count = present.sum(axis=-1)
        return np.where(count > 0, f1.sum(axis=-1) / count, np.nan)


def _kappa_reason(confusion: np.ndarray) -> str:
    if confusion.sum() == 0:
        return "no items to compare"
    return "only one label occurs: κ is undefined without variation"


def confusion_figures(
    groups: np.ndarray,
    weights: np.ndarray,
    *,
    metrics: tuple[str, ...],
    cut: int | None = None,
    n_boot: int = N_BOOT,
    seed: int = SEED,
) -> dict[str, dict]:
    """Figures from per-group confusion matrices `groups` (G × V × V) shared by `weights`
    pairs each. metrics ⊂ {kappa, weighted_kappa, agreement, accuracy, binary_accuracy,
    macro_f1}; n is the number of compared items (label pairs)."""
    groups = np.asarray(groups, dtype=float).reshape(-1, *np.shape(groups)[-2:])
    groups, weights = merge_identical(groups, weights)
    size = groups.shape[-1]
    point = np.tensordot(weights, groups, axes=1) if weights.size else np.zeros((size, size))
    n = round(float(point.sum()))
    replicates = resample_weights(weights, n_boot, seed)
    boot = replicates @ groups.reshape(len(groups), -1) if replicates.size else np.zeros((0, size * size))
    boot = boot.reshape(-1, size, size)
    functions: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "kappa": lambda c: kappa(c),
        "weighted_kappa": lambda c: kappa(c, weighted=True),
        "agreement": accuracy,
        "accuracy": accuracy,
        "macro_f1": macro_f1,
    }
    if cut is not None:  # without a cut, binary_accuracy is reported missing below
        functions["binary_accuracy"] = lambda c: binary_accuracy(c, cut)
    out = {}
    for name in metrics:
        if name == "binary_accuracy" and cut is None:
            out[name] = missing(n, "no level of the scale has a gain above 0, so nothing counts as relevant")
            continue
        value = float(functions[name](point))
        if not np.isfinite(value):
            reason = _kappa_reason(point) if "kappa" in name else "no items to compare"
            out[name] = missing(n, reason)
            continue
        out[name] = Figure(value, n, percentile_ci(functions[name](boot)) if len(boot) else None).as_dict()
    return out


# --- Krippendorff's α -------------------------------------------------------------------


def unit_coincidences(value_counts: np.ndarray) -> np.ndarray:
    """Each unit's share of the coincidence matrix (G × V × V); units with fewer than
    two values are not pairable and contribute nothing."""
    vc = np.asarray(value_counts, dtype=float)
    m = vc.sum(axis=1)
    outer = vc[:, :, None] * vc[:, None, :]
    outer[:, np.arange(vc.shape[1]), np.arange(vc.shape[1])] -= vc
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((m >= 2)[:, None, None], outer / np.where(m >= 2, m - 1, 1)[:, None, None], 0.0)


def _distances(n_v: np.ndarray, domain: np.ndarray, level: str) -> np.ndarray:
    """Krippendorff's δ² per level of measurement, for marginals n_v of shape (..., V)."""
    size = domain.size
    v1, v2 = domain[:, None].astype(float), domain[None, :].astype(float)
    if level == "nominal":
        d = 1.0 - np.eye(size)
    elif level == "interval":
        d = (v1 - v2) ** 2
    elif level == "ratio":
        total = v1 + v2
        d = np.divide(v1 - v2, total, out=np.zeros((size, size)), where=total != 0) ** 2
    else:  # ordinal: the marginals between the two ranks, halves at the ends
        cum = np.cumsum(n_v, axis=-1)
        idx = np.arange(size)
        lo, hi = np.minimum(idx[:, None], idx[None, :]), np.maximum(idx[:, None], idx[None, :])
        between = cum[..., hi] - cum[..., lo] + n_v[..., lo]
        return (between - (n_v[..., :, None] + n_v[..., None, :]) / 2) ** 2
    return np.broadcast_to(d, n_v.shape[:-1] + (size, size))


def alpha_from_coincidences(o: np.ndarray, domain: np.ndarray, level: str) -> np.ndarray:
    """α for one coincidence matrix or a stack of them (the bootstrap replicates); NaN
    where undefined. The same formula as krippendorff.alpha, which computes the point
    estimates (the tests check that both agree)."""
    n_v = o.sum(axis=-1)
    n = n_v.sum(axis=-1)
    diag = n_v[..., :, None] * np.eye(n_v.shape[-1])
    with np.errstate(invalid="ignore", divide="ignore"):
        e = (n_v[..., :, None] * n_v[..., None, :] - diag) / (n - 1)[..., None, None]
        d = _distances(n_v, domain, level)
        observed, expected = (o * d).sum(axis=(-2, -1)), (e * d).sum(axis=(-2, -1))
        return np.where(expected > 0, 1.0 - observed / expected, np.nan)


def _is_level(level: str) -> TypeGuard[Level]:
    return level in LEVELS


def alpha_figure(
    value_counts: np.ndarray,
    weights: np.ndarray,
    *,
    domain: np.ndarray,
    level: str,
    n_raters: int | None = None,
    n_boot: int = N_BOOT,
    seed: int = SEED,
) -> dict:
    """Krippendorff's α from grouped per-pair value counts; n = pairs with ≥ 2 values."""
    if not _is_level(level):
        raise ValueError(f"level of measurement must be one of {', '.join(LEVELS)}, got {level!r}")
    vc = np.asarray(value_counts, dtype=np.int64).reshape(-1, domain.size)
    weights = np.asarray(weights, dtype=np.int64)
    m = vc.sum(axis=1)
    pairable = (m >= 2) & (weights > 0)
    n = int(weights[pairable].sum())
    if not (m > 0).any():
        return missing(0, "no labels")
    if n_raters is not None and n_raters < 2:
        return missing(0, "fewer than two raters")
    if n == 0:
        return missing(0, "no pair was labelled by two or more raters (no overlap)")
    vc, weights = merge_identical(vc[pairable], weights[pairable])
    if np.count_nonzero(vc.sum(axis=0)) < 2:
        return missing(n, "all labels are equal: α is undefined without variation")
    value = krippendorff.alpha(
        value_counts=np.repeat(vc, weights, axis=0), value_domain=domain, level_of_measurement=level
    )
    if not np.isfinite(value):
        return missing(n, "α is undefined for these labels")
    per_group = unit_coincidences(vc).reshape(len(vc), -1)
    replicates = resample_weights(weights, n_boot, seed)
    ci = None
    if replicates.size:
        o = (replicates @ per_group).reshape(-1, domain.size, domain.size)
        ci = percentile_ci(alpha_from_coincidences(o, domain, level))
    return Figure(float(value), n, ci).as_dict()


def weighted_mean_figure(values: np.ndarray, weights: np.ndarray, boot: np.ndarray, *, n: int, reason: str) -> dict:
    """n-weighted mean of several figures (e.g. κ of every pair of raters), with the CI
    from the per-replicate means. values: (K,), boot: (B, K); NaN = undefined."""
    values, weights = np.asarray(values, dtype=float), np.asarray(weights, dtype=float)
    defined = np.isfinite(values) & (weights > 0)
    if not defined.any():
        return missing(n, reason)
    value = float(np.average(values[defined], weights=weights[defined]))
    ci = None
    if boot.size:
        w = np.where(np.isfinite(boot), weights[None, :], 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(w.sum(axis=1) > 0, np.nansum(np.nan_to_num(boot) * w, axis=1) / w.sum(axis=1), np.nan)
        ci = percentile_ci(means)
    return Figure(value, n, ci).as_dict()
