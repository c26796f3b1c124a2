from django.core.management.base import CommandError

from annotation.importers import labels_import
from annotation.models import LabelSource

from ._base import ImportCommand


class Command(ImportCommand):
    help = """Import relevance labels: one row is one rater's label of one pair.

CSV/JSONL columns: query_id, product_id, label (required); rater (one per row, for files
with several raters; otherwise --rater); optional query and product_title (then unknown
queries/products are created, so an ESCI- or WANDS-style flat file loads on its own).
Aliases: esci_label/relevance/rel/grade for label, qid, docno, title, annotator.
Labels are given by name (case-insensitive, e.g. Exact, irrelevant), by a one-letter code
that names one level (ESCI's E/S/C/I) or by value (e.g. 2).
TREC qrels (.qrels/.txt, or --format trec): "qid iteration docno relevance".
--gold also makes the labels the pairs' gold values (provenance 'imported'); gold set by
reviewers in qrelay is kept. Re-importing the same file changes nothing."""

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--rater", help="rater name for rows without a 'rater' column")
        parser.add_argument("--gold", action="store_true", help="also set the pairs' gold values")
        parser.add_argument(
            "--source",
            choices=LabelSource.values,
            default=LabelSource.HUMAN,
            help="who made the labels (default human)",
        )

    def run_import(self, project, options):
        if not project.levels.exists():
            raise CommandError(f"project {project} has no label scale")
        return labels_import(
            project=project,
            path=options["file"],
            rater=options["rater"],
            gold=options["gold"],
            source=options["source"],
            fmt=options["format"],
        )
