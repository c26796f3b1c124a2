"""`python manage.py hard_subset PROJECT --threshold 0.5 [--name hard] [--out DIR]`: build
the hard subset (pairs whose k judge samples disagree) and optionally export it as a
benchmark directory (benchmark.jsonl and images/), which `import_benchmark` reads."""

from django.core.management.base import BaseCommand, CommandError

from annotation.management.commands._base import project_by_name_or_id
from reviews.benchmark import BenchmarkError, benchmark_export, subset_build


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("project", help="project name or id")
        parser.add_argument("--threshold", type=float, default=0.5, help="hard: majority share below this")
        parser.add_argument("--name", default="hard", help="the subset's name")
        parser.add_argument("--out", help="export the subset to this directory")

    def handle(self, *args, **options):
        project = project_by_name_or_id(options["project"])
        try:
            subset = subset_build(project, name=options["name"], threshold=options["threshold"])
        except BenchmarkError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"subset {subset.name!r}: {len(subset.pair_ids)} hard pair(s) (share < {subset.threshold})")
        if options["out"]:
            self.stdout.write(f"wrote {benchmark_export(subset, options['out'])}")
