"""Shared bits of the import commands: project lookup and turning import errors into
a clean CommandError (exit code 1, every problem listed)."""

from django.core.management.base import BaseCommand, CommandError

from annotation.importers import ImportFailed
from annotation.importers.reading import FORMATS
from annotation.models import Project


def project_by_name_or_id(value: str) -> Project:
    project = Project.objects.filter(name=value).first()
    if project is None and value.isdigit():
        project = Project.objects.filter(id=int(value)).first()
    if project is None:
        names = ", ".join(Project.objects.values_list("name", flat=True)[:20]) or "none yet"
        raise CommandError(f"no project {value!r} (projects: {names}); create one with create_project")
    return project


class ImportCommand(BaseCommand):
    """Base for import_*: --project, FILE, --format; subclasses implement run_import()."""

    def create_parser(self, prog_name, subcommand, **kwargs):
        from argparse import RawDescriptionHelpFormatter

        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.formatter_class = RawDescriptionHelpFormatter
        return parser

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="project name (or id)")
        parser.add_argument("file", help="the file to import")
        parser.add_argument("--format", choices=FORMATS, help="file format; by default taken from the extension")

    def handle(self, *args, **options):
        project = project_by_name_or_id(options["project"])
        try:
            summary = self.run_import(project, options)
        except ImportFailed as exc:
            raise CommandError(f"nothing was imported:\n{exc.render()}") from None
        self.stdout.write(self.style.SUCCESS(str(summary)))

    def run_import(self, project, options):
        raise NotImplementedError
