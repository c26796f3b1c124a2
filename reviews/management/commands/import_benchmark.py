"""`python manage.py import_benchmark PROJECT DIR/benchmark.jsonl [--subset NAME]`: import a
benchmark file written by `hard_subset --out` (queries, products and images, pairs, gold,
the rules its pairs cite) as a named subset of the project."""

from django.core.management.base import BaseCommand, CommandError

from annotation.importers import ImportFailed
from annotation.management.commands._base import project_by_name_or_id
from reviews.benchmark import BenchmarkError, benchmark_import


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("project", help="project name or id")
        parser.add_argument("path")
        parser.add_argument("--subset", help="the subset's name (default: the file's)")

    def handle(self, *args, **options):
        project = project_by_name_or_id(options["project"])
        try:
            counts = benchmark_import(project, options["path"], subset_name=options["subset"])
        except (BenchmarkError, ImportFailed) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"subset {counts['subset']!r}: {counts['pairs']} pair(s), {counts['gold']} gold, {counts['rules']} rule(s)"
        )
