"""The figures the dashboard, the `agreement` command and the API show: a project
summary, the same figures per segment, per pair of human raters and per annotator.

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

from dataclasses import dataclass

import numpy as np

from annotation.models import Project

from ..models import Reason
from .data import (
    HUMAN_GOLD,
    SEGMENTS,
    AnnotatorTable,
    HumanPairs,
    PairTable,
    Scale,
    agreement_tables,
    annotator_table,
    scale_of,
)
from .stats import (
    LEVELS,
    N_BOOT,
    SEED,
    accuracy,
    alpha_figure,
    confusion_figures,
    kappa,
    missing,
    weighted_mean_figure,
)

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


def default_level(scale: Scale) -> str:
    """Ordinal for graded scales; with two labels every level gives the same α."""
    return "ordinal" if scale.size > 2 else "nominal"


@dataclass(frozen=True)
class _Context:
    scale: Scale
    level: str
    n_boot: int
    seed: int

    @property
    def kappa_metrics(self) -> tuple[str, ...]:
        return ("kappa", "weighted_kappa") if self.level != "nominal" else ("kappa",)

    def fill_weighted(self, figures: dict, n: int) -> dict:
        if self.level == "nominal":
            figures["weighted_kappa"] = missing(n, "weighted κ needs ordered labels; the level is nominal")
        return figures


def _context(project: Project, level: str | None, n_boot: int, seed: int) -> _Context:
    scale = scale_of(project)
    level = level or default_level(scale)
    if level not in LEVELS:
        raise ValueError(f"level of measurement must be one of {', '.join(LEVELS)}, got {level!r}")
    return _Context(scale, level, n_boot, seed)


def _one_hot(positions: np.ndarray, size: int) -> np.ndarray:
    """Rows of the identity; -1 (no label) gives a zero row."""
    eye = np.vstack([np.eye(size, dtype=np.int64), np.zeros((1, size), dtype=np.int64)])
    return eye[np.where(positions >= 0, positions, size)]


def _cells(reference: np.ndarray, rated: np.ndarray, size: int) -> np.ndarray:
    """One confusion matrix per row, with a single 1 at (reference, rated)."""
    groups = np.zeros((len(reference), size, size))
    groups[np.arange(len(reference)), reference, rated] = 1
    return groups


def _confusion_dict(matrix: np.ndarray, scale: Scale, rows: str, columns: str) -> dict:
    return {
        "rows": rows,
        "columns": columns,
        "values": [int(v) for v in scale.values],
        "names": list(scale.names),
        "matrix": np.rint(matrix).astype(int).tolist(),
    }


# --- figures from the per-pair table --------------------------------------------------------


def _pair_figures(
    t: PairTable, ctx: _Context, *, raters_all=None, raters_human=None, any_llm=None, confusion=False
) -> dict:
    size, boot = ctx.scale.size, {"n_boot": ctx.n_boot, "seed": ctx.seed}
    domain = ctx.scale.values
    llm = _one_hot(t.llm, size)
    out = {
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
        out["llm_vs_human"]["confusion"] = _confusion_dict(matrix, ctx.scale, "human", "LLM")

    # The LLM as a judge against gold settled by people (rows: gold, columns: LLM).
    judged = (t.llm >= 0) & (t.gold >= 0)
    groups = _cells(t.gold[judged], t.llm[judged], size)
    metrics = (*ctx.kappa_metrics, "accuracy", "binary_accuracy", "macro_f1")
    n_judged = int(t.w[judged].sum())
    if judged.any():
        figures = confusion_figures(groups, t.w[judged], metrics=metrics, cut=ctx.scale.relevant_cut, **boot)
        pair_counts = _one_hot(t.gold[judged], size) + _one_hot(t.llm[judged], size)
        figures["alpha"] = alpha_figure(pair_counts, t.w[judged], domain=domain, level=ctx.level, **boot)
    else:
        reason = "no pair has both an LLM label and human gold"
        figures = {name: missing(0, reason) for name in (*metrics, "weighted_kappa", "alpha")}
    out["llm_vs_gold"] = ctx.fill_weighted(figures, n_judged)
    if confusion:
        matrix = np.tensordot(t.w[judged], groups, axes=1) if judged.any() else np.zeros((size, size))
        out["llm_vs_gold"]["confusion"] = _confusion_dict(matrix, ctx.scale, "human gold", "LLM")
    return out


# --- human vs human -----------------------------------------------------------------------


def _rater_pair_stats(hp: HumanPairs, ctx: _Context):
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


def _human_figures(hp: HumanPairs, ctx: _Context, *, detail: bool = False) -> dict:
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
    out = {
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


# --- public entry points --------------------------------------------------------------------


def project_agreement_summary(
    project: Project, *, level: str | None = None, n_boot: int = N_BOOT, seed: int = SEED
) -> dict:
    """The main figures of a project: α over all raters (the LLM as one rater) and over
    the humans; LLM vs human labels (κ, weighted κ, agreement, confusion); LLM vs human
    gold (accuracy, acc@2, macro-F1, κ, α, confusion); human vs human κ (mean over
    pairs of raters, weighted by shared pairs); and the counts behind them."""
    ctx = _context(project, level, n_boot, seed)
    tables = agreement_tables(project, ctx.scale, counts=True)
    table, humans = tables.pairs, tables.humans
    n_humans = len(humans.labels_per_rater)
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
        "human_vs_human": _human_figures(humans, ctx),
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
    ctx = _context(project, level, n_boot, seed)
    tables = agreement_tables(project, ctx.scale, by=by)
    table, humans = tables.pairs, tables.humans
    sizes = {key: int(table.w[table.seg == key].sum()) for key in set(table.seg.tolist())}
    keys = sorted(sizes, key=lambda key: (-sizes[key], key))[:limit]
    rows = []
    for key in keys:
        figures = _pair_figures(table.where(table.seg == key), ctx)
        figures["human_vs_human"] = _human_figures(humans.where(humans.seg == key), ctx)
        rows.append({"segment": segment_name(by, key, ctx.scale), "key": key, **figures})
    return rows


def human_pairwise_agreement(
    project: Project, *, level: str | None = None, n_boot: int = N_BOOT, seed: int = SEED
) -> dict:
    """Human vs human: the weighted mean over pairs of raters, and every pair of raters
    with its own κ, weighted κ and agreement (n = pairs both labelled)."""
    ctx = _context(project, level, n_boot, seed)
    return _human_figures(agreement_tables(project, ctx.scale).humans, ctx, detail=True)


def _consensus(t: AnnotatorTable, size: int) -> np.ndarray:
    """The reference for each label: the adjudicated gold if any, else the majority of
    the pair's other human raters (-1 when they tie or there are none)."""
    others = t.h - _one_hot(t.own, size)
    top = others.max(axis=1) if len(others) else np.zeros(0, dtype=np.int64)
    unique = ((others == top[:, None]).sum(axis=1) == 1) & (top > 0)
    return np.where(t.adj >= 0, t.adj, np.where(unique, others.argmax(axis=1) if len(others) else 0, -1))


def _versus(reference: np.ndarray, own: np.ndarray, w: np.ndarray, ctx: _Context, what: str) -> dict:
    keep = reference >= 0
    if not keep.any():
        return {
            name: missing(0, f"no label of this annotator has {what}")
            for name in ("kappa", "weighted_kappa", "agreement")
        }
    groups = _cells(reference[keep], own[keep], ctx.scale.size)
    figures = confusion_figures(
        groups, w[keep], metrics=(*ctx.kappa_metrics, "agreement"), n_boot=ctx.n_boot, seed=ctx.seed
    )
    return ctx.fill_weighted(figures, int(w[keep].sum()))


def _annotator_figures(t: AnnotatorTable, reference: np.ndarray, ctx: _Context, bucket_size: int, buckets: int) -> dict:
    by_position = []
    for b in sorted(set(t.bucket.tolist())):
        mask = t.bucket == b
        by_position.append(
            {
                "bucket": b,
                "from": b * bucket_size + 1,
                "to": None if b == buckets - 1 else (b + 1) * bucket_size,
                "labels": int(t.w[mask].sum()),
                "vs_llm": _versus(t.llm[mask], t.own[mask], t.w[mask], ctx, "an LLM label"),
                "vs_consensus": _versus(reference[mask], t.own[mask], t.w[mask], ctx, "a human consensus"),
            }
        )
    return {
        "labels": int(t.w.sum()),
        "vs_llm": _versus(t.llm, t.own, t.w, ctx, "an LLM label"),
        "vs_consensus": _versus(reference, t.own, t.w, ctx, "a human consensus"),
        "by_position": by_position,
    }


def annotator_agreement(
    project: Project,
    *,
    level: str | None = None,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    bucket_size: int = 50,
    buckets: int = 10,
) -> dict:
    """Per annotator: agreement with the LLM and with the consensus of the other humans
    (the adjudicated gold where there is one), overall and by position in their day
    (labels 1–50, 51–100, …; the last bucket takes the rest) to show fatigue.
    Returns {"annotators": [...], "all": {...}} — "all" pools every annotator."""
    if bucket_size < 1 or buckets < 1:
        raise ValueError("bucket_size and buckets must be positive")
    ctx = _context(project, level, n_boot, seed)
    table = annotator_table(project, ctx.scale, bucket_size=bucket_size, buckets=buckets)
    reference = _consensus(table, ctx.scale.size)
    annotators = []
    for rater in sorted(set(table.rater.tolist())):
        mask = table.rater == rater
        sub = AnnotatorTable(*(getattr(table, f)[mask] for f in ("rater", "bucket", "own", "llm", "h", "adj", "w")))
        annotators.append({"rater": rater, **_annotator_figures(sub, reference[mask], ctx, bucket_size, buckets)})
    annotators.sort(key=lambda row: (-row["labels"], row["rater"]))
    return {
        "bucket_size": bucket_size,
        "annotators": annotators,
        "all": _annotator_figures(table, reference, ctx, bucket_size, buckets),
    }
