"""`python manage.py evaluate --project P [--run R | --pairs labelled|all]`: what the run
page's Evaluate button does, from the command line: route what is judged already, judge the
holes, route them, and print where the pairs went."""

from collections import Counter

from django.core.management.base import CommandError

from annotation.management.commands._base import project_by_name_or_id
from annotation.models import Pair
from judging.jobs import JobError, judge_job_create
from judging.management.commands.judge import Command as JudgeCommand
from reviews.models import ReviewTask
from reviews.selectors import REASON_NAMES
from reviews.services.evaluate import run_evaluate
from reviews.services.route import route_pairs

ROUTE_TASK = "reviews.route_job"


class Command(JudgeCommand):
    help = """Evaluate a project's runs as the run page's Evaluate button does: pairs judged
already are routed (gold by the LLM, or a review task with its reason), the holes are judged
and routed when their job ends, then the routing summary is printed. Without runs, or with
--pairs labelled|all, the project's (labelled) pairs are evaluated the same way."""

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument("--run", help="evaluate this run (default: every run of the project)")
        parser.add_argument("--pairs", choices=("runs", "labelled", "all"), help="as for `judge`")

    def handle(self, *args, **options):
        project = project_by_name_or_id(options["project"])
        runs, pair_ids = self.chosen_pairs(project, options)
        if pair_ids is not None:
            route_pairs(project=project, pair_ids=pair_ids)
            try:
                job = judge_job_create(project=project, pair_ids=pair_ids, holes_only=True, on_done=ROUTE_TASK)
            except JobError as exc:
                raise CommandError(str(exc)) from None
            self._evaluated(f"{len(pair_ids)} pairs of {project.name}", job.id, pair_ids)
        for run in runs:
            try:
                job = run_evaluate(run=run)
            except JobError as exc:
                raise CommandError(f"run {run.name}: {exc}") from None
            run_pairs = list(Pair.objects.filter(results__run=run).values_list("id", flat=True).distinct())
            self._evaluated(f"run {run.name}", job.id, run_pairs)

    def _evaluated(self, what: str, job_id: int, pair_ids: list[int]) -> None:
        self.stdout.write(f"{what}: judging the holes (job {job_id})")
        self._watch(job_id)
        pairs = Pair.objects.filter(id__in=pair_ids)
        gold = Counter(pairs.exclude(gold_value__isnull=True).values_list("gold_provenance", flat=True))
        waiting = Counter(
            ReviewTask.objects.filter(
                pair_id__in=pair_ids, status__in=[ReviewTask.Status.OPEN, ReviewTask.Status.CLAIMED]
            ).values_list("reason", flat=True)
        )
        unsettled = len(pair_ids) - sum(gold.values())
        self.stdout.write(f"{what}: {len(pair_ids)} pair(s)")
        for provenance, count in sorted(gold.items()):
            self.stdout.write(f"  gold ({provenance}): {count}")
        in_review = pairs.filter(
            gold_value__isnull=True, review_tasks__status__in=[ReviewTask.Status.OPEN, ReviewTask.Status.CLAIMED]
        )
        self.stdout.write(f"  waiting for reviewers: {in_review.distinct().count()} pair(s)")
        for reason, count in waiting.most_common():
            self.stdout.write(f"    {count} task(s): {REASON_NAMES.get(reason, reason)}")
        self.stdout.write(f"  neither gold nor in review: {unsettled - in_review.distinct().count()} pair(s)")
