from django.core.management.base import BaseCommand, CommandError

from annotation.exports import ExportError, export_run_trec
from annotation.models import SearchRun

from ._base import project_by_name_or_id
from .export_gold import write_export


def run_by_name(project, name: str) -> SearchRun:
    run = SearchRun.objects.filter(project=project, name=name).first()
    if run is None:
        names = ", ".join(
            SearchRun.objects.filter(project=project).order_by("name").values_list("name", flat=True)[:20]
        )
        raise CommandError(f"no run {name!r} in project {project.name} (runs: {names or 'none yet'})")
    return run


class Command(BaseCommand):
    help = """Export a search run as a TREC run file: "query_id Q0 product_id rank score tag",
streamed. Ranks are positions in qrelay's order (rank, then score descending, then product
id descending, as trec_eval breaks ties). trec_eval orders by score, so --scores auto
(default) keeps a query's stored scores where they give that order and otherwise writes
n..1 from the positions; --scores rank always does. trec_eval then scores the file as
qrelay does. Writes to stdout unless -o FILE is given."""

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="project name (or id)")
        parser.add_argument("--run", required=True, help="the run's name")
        parser.add_argument("-o", "--output", help="file to write (default: stdout)")
        parser.add_argument("--tag", help="the run tag in the last column (default: the run's name)")
        parser.add_argument("--scores", choices=("auto", "rank"), default="auto")

    def handle(self, *args, **options):
        project = project_by_name_or_id(options["project"])
        run = run_by_name(project, options["run"])
        try:
            blocks = export_run_trec(run, tag=options["tag"], scores=options["scores"])
        except ExportError as exc:
            raise CommandError(str(exc)) from None
        write_export(self, blocks, options["output"])
