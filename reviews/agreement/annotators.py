"""Per annotator: agreement with the LLM and with the consensus of the other humans,
overall and by position in the annotator's day (figures as in `report`)."""

import numpy as np

from annotation.models import Project

from .context import Context, cells, context_for, one_hot
from .data import AnnotatorTable, annotator_table
from .stats import N_BOOT, SEED, confusion_figures, missing


def _consensus(t: AnnotatorTable, size: int) -> np.ndarray:
    """The reference for each label: the adjudicated gold if any, else the majority of
    the pair's other human raters (-1 when they tie or there are none)."""
    others = t.h - one_hot(t.own, size)
    top = others.max(axis=1) if len(others) else np.zeros(0, dtype=np.int64)
    unique = ((others == top[:, None]).sum(axis=1) == 1) & (top > 0)
    return np.where(t.adj >= 0, t.adj, np.where(unique, others.argmax(axis=1) if len(others) else 0, -1))


def _versus(reference: np.ndarray, own: np.ndarray, w: np.ndarray, ctx: Context, what: str) -> dict:
    keep = reference >= 0
    if not keep.any():
        return {
            name: missing(0, f"no label of this annotator has {what}")
            for name in ("kappa", "weighted_kappa", "agreement")
        }
    groups = cells(reference[keep], own[keep], ctx.scale.size)
    figures = confusion_figures(
        groups, w[keep], metrics=(*ctx.kappa_metrics, "agreement"), n_boot=ctx.n_boot, seed=ctx.seed
    )
    return ctx.fill_weighted(figures, int(w[keep].sum()))


def _annotator_figures(t: AnnotatorTable, reference: np.ndarray, ctx: Context, bucket_size: int, buckets: int) -> dict:
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
    ctx = context_for(project, level, n_boot, seed)
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
