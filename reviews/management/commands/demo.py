"""`python manage.py demo`: a demo project through the whole pipeline, then the server.

Runs in the embedded mode (SQLite, in-process tasks, offline judge) with no set-up.
Safe to run again: every step is idempotent. It lives in `reviews`, the app on top of
the others, because it drives all of them.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from annotation.demo_data import write_demo_files
from annotation.demo_data.references import write_reference_files
from annotation.importers import products_import, queries_import, run_import
from annotation.models import Project, Role
from annotation.rulebook import preset_specs, rules_import
from annotation.services import membership_set, project_create
from judging.models import JudgeJob
from reviews.services.evaluate import run_evaluate, run_status

DEMO_PROJECT = "demo-fashion"
DEMO_PASSWORD = "qrelay-demo"
DEMO_USERS = [("lead", Role.LEAD), ("annotator", Role.ANNOTATOR)]
RUNS = [
    ("baseline", "run_baseline", "lexical ranker over titles only"),
    ("semantic", "run_semantic", "ranker over titles, brands, attributes, with DE/EN synonyms"),
]


class Command(BaseCommand):
    help = "Create the demo project (catalogue, queries, two runs, users) and serve the app on 127.0.0.1:8000."

    def add_arguments(self, parser):
        parser.add_argument("--no-serve", action="store_true", help="set up the demo data only")
        parser.add_argument("--addrport", default="127.0.0.1:8000")

    def handle(self, *args, **options):
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("database ready")
        project = Project.objects.filter(name=DEMO_PROJECT).first() or project_create(
            name=DEMO_PROJECT,
            scale="default",
            description="A small fashion catalogue with English and German queries and two search configurations.",
            locales=["en-GB", "de-DE"],
        )
        rules_import(project, preset_specs(project, "rair"))  # rule-aware judging, visible on the cards
        files = write_demo_files(settings.DATA_DIR / "demo")
        self.stdout.write(str(products_import(project=project, path=files["products"])))
        self.stdout.write(str(queries_import(project=project, path=files["queries"])))
        for name, key, description in RUNS:
            self.stdout.write(str(run_import(project=project, run_name=name, path=files[key], description=description)))
        # A few queries with reference images (MERIT), added to both runs.
        references = write_reference_files(settings.DATA_DIR / "demo")
        self.stdout.write(str(queries_import(project=project, path=references["queries"])))
        for name, key, _ in RUNS:
            self.stdout.write(str(run_import(project=project, run_name=name, path=references[key])))
        self._judge(project)
        self._users(project)
        self.stdout.write(self.style.SUCCESS(f"demo project {project.name!r} is ready"))
        self.stdout.write(
            "log in at http://{} as {} (password: {})".format(
                options["addrport"], " or ".join(name for name, _ in DEMO_USERS), DEMO_PASSWORD
            )
        )
        if not options["no_serve"]:
            # --insecure: serve static files without DEBUG, as the embedded mode has no web server.
            call_command("runserver", options["addrport"], insecure_serving=True, use_reloader=False)

    def _judge(self, project):
        """Evaluate each run: judge its holes with the offline baseline, then route the
        pairs (auto-accept as gold, or a review task with its reasons)."""
        for run in project.runs.order_by("name"):
            job = run_evaluate(run=run)
            job.refresh_from_db()
            if job.status != JudgeJob.Status.DONE:
                self.stderr.write(f"judging {run.name} is {job.status}: {job.error}")
                continue
            status = run_status(run)
            self.stdout.write(
                f"run {run.name}: {job.done} judged by the offline baseline ({job.cached} cached); "
                f"{status.get('gold_llm-auto', 0)} auto-accepted, {status['in_review']} in review"
            )

    def _users(self, project):
        users = get_user_model().objects
        for username, role in DEMO_USERS:
            if not users.filter(username=username).exists():
                users.create_user(username=username, password=DEMO_PASSWORD)
            membership_set(project=project, username=username, role=role)
