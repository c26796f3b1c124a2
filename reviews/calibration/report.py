"""The "judge vs humans" report: every judge configuration against the human reference, on
the pairs both labelled, with the figures a lead needs to pick a model and a routing
threshold (reviews.calibration.figures) and the cost per 1,000 pairs."""

from typing import Any

import numpy as np

from annotation.models import Project
from reviews.agreement.data import scale_of
from reviews.agreement.stats import N_BOOT, SEED

from .data import human_reference, judgments_by_configuration, pair_facts
from .figures import (
    Compared,
    agreement_figures,
    confusion_matrix,
    expected_calibration_error,
    reliability,
    routing_curve,
    routing_point,
    threshold_for_errors_caught,
)

SEGMENT_KINDS = ("locale", "tag", "category")
SEGMENT_METRICS = ("accuracy", "binary_accuracy", "macro_f1")
MIN_SEGMENT_PAIRS = 5


def calibration_report(
    project: Project,
    *,
    min_confidence: float,
    catch_target: float = 0.8,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    segments: bool = True,
) -> dict:
    scale = scale_of(project)
    level = "ordinal" if scale.size > 2 else "nominal"
    reference = human_reference(project)
    configurations = judgments_by_configuration(project, reference)
    facts = pair_facts(project, reference) if segments and configurations else {}
    boot = {"n_boot": n_boot, "seed": seed}
    out = []
    for key, judged in configurations.items():
        pair_ids = [pid for pid, value in judged.values.items() if value is not None]
        compared = Compared(
            reference=scale.positions([reference[pid] for pid in pair_ids]),
            judged=scale.positions([judged.values[pid] for pid in pair_ids]),
            confidence=np.array(
                [np.nan if judged.confidence[pid] is None else judged.confidence[pid] for pid in pair_ids], dtype=float
            ),
        )
        n_judged = len(judged.values)
        curve = routing_curve(compared)
        rows = reliability(compared)
        entry: dict[str, Any] = {
            "configuration": key.as_dict(),
            "label": key.label,
            "n_judged": n_judged,
            "n_invalid": n_judged - len(pair_ids),
            "n_compared": len(pair_ids),
            "cost_eur": float(judged.cost_eur),
            "cost_per_1000": float(judged.cost_eur * 1000 / n_judged) if n_judged else None,
            "figures": agreement_figures(
                compared, size=scale.size, domain=scale.values, cut=scale.relevant_cut, level=level, **boot
            ),
            "confusion": confusion_matrix(compared, scale.size),
            "reliability": rows,
            "expected_calibration_error": expected_calibration_error(rows),
            "stated_confidence": int((~np.isnan(compared.confidence)).sum()),
            "curve": curve,
            "at_policy": routing_point(compared, min_confidence) if len(pair_ids) else None,
            "catch_target": threshold_for_errors_caught(curve, catch_target),
        }
        if segments:
            entry["segments"] = _segments(compared, pair_ids, facts, scale, level, boot)
        out.append((key, entry))
    out.sort(key=lambda item: (-item[1]["n_compared"], item[0]))
    return {
        "project": project.name,
        "scale": {"values": [int(v) for v in scale.values], "names": scale.names},
        "relevant_from": scale.names[scale.relevant_cut] if scale.relevant_cut is not None else None,
        "level": level,
        "reference": "human gold where people settled the pair, else the majority of its human labels",
        "n_reference_pairs": len(reference),
        "min_confidence": min_confidence,
        "catch_target": catch_target,
        "configurations": [entry for _, entry in out],
    }


def _segments(compared: Compared, pair_ids: list[int], facts, scale, level: str, boot: dict) -> dict:
    out: dict[str, list[dict]] = {}
    for kind in SEGMENT_KINDS:
        members: dict[str, list[int]] = {}
        for index, pid in enumerate(pair_ids):
            fact = facts.get(pid)
            if fact is None:
                continue
            names = fact.tags if kind == "tag" else ((fact.locale,) if kind == "locale" else (fact.category,))
            for name in names:
                if name:
                    members.setdefault(name, []).append(index)
        rows = []
        for name, indexes in sorted(members.items(), key=lambda item: (-len(item[1]), item[0])):
            if len(indexes) < MIN_SEGMENT_PAIRS:
                continue
            part = compared.where(np.array(indexes))
            figures = agreement_figures(
                part, size=scale.size, domain=scale.values, cut=scale.relevant_cut, level=level, **boot
            )
            rows.append({"segment": name, "n": len(indexes), "figures": {m: figures[m] for m in SEGMENT_METRICS}})
        out[kind] = rows
    return out
