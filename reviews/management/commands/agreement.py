"""`python manage.py agreement --project P`: the main agreement figures as a table, or
as JSON (--json) for machines; --by adds one row per segment or annotator."""

import json
import re
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from annotation.label_keys import ShownLabel, keyed_levels, shown_named
from annotation.management.commands._base import project_by_name_or_id
from reviews.agreement import (
    BY_CHOICES,
    LEVELS,
    agreement_by_segment,
    annotator_agreement,
    human_pairwise_agreement,
    project_agreement_summary,
)
from reviews.agreement.subsets import judge_vs_gold

# Names come from imported files (tags, categories, raters): no terminal escapes.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def clean(text) -> str:
    return _CONTROL.sub("?", str(text))


def shown(label: ShownLabel | None) -> str:
    """A level as people see it, "2 · partial" (names come from files: cleaned); stored
    values stay in --json."""
    return "—" if label is None else clean(label)


def cell(figure: dict, *, n: bool = False) -> str:
    if figure["value"] is None:
        return "—"
    text = f"{figure['value']:.3f}"
    if figure["ci"] is not None:
        text += f" [{figure['ci'][0]:.2f}, {figure['ci'][1]:.2f}]"
    return f"{text} n={figure['n']}" if n else text


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(values):
        return "  ".join(v.ljust(w) for v, w in zip(values, widths)).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


class Command(BaseCommand):
    help = """Agreement between the LLM and humans and among humans, for one project:
Krippendorff's α (krippendorff package, explicit level of measurement), Cohen's κ and
linearly weighted κ, raw agreement, and the LLM against human gold (accuracy, acc@2,
macro-F1, confusion matrix). Each figure has a bootstrap 95% CI (resampling pairs) and n."""

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="project name (or id)")
        parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
        parser.add_argument("--level", choices=LEVELS, help="level of measurement (default: ordinal for graded scales)")
        parser.add_argument("--by", choices=BY_CHOICES, help="also break the figures down by segment or annotator")
        parser.add_argument("--limit", type=int, default=50, help="largest segments shown with --by (default 50)")
        parser.add_argument("--boot", type=int, default=1000, help="bootstrap replicates (0: no CIs)")
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, **options):
        project = project_by_name_or_id(options["project"])
        if not project.levels.exists():
            raise CommandError(f"project {project} has no label scale")
        if options["boot"] < 0 or options["limit"] < 1:
            raise CommandError("--boot must be ≥ 0 and --limit ≥ 1")
        common = {"level": options["level"], "n_boot": options["boot"], "seed": options["seed"]}
        result: dict[str, Any] = {"summary": project_agreement_summary(project, **common)}
        result["summary"]["judge_vs_gold"] = judge_vs_gold(project, **common)  # RAIR: per intent/subset/rule
        by = options["by"]
        if by == "annotator":
            result["annotators"] = annotator_agreement(project, **common)
            result["human_pairs"] = human_pairwise_agreement(project, **common)["pairs"]
        elif by:
            result["segments"] = {"by": by, "rows": agreement_by_segment(project, by, limit=options["limit"], **common)}
        if options["json"]:
            self.stdout.write(json.dumps(result if by else result["summary"], indent=2, ensure_ascii=False))
            return
        summary = result["summary"]
        labels = keyed_levels((level["value"], level["name"]) for level in summary["scale"])
        self.stdout.write(self.render_summary(summary, labels))
        self.stdout.write("\n" + self.render_judge_vs_gold(summary["judge_vs_gold"], labels))
        if by == "annotator":
            self.stdout.write("\n" + self.render_annotators(result["annotators"], result["human_pairs"]))
        elif by:
            self.stdout.write("\n" + self.render_segments(by, result["segments"]["rows"]))

    def render_summary(self, s: dict, labels: dict[int, ShownLabel]) -> str:
        # The scale line is the one place that maps what people see to the stored values
        # that --json and the files use: "1 · low = 10".
        scale = ", ".join(f"{shown(labels[level['value']])} = {level['value']}" for level in s["scale"])
        relevant_from = None if s["relevant_from"] is None else labels.get(s["relevant_from"])
        c = s["counts"]
        head = [
            (
                f"Agreement for project {clean(s['project']['name'])} — level {s['level']}; "
                f"95% CI: bootstrap over pairs, {s['bootstrap']['replicates']} replicates, seed {s['bootstrap']['seed']}"
            ),
            f"Scale: {scale}; relevant from {shown(relevant_from)}; gold = {' or '.join(s['gold_provenances'])}",
            (
                f"Pairs {c['pairs']}; with human labels {c['pairs_human']} (also an LLM label: {c['pairs_human_and_llm']}, "
                f"two or more humans: {c['pairs_two_humans']}); with human gold {c['pairs_human_gold']}; "
                f"{c['human_labels']} human labels by {c['human_raters']} rater(s)"
            ),
            "",
        ]
        lh, lg, hh = s["llm_vs_human"], s["llm_vs_gold"], s["human_vs_human"]
        figures = [
            ("α, all raters (LLM as one rater)", s["alpha"]),
            ("α, humans only", s["alpha_humans"]),
            ("LLM vs human labels: κ", lh["kappa"]),
            ("LLM vs human labels: weighted κ (linear)", lh["weighted_kappa"]),
            ("LLM vs human labels: agreement", lh["agreement"]),
            ("LLM vs human gold: accuracy", lg["accuracy"]),
            ("LLM vs human gold: acc@2 (relevant or not)", lg["binary_accuracy"]),
            ("LLM vs human gold: macro-F1", lg["macro_f1"]),
            ("LLM vs human gold: κ", lg["kappa"]),
            ("LLM vs human gold: weighted κ (linear)", lg["weighted_kappa"]),
            ("LLM vs human gold: α", lg["alpha"]),
            (f"human vs human: κ (mean of {hh['rater_pairs']} rater pairs)", hh["kappa"]),
            ("human vs human: weighted κ (linear)", hh["weighted_kappa"]),
            ("human vs human: agreement", hh["agreement"]),
        ]
        rows = []
        for name, f in figures:
            ci = "" if f["ci"] is None else f"[{f['ci'][0]:.3f}, {f['ci'][1]:.3f}]"
            value = "—" if f["value"] is None else f"{f['value']:.3f}"
            rows.append([name, value, ci, str(f["n"]), f["reason"] or ""])
        parts = [*head, table(["figure", "value", "95% CI", "n", "note"], rows)]
        for key, title in (("llm_vs_gold", "LLM vs human gold"), ("llm_vs_human", "LLM vs human labels")):
            m = s[key]["confusion"]
            if not any(map(any, m["matrix"])):
                continue
            names = [shown(labels[value]) for value in m["values"]]
            parts += ["", f"Confusion, {title} (rows: {m['rows']}, columns: {m['columns']})"]
            parts.append(table(["", *names], [[name, *(str(v) for v in row)] for name, row in zip(names, m["matrix"])]))
        return "\n".join(parts)

    def render_judge_vs_gold(self, result: dict, labels: dict[int, ShownLabel]) -> str:
        """reviews.agreement.subsets.judge_vs_gold as a table: overall, then per intent,
        subset and rule (RAIR's acc@2 / acc@4 / macro-F1, and α)."""
        title = (
            "Judge vs human gold, RAIR's figures (acc@2: relevant from "
            f"{shown(shown_named(labels, result['relevant_from']))}; gold the LLM set itself is left out)"
        )
        if not result["overall"]["n"]:
            return f"{title}\nno pair has both a valid judgment and human gold"
        rows = [("all pairs", result["overall"])]
        for dimension in ("intent", "subset", "rule"):
            rows += [(f"{dimension}: {clean(key)}", f) for key, f in result[f"by_{dimension}"].items()]
        body = [
            [name, str(f["n"]), cell(f["acc@2"]), cell(f["acc@4"]), cell(f["macro_f1"]), cell(f["alpha"])]
            for name, f in rows
        ]
        return title + "\n" + table(["segment", "pairs", "acc@2", "acc@4", "macro-F1", "α"], body)

    def render_segments(self, by: str, rows: list[dict]) -> str:
        headers = [
            "segment",
            "pairs",
            "α all raters",
            "κ LLM–human",
            "acc vs gold",
            "acc@2",
            "macro-F1",
            "κ human–human",
        ]
        body = [
            [
                clean(r["segment"]),
                str(r["n_pairs"]),
                cell(r["alpha"], n=True),
                cell(r["llm_vs_human"]["kappa"], n=True),
                cell(r["llm_vs_gold"]["accuracy"], n=True),
                cell(r["llm_vs_gold"]["binary_accuracy"]),
                cell(r["llm_vs_gold"]["macro_f1"]),
                cell(r["human_vs_human"]["kappa"], n=True),
            ]
            for r in rows
        ]
        return f"By {by} (n = items behind each figure)\n" + table(headers, body)

    def render_annotators(self, data: dict, human_pairs: list[dict]) -> str:
        headers = ["annotator", "labels", "κ vs LLM", "agreement vs LLM", "κ vs consensus", "agreement vs consensus"]
        body = [
            [
                clean(a["rater"]),
                str(a["labels"]),
                cell(a["vs_llm"]["kappa"], n=True),
                cell(a["vs_llm"]["agreement"]),
                cell(a["vs_consensus"]["kappa"], n=True),
                cell(a["vs_consensus"]["agreement"]),
            ]
            for a in data["annotators"]
        ]
        parts = [
            "By annotator (consensus: adjudicated gold, else the majority of the other humans)",
            table(headers, body),
        ]
        positions = [
            [
                f"{b['from']}–{b['to']}" if b["to"] else f"{b['from']}+",
                str(b["labels"]),
                cell(b["vs_llm"]["agreement"], n=True),
                cell(b["vs_consensus"]["agreement"], n=True),
                cell(b["vs_consensus"]["kappa"]),
            ]
            for b in data["all"]["by_position"]
        ]
        parts += ["", "By position in the annotator's day, all annotators (fatigue)"]
        parts.append(
            table(["labels", "count", "agreement vs LLM", "agreement vs consensus", "κ vs consensus"], positions)
        )
        if human_pairs:
            pairs = [
                [clean(p["rater_a"]), clean(p["rater_b"]), str(p["n"]), cell(p["kappa"]), cell(p["agreement"])]
                for p in sorted(human_pairs, key=lambda p: -p["n"])
            ]
            parts += ["", "Pairs of human raters"]
            parts.append(table(["rater", "rater", "shared pairs", "κ", "agreement"], pairs))
        return "\n".join(parts)
