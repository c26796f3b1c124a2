"""Human vs human: Cohen's κ, weighted κ and agreement per pair of human raters, and
their mean weighted by the pairs each pair of raters shares (figures as in `report`)."""

from typing import Any

import numpy as np

from annotation.models import Project

from .context import Context, context_for
from .data import HumanPairs, agreement_tables
from .stats import N_BOOT, SEED, accuracy, confusion_figures, kappa, weighted_mean_figure


def _rater_pair_stats(hp: HumanPairs, ctx: Context):
    """Per pair of raters (sorted): names, confusion (K × V × V), and bootstrap replicates
    (B × K) of κ, weighted κ and agreement. Each pair of raters resamples its own shared
    pairs; the replicates of different pairs of raters are drawn independently."""
    size = ctx.scale.size
    keys = sorted(set(zip(hp.a.tolist(), hp.b.tolist())))
    index = {key: k for k, key in enumerate(keys)}
    confusion = np.zeros((len(keys), size, size))
    if keys:
        k = np.array([index[key] for key in zip(hp.a.tolist(), hp.b.tolist())])
        np.add.at(confusion, (k, hp.va, hp.vb), hp.w)
    n = confusion.sum(axis=(1, 2))
    boot = {name: np.full((max(ctx.n_boot, 0), len(keys)), np.nan) for name in ("kappa", "weighted_kappa", "agreement")}
    if ctx.n_boot > 0 and keys:
        rng = np.random.default_rng(ctx.seed)
        counts = np.rint(n).astype(np.int64)
        shares = confusion.reshape(len(keys), -1) / n[:, None]
        # Blocks of rater pairs keep the (replicates × pairs × V²) draws small.
        block = max(1, 2_000_000 // (ctx.n_boot * size * size))
        for start in range(0, len(keys), block):
            part = slice(start, start + block)
            draws = rng.multinomial(counts[part], shares[part], size=(ctx.n_boot, len(counts[part])))
            draws = draws.reshape(ctx.n_boot, -1, size, size)
            boot["kappa"][:, part] = kappa(draws)
            boot["weighted_kappa"][:, part] = kappa(draws, weighted=True)
            boot["agreement"][:, part] = accuracy(draws)
    return keys, confusion, n, boot


def human_figures(hp: HumanPairs, ctx: Context, *, detail: bool = False) -> dict:
    keys, confusion, n, boot = _rater_pair_stats(hp, ctx)
    total = int(n.sum())
    if len(hp.labels_per_rater) < 2:
        reason = "fewer than two human raters"
    elif not keys:
        reason = "no pair was labelled by two human raters (no overlap)"
    else:
        reason = "only one label occurs: κ is undefined without variation"
    point = {
        "kappa": kappa(confusion),
        "weighted_kappa": kappa(confusion, weighted=True),
        "agreement": accuracy(confusion),
    }
    out: dict[str, Any] = {
        name: weighted_mean_figure(point[name], n, boot[name], n=total, reason=reason)
        for name in ("kappa", "weighted_kappa", "agreement")
    }
    ctx.fill_weighted(out, total)
    out["rater_pairs"] = len(keys)
    if detail:
        out["pairs"] = [
            {
                "rater_a": a,
                "rater_b": b,
                "n": int(n[k]),
                **ctx.fill_weighted(
                    confusion_figures(
                        np.eye(ctx.scale.size**2).reshape(-1, ctx.scale.size, ctx.scale.size),
                        np.rint(confusion[k].ravel()).astype(np.int64),
                        metrics=(*ctx.kappa_metrics, "agreement"),
                        n_boot=ctx.n_boot,
                        seed=ctx.seed,
                    ),
                    int(n[k]),
                ),
            }
            for k, (a, b) in enumerate(keys)
        ]
    return out


def human_pairwise_agreement(
    project: Project, *, level: str | None = None, n_boot: int = N_BOOT, seed: int = SEED
) -> dict:
    """Human vs human: the weighted mean over pairs of raters, and every pair of raters
    with its own κ, weighted κ and agreement (n = pairs both labelled)."""
    ctx = context_for(project, level, n_boot, seed)
    return human_figures(agreement_tables(project, ctx.scale).humans, ctx, detail=True)
