"""Runs: "evaluate run R" (route what is judged, judge the holes, route those once
judged) and where a run's pairs stand."""

from collections import Counter

from annotation.models import Pair, SearchRun
from judging.jobs import judge_job_create
from judging.models import JudgeJob

from ..models import ReviewTask
from .route import route_pairs


def unrouted_pair_ids(run: SearchRun) -> list[int]:
    """Pairs of the run that are judged but neither gold nor in review."""
    return list(
        Pair.objects.filter(results__run=run, judgments__isnull=False, gold_value__isnull=True)
        .exclude(review_tasks__status__in=[s for s in ReviewTask.Status if s != ReviewTask.Status.CANCELLED])
        .values_list("id", flat=True)
        .distinct()
    )


def run_evaluate(*, run: SearchRun, user=None) -> JudgeJob:
    """ "Evaluate run R": route what is judged already, judge the holes, route them when
    the job is done (the job calls reviews.route_job by task name)."""
    route_pairs(project=run.project, pair_ids=unrouted_pair_ids(run))
    return judge_job_create(project=run.project, run=run, holes_only=True, user=user, on_done="reviews.route_job")


def run_status(run: SearchRun) -> dict[str, int]:
    """Where the run's pairs stand: unjudged, in review, gold by provenance."""
    pairs = Pair.objects.filter(results__run=run).distinct()
    total = pairs.count()
    judged = pairs.filter(judgments__isnull=False).distinct().count()
    in_review = (
        pairs.filter(
            review_tasks__status__in=[ReviewTask.Status.OPEN, ReviewTask.Status.CLAIMED], gold_value__isnull=True
        )
        .distinct()
        .count()
    )
    gold = Counter(pairs.exclude(gold_value__isnull=True).values_list("gold_provenance", flat=True))
    return {
        "total": total,
        "judged": judged,
        "unjudged": total - judged,
        "in_review": in_review,
        **{f"gold_{k}": v for k, v in gold.items()},
    }
