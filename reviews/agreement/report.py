"""The figures the dashboard, the `agreement` command and the API show: the project
summary and the same figures per segment here; per pair of human raters in `humans`, per
annotator in `annotators`, all computed with a `context.Context`.

Every figure is a dict {value, ci: [low, high] | None, n, reason}: the point estimate,
a seeded bootstrap 95% CI (percentile, resampling pairs), the number of items behind it,
and, when value is None, why (no labels, one rater, no overlap, no variation).
Confusion matrices have the reference in rows and the rater under evaluation in
columns, both in scale order (least relevant first).

Raters: every human by name, and the LLM as one rater (its latest label of the pair).
A lead's adjudication label is not a rater's label: it is the pair's gold. `n_pairs` of
a summary or segment counts the pairs compared: those with a human label or human gold
(a pair only the LLM labelled has a single rater and adds nothing to any figure).
"""

from typing import Any

import numpy as np

from annotation.models import Project

from ..models import Reason
from .context import Context, cells, confusion_dict, context_for, one_hot
from .data import HUMAN_GOLD, SEGMENTS, PairTable, Scale, agreement_tables
from .humans import human_figures
from .stats import N_BOOT, SEED, alpha_figure, confusion_figures, missing

SEGMENT_NONE = {
    "tag": "(untagged)",
    "category": "(no category)",
    "locale": "(no locale)",
    "reason": "(not routed)",
    "label": "(no gold)",
    "model": "(no LLM label)",
    "prompt": "(unknown prompt)",
    "mode": "(unknown mode)",
}
BY_CHOICES = (*SEGMENTS, "annotator")
REASON_NAMES = dict(Reason.choices)


# --- figures from the per-pair table --------------------------------------------------------


def _pair_figures(
    t: PairTable, ctx: Context, *, raters_all=None, raters_human=None, any_llm=None, confusion=False
) -> dict:
    size, boot = ctx.scale.size, {"n_boot": ctx.n_boot, "seed": ctx.seed}
    domain = ctx.scale.values
    llm = one_hot(t.llm, size)
    out: dict[str, Any] = {
        "n_pairs": int(t.w.sum()),
        "alpha": alpha_figure(t.h + llm, t.w, domain=domain, level=ctx.level, n_raters=raters_all, **boot),
        "alpha_humans": alpha_figure(t.h, t.w, domain=domain, level=ctx.level, n_raters=raters_human, **boot),
    }

    # The LLM against every human label of the pair (rows: human, columns: LLM).
    both = (t.llm >= 0) & (t.h.sum(axis=1) > 0)
    groups = np.zeros((int(both.sum()), size, size))
    groups[np.arange(len(groups)), :, t.llm[both]] = t.h[both]
    figures = confusion_figures(groups, t.w[both], metrics=(*ctx.kappa_metrics, "agreement"), **boot)
    n_items = int(np.tensordot(t.w[both], groups, axes=1).sum()) if len(groups) else 0
    if not both.any():
        # The table holds only pairs with human labels or gold: whether the LLM labelled
        # any pair at all is known from the whole project (any_llm) when given.
        if not t.h.any():
            reason = "no human labels"
        elif any_llm is False:
            reason = "no LLM labels"
        else:
            reason = "no pair has both an LLM and a human label"
        figures = {name: missing(0, reason) for name in ("kappa", "weighted_kappa", "agreement")}
    out["llm_vs_human"] = {**ctx.fill_weighted(figures, n_items), "n_pairs": int(t.w[both].sum())}
    if confusion:
        matrix = np.tensordot(t.w[both], groups, axes=1) if len(groups) else np.zeros((size, size))
        out["llm_vs_human"]["confusion"] = confusion_dict(matrix, ctx.scale, "human", "LLM")

    # The LLM as a judge against gold settled by people (rows: gold, columns: LLM).
    judged = (t.llm >= 0) & (t.gold >= 0)
    groups = cells(t.gold[judged], t.llm[judged], size)
    metrics = (*ctx.kappa_metrics, "accuracy", "binary_accuracy", "macro_f1")
    n_judged = int(t.w[judged].sum())
    if judged.any():
        figures = confusion_figures(groups, t.w[judged], metrics=metrics, cut=ctx.scale.relevant_cut, **boot)
        pair_counts = one_hot(t.gold[judged], size) + one_hot(t.llm[judged], size)
        figures["alpha"] = alpha_figure(pair_counts, t.w[judged], domain=domain, level=ctx.level, **boot)
    else:
        reason = "no pair has both an LLM label and human gold"
        figures = {name: missing(0, reason) for name in (*metrics, "weighted_kappa", "alpha")}
    out["llm_vs_gold"] = ctx.fill_weighted(figures, n_judged)
    if confusion:
        matrix = np.tensordot(t.w[judged], groups, axes=1) if judged.any() else np.zeros((size, size))
        out["llm_vs_gold"]["confusion"] = confusion_dict(matrix, ctx.scale, "human gold", "LLM")
    return out


# --- public entry points --------------------------------------------------------------------


def project_agreement_summary(
    project: Project, *, level: str | None = None, n_boot: int = N_BOOT, seed: int = SEED
) -> dict:
    """The main figures of a project: α over all raters (the LLM as one rater) and over
    the humans; LLM vs human labels (κ, weighted κ, agreement, confusion); LLM vs human
    gold (accuracy, acc@2, macro-F1, κ, α, confusion); human vs human κ (mean over
    pairs of raters, weighted by shared pairs); and the counts behind them."""
    ctx = context_for(project, level, n_boot, seed)
    tables = agreement_tables(project, ctx.scale, counts=True)
    table, humans = tables.pairs, tables.humans
    n_humans = len(humans.labels_per_rater)
    assert tables.any_llm is not None  # counts=True fills it
    figures = _pair_figures(
        table, ctx, raters_all=n_humans + tables.any_llm, raters_human=n_humans, any_llm=tables.any_llm, confusion=True
    )
    n_human_labels = table.h.sum(axis=1)
    cut = ctx.scale.relevant_cut
    return {
        "project": {"id": project.id, "name": project.name},
        "level": ctx.level,
        "scale": [
            {"value": int(v), "name": n, "gain": g}
            for v, n, g in zip(ctx.scale.values, ctx.scale.names, ctx.scale.gains)
        ],
        "relevant_from": None if cut is None else int(ctx.scale.values[cut]),
        "gold_provenances": [str(p) for p in HUMAN_GOLD],
        "bootstrap": {"replicates": n_boot, "seed": seed, "resampling": "pairs", "interval": "percentile 95%"},
        "counts": {
            "pairs": tables.project_pairs,
            "pairs_compared": figures["n_pairs"],
            "pairs_human": int(table.w[n_human_labels > 0].sum()),
            "pairs_human_and_llm": int(table.w[(n_human_labels > 0) & (table.llm >= 0)].sum()),
            "pairs_two_humans": int(table.w[n_human_labels >= 2].sum()),
            "pairs_human_gold": int(table.w[table.gold >= 0].sum()),
            "human_labels": int((n_human_labels * table.w).sum()),
            "human_raters": n_humans,
        },
        "alpha": figures["alpha"],
        "alpha_humans": figures["alpha_humans"],
        "llm_vs_human": figures["llm_vs_human"],
        "llm_vs_gold": figures["llm_vs_gold"],
        "human_vs_human": human_figures(humans, ctx),
    }


def segment_name(by: str, key: str, scale: Scale | None = None) -> str:
    if key == "":
        return SEGMENT_NONE[by]
    if by == "label" and scale is not None:
        names = dict(zip((str(v) for v in scale.values), scale.names))
        return f"{names.get(key, key)} ({key})"
    if by == "reason":
        return str(REASON_NAMES.get(key, key))
    return key


def agreement_by_segment(
    project: Project,
    by: str,
    *,
    level: str | None = None,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    limit: int | None = None,
) -> list[dict]:
    """The summary's figures per segment (tag, category, locale, reason, label, model,
    prompt, mode), largest segments first. A pair with several tags counts in each."""
    if by not in SEGMENTS:
        raise ValueError(f"unknown segment {by!r}; one of {', '.join(SEGMENTS)}")
    ctx = context_for(project, level, n_boot, seed)
    tables = agreement_tables(project, ctx.scale, by=by)
    table, humans = tables.pairs, tables.humans
    sizes = {key: int(table.w[table.seg == key].sum()) for key in set(table.seg.tolist())}
    keys = sorted(sizes, key=lambda key: (-sizes[key], key))[:limit]
    rows = []
    for key in keys:
        figures = _pair_figures(table.where(table.seg == key), ctx)
        figures["human_vs_human"] = human_figures(humans.where(humans.seg == key), ctx)
        rows.append({"segment": segment_name(by, key, ctx.scale), "key": key, **figures})
    return rows
