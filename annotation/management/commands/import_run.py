from annotation.importers import run_import

from ._base import ImportCommand


class Command(ImportCommand):
    help = """Import the results of one search-engine configuration as a search run.

CSV/JSONL columns: query_id, product_id, rank (required, >= 1); score; optional query
and product_title (then unknown queries/products are created from them, so one flat
file is enough). Aliases: qid, docno/docid for product_id, title for product_title.
TREC run files (.run/.trec/.txt, or --format trec): "qid Q0 docno rank score tag".
Each (query, product) is a pair; runs share pairs, so a new run only adds its new pairs.
Re-importing the same file changes nothing."""

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--run", required=True, help="the run's name, e.g. 'bm25-2026-11'")
        parser.add_argument("--description", default="", help="what configuration this run is")

    def run_import(self, project, options):
        return run_import(
            project=project,
            run_name=options["run"],
            path=options["file"],
            fmt=options["format"],
            description=options["description"],
        )
