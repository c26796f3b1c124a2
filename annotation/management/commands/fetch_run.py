from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from annotation.connectors import ConnectorError, connector_fetch_run
from annotation.models import Query, SearchConnector

from ._base import project_by_name_or_id


class Command(BaseCommand):
    help = """Fetch a search run from a project's search-engine connector: the top k of the
top N queries by traffic, stored as a new run (see docs/connectors.md). Products the
catalogue does not know are reported and skipped; failed queries are reported."""

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="project name (or id)")
        parser.add_argument("--connector", required=True, help="the connector's name")
        parser.add_argument("--top", type=int, default=None, help="only the N queries with most traffic (default: all)")
        parser.add_argument("--k", type=int, default=None, help="results per query (default: the connector's k)")
        parser.add_argument("--name", default="", help="the run's name (default: connector name and time)")

    def handle(self, *args, **options):
        project = project_by_name_or_id(options["project"])
        connector = SearchConnector.objects.filter(project=project, name=options["connector"]).first()
        if connector is None:
            names = (
                ", ".join(SearchConnector.objects.filter(project=project).values_list("name", flat=True)) or "none yet"
            )
            raise CommandError(f"no connector {options['connector']!r} in {project.name} (connectors: {names})")
        for option in ("top", "k"):
            if options[option] is not None and options[option] < 1:
                raise CommandError(f"--{option} must be at least 1")
        if options["k"] is not None and options["k"] > 1000:
            raise CommandError("--k must be at most 1000")
        queries = Query.objects.filter(project=project).order_by("-traffic", "external_id")
        if options["top"]:
            queries = queries[: options["top"]]
        name = options["name"] or f"{connector.name} {timezone.localtime():%Y-%m-%d %H:%M:%S}"

        def progress(done: int, total: int, query, error: str) -> None:
            status = self.style.ERROR(f"failed: {error}") if error else "ok"
            self.stdout.write(f"[{done}/{total}] {query.external_id}: {status}")

        try:
            report = connector_fetch_run(
                connector=connector, queries=queries, name=name, k=options["k"], progress=progress
            )
        except ConnectorError as exc:
            raise CommandError(f"nothing was stored: {exc}") from None
        self.stdout.write(self.style.SUCCESS(str(report)))
