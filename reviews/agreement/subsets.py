"""The judge against gold, RAIR's way: acc@2, acc@4, macro-F1 and Krippendorff's α,
overall and per query intent, per pair subset (reviews.PairSubset, e.g. the hard subset)
and per rule the judge applied.

- acc@2: relevant vs irrelevant, split as RAIR splits L1–L2 | L3–L4: the upper half of
  the project's scale is relevant (position ≥ size // 2), whatever its gains.
- acc@4: the exact level (on RAIR's four-level scale that is acc@4; on another scale,
  exact-level accuracy under the same name).
- macro-F1 over the levels that occur; α between the judge and gold (two raters).

Gold set by the LLM itself (provenance llm-auto) is left out: it would grade the judge
against its own labels. The judge's label is its latest valid judgment of the pair.
"""

from collections import defaultdict

import numpy as np

from annotation.label_keys import label_keys, shown_named
from annotation.models import GoldProvenance, Pair, Project
from judging.intents import INTENTS, NEEDS
from judging.models import Judgment

from ..models import PairSubset
from .context import cells, default_level, one_hot
from .data import Scale, scale_of
from .stats import SEED, alpha_figure, confusion_figures

GOLD_FROM_PEOPLE = (GoldProvenance.HUMAN, GoldProvenance.ADJUDICATED, GoldProvenance.IMPORTED)


def _rows(project: Project) -> list[tuple]:
    """(pair id, judge value, gold value, query tags, applied rules) of every pair with
    human gold and a valid judgment."""
    latest: dict[int, tuple] = {}
    judgments = Judgment.objects.filter(project=project, status=Judgment.Status.OK).order_by(
        "pair_id", "-created_at", "-id"
    )
    for pair_id, value, rules in judgments.values_list("pair_id", "value", "applied_rules").iterator(chunk_size=5000):
        latest.setdefault(pair_id, (value, rules or []))
    gold = Pair.objects.filter(project=project, gold_value__isnull=False, gold_provenance__in=GOLD_FROM_PEOPLE)
    rows = []
    for pair_id, gold_value, tags in gold.values_list("id", "gold_value", "query__tags").iterator(chunk_size=5000):
        if pair_id in latest:
            value, rules = latest[pair_id]
            rows.append((pair_id, value, gold_value, tags or [], rules))
    return rows


def judge_figures(judge: list[int], gold: list[int], scale: Scale, *, n_boot: int = 0, seed: int = SEED) -> dict:
    """acc@2, acc@4, macro-F1 and α of the judge's values against gold (scale values)."""
    size = scale.size
    j, g = scale.positions(judge), scale.positions(gold)
    ok = (j >= 0) & (g >= 0)
    j, g = j[ok], g[ok]
    weights = np.ones(len(g), dtype=np.int64)
    figures = confusion_figures(
        cells(g, j, size),
        weights,
        metrics=("binary_accuracy", "accuracy", "macro_f1"),
        cut=size // 2,
        n_boot=n_boot,
        seed=seed,
    )
    alpha = alpha_figure(
        one_hot(g, size) + one_hot(j, size),
        weights,
        domain=scale.values,
        level=default_level(scale),
        n_raters=2,
        n_boot=n_boot,
        seed=seed,
    )
    return {
        "n": int(len(g)),
        "acc@2": figures["binary_accuracy"],
        "acc@4": figures["accuracy"],
        "macro_f1": figures["macro_f1"],
        "alpha": alpha,
    }


def judge_vs_gold(project: Project, *, n_boot: int = 0, seed: int = SEED, **_ignored) -> dict:
    """The figures overall, by intent (and required attribute), by subset and by rule."""
    scale = scale_of(project)
    rows = _rows(project)
    groups: dict[str, dict[str, list]] = {"intent": defaultdict(list), "subset": defaultdict(list)}
    groups["rule"] = defaultdict(list)
    by_pair = {row[0]: row for row in rows}
    for row in rows:
        for tag in row[3]:
            if tag in INTENTS or str(tag).startswith(NEEDS):
                groups["intent"][tag].append(row)
        for rule_id in row[4]:
            groups["rule"][rule_id].append(row)
    for name, pair_ids in PairSubset.objects.filter(project=project).order_by("name").values_list("name", "pair_ids"):
        groups["subset"][name] = [by_pair[i] for i in pair_ids if i in by_pair]

    def figures(chosen: list) -> dict:
        return judge_figures([r[1] for r in chosen], [r[2] for r in chosen], scale, n_boot=n_boot, seed=seed)

    return {
        "relevant_from": scale.names[scale.size // 2],
        "overall": figures(rows),
        **{
            f"by_{dimension}": {key: figures(found) for key, found in sorted(rows_by.items())}
            for dimension, rows_by in groups.items()
        },  # fmt: skip
    }


FIGURES = ("acc@2", "acc@4", "macro_f1", "alpha")


def judge_vs_gold_table(project: Project) -> dict:
    """judge_vs_gold as the dashboard's table rows: (segment, n, [figure, …] in FIGURES order),
    and where acc@2's "relevant" starts as a ShownLabel (key and name, as on the review card)."""
    result = judge_vs_gold(project)
    rows = [("All pairs", result["overall"])]
    for dimension in ("intent", "subset", "rule"):
        rows += [(f"{dimension}: {key}", f) for key, f in result[f"by_{dimension}"].items()]
    return {
        "relevant_from": shown_named(label_keys(project), result["relevant_from"]),
        "rows": [(name, f["n"], [f[k] for k in FIGURES]) for name, f in rows],
    }
