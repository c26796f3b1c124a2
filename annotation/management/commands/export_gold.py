from django.core.management.base import BaseCommand, CommandError

from annotation.exports import GOLD_FORMATS, ExportError, export_gold, export_labels_jsonl, write_file

from ._base import project_by_name_or_id


def write_export(command: BaseCommand, blocks, output: str | None) -> None:
    """Stream an export to the file named by -o (written whole or not at all) or stdout."""
    if output and output != "-":
        try:
            write_file(blocks, output)
        except OSError as exc:
            raise CommandError(f"cannot write {output}: {exc.strerror or exc}") from None
        return
    for block in blocks:
        command.stdout.write(block, ending="")
    command.stdout.flush()


class Command(BaseCommand):
    help = """Export a project's gold labels, streamed (any size in constant memory).

--format csv|jsonl: one row per gold pair: query_id, query, product_id, product_title,
label (value), label_name, provenance (imported, llm-auto, human, adjudicated),
policy_version, raters (human raters of the pair), llm_model (newest LLM label's model),
gold_updated_at. CSV cells that a spreadsheet would run as a formula (starting with =, +,
-, @, tab, CR) get a leading quote.
--format qrels: TREC qrels "query_id 0 product_id value", for trec_eval; re-import with
import_labels --gold.
--all-labels (with jsonl): every label, LLM and human, not only gold.
Writes to stdout unless -o FILE is given."""

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="project name (or id)")
        parser.add_argument("--format", choices=GOLD_FORMATS, default="csv")
        parser.add_argument("-o", "--output", help="file to write (default: stdout)")
        parser.add_argument("--all-labels", action="store_true", help="every label, not only gold (jsonl only)")

    def handle(self, *args, **options):
        project = project_by_name_or_id(options["project"])
        try:
            if options["all_labels"]:
                if options["format"] != "jsonl":
                    raise CommandError("--all-labels is written as JSONL: add --format jsonl")
                blocks = export_labels_jsonl(project)
            else:
                blocks = export_gold(project, options["format"])
        except ExportError as exc:
            raise CommandError(str(exc)) from None
        write_export(self, blocks, options["output"])
