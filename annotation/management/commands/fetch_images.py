from django.core.management.base import BaseCommand, CommandError

from annotation.image_fetch import images_fetch_remote, remote_images, remote_query_images

from ._base import project_by_name_or_id


class Command(BaseCommand):
    help = """Download the product images (and queries' reference images) an import recorded as URLs, validate and re-encode
them like imported files, and store them (the review card and the caption mode use
stored images only). Each URL is fetched from its own host only, with a timeout and a
size cap; private addresses need QRELAY_CONNECTOR_ALLOWED_HOSTS. Failed images stay
remote and are listed. Safe to run again: only images still remote are fetched."""

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="project name (or id)")
        parser.add_argument("--limit", type=int, default=None, help="fetch at most N images this time")

    def handle(self, *args, **options):
        project = project_by_name_or_id(options["project"])
        if options["limit"] is not None and options["limit"] < 1:
            raise CommandError("--limit must be at least 1")
        total = remote_images(project).count() + remote_query_images(project).count()
        if not total:
            self.stdout.write(f"{project.name}: no remote images to fetch")
            return
        step = max(1, min(total, options["limit"] or total) // 20)

        def progress(done: int, of: int) -> None:
            if done % step == 0 or done == of:
                self.stdout.write(f"[{done}/{of}]")

        report = images_fetch_remote(project=project, limit=options["limit"], progress=progress)
        style = self.style.SUCCESS if not (report.failed or report.query_failed) else self.style.WARNING
        self.stdout.write(style(report.summary()))
