"""`python manage.py calibrate --project P [--json]`: the judge against human labels."""

import json

from django.core.management.base import BaseCommand, CommandError

from annotation.label_keys import keyed_levels, shown_named
from annotation.management.commands._base import project_by_name_or_id
from reviews.calibration import calibration_report
from reviews.services.policies import policy_current

from .agreement import cell, clean, shown, table

HEADLINE = (
    ("accuracy", "acc (all levels)"),
    ("binary_accuracy", "acc@2"),
    ("macro_f1", "macro-F1"),
    ("weighted_kappa", "weighted κ"),
    ("alpha", "α"),
)


def percent(value) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


class Command(BaseCommand):
    help = """Judge the judge: every judge configuration (backend, model, prompt version, mode,
k samples) against the human labels of the same pairs (human gold, else the majority of the
pair's human labels): accuracy over all levels, acc@2 (relevant vs not, by the scale's
gains), macro-F1, Cohen's κ (linearly weighted for ordinal scales), Krippendorff's α, each
with a bootstrap 95% CI and n; cost per 1,000 pairs; a reliability table (stated
confidence against observed accuracy); and the routing-value curve: for a min-confidence
threshold, the share of pairs sent to humans against the share of the judge's errors they
catch. Judge labelled pairs first with `judge --pairs labelled`."""

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="project name (or id)")
        parser.add_argument("--json", action="store_true", help="print the whole report as JSON")
        parser.add_argument(
            "--min-confidence", type=float, help="threshold to evaluate (default: the current policy's)"
        )
        parser.add_argument("--catch", type=float, default=0.8, help="share of errors to catch (default 0.8)")
        parser.add_argument("--boot", type=int, default=1000, help="bootstrap replicates (0: no CIs)")
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, **options):
        project = project_by_name_or_id(options["project"])
        threshold = options["min_confidence"]
        if threshold is None:
            threshold = policy_current(project).min_confidence
        for name in ("min_confidence", "catch"):
            value = threshold if name == "min_confidence" else options["catch"]
            if not 0.0 <= value <= 1.0:
                raise CommandError(f"--{name.replace('_', '-')} must be between 0 and 1, got {value}")
        if options["boot"] < 0:
            raise CommandError("--boot must be 0 or more")
        report = calibration_report(
            project,
            min_confidence=threshold,
            catch_target=options["catch"],
            n_boot=options["boot"],
            seed=options["seed"],
        )
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2))
            return
        self._print(report)

    def _print(self, report: dict):
        out = self.stdout.write
        out(f"Project {clean(report['project'])}: {report['n_reference_pairs']} pair(s) with a human reference")
        if report["relevant_from"] is not None:
            labels = keyed_levels(zip(report["scale"]["values"], report["scale"]["names"], strict=True))
            out(f"acc@2 counts {shown(shown_named(labels, report['relevant_from']))} and above as relevant.")
        if not report["configurations"]:
            out("No judgment of these pairs yet: run `manage.py judge --project P --pairs labelled` first.")
            return
        rows = []
        for entry in report["configurations"]:
            figures = entry["figures"]
            cost = entry["cost_per_1000"]
            rows.append(
                [
                    clean(entry["label"]),
                    str(entry["n_compared"]),
                    str(entry["n_invalid"]),
                    *(cell(figures[name]) for name, _ in HEADLINE),
                    "—" if cost is None else f"€{cost:.2f}",
                ]
            )
        headers = ["judge", "n", "invalid", *(title for _, title in HEADLINE), "per 1k pairs"]
        out(table(headers, rows))
        for entry in report["configurations"]:
            out("")
            out(f"{clean(entry['label'])}")
            ece = entry["expected_calibration_error"]
            out(
                f"  confidence stated on {entry['stated_confidence']} of {entry['n_compared']} pairs"
                + ("" if ece is None else f"; expected calibration error {ece:.3f}")
            )
            bins = [
                [
                    f"{row['low']:.1f}–{row['high']:.1f}",
                    str(row["n"]),
                    f"{row['mean_confidence']:.2f}",
                    percent(row["accuracy"]),
                ]
                for row in entry["reliability"]
                if row["n"]
            ]
            if bins:
                out("  " + table(["confidence", "n", "stated", "observed"], bins).replace("\n", "\n  "))
            point = entry["at_policy"]
            if point is not None:
                out(
                    f"  at min confidence {report['min_confidence']:.2f}: {percent(point['to_humans'])} of pairs to humans, "
                    f"{percent(point['errors_caught'])} of errors caught; auto-accepted accuracy "
                    f"{percent(point['auto_accuracy'])}, routed {percent(point['routed_accuracy'])}"
                )
            target = entry["catch_target"]
            if target is None:
                out(f"  no threshold catches {percent(report['catch_target'])} of the errors")
            else:
                threshold = "send everything" if target["threshold"] is None else f"{target['threshold']:.3f}"
                out(
                    f"  to catch {percent(report['catch_target'])} of errors: min confidence {threshold}, "
                    f"{percent(target['to_humans'])} of pairs to humans"
                )
