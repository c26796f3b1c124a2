"""A job's figures from the stored rows: what it paid for, when it should end, and
which jobs a project's list shows."""

from datetime import timedelta
from decimal import Decimal

from django.db.models import Q, Sum
from django.utils import timezone

from annotation.models import Project

from ..models import Guideline, ImageDescription, JudgeJob, Judgment, PrepFailure


def job_usage(job: JudgeJob) -> dict:
    """Calls, tokens and cost of everything this job paid for, from the stored rows (the
    failed guideline and description steps too)."""
    totals: dict[str, int | Decimal] = {"calls": 0, "tokens_in": 0, "tokens_out": 0, "cost_eur": Decimal(0)}
    for model in (Judgment, Guideline, ImageDescription, PrepFailure):
        agg = model.objects.filter(job=job).aggregate(
            calls=Sum("calls"), tokens_in=Sum("tokens_in"), tokens_out=Sum("tokens_out"), cost_eur=Sum("cost_eur")
        )
        for key in totals:
            totals[key] += agg[key] or 0
    return totals


def job_eta(job: JudgeJob) -> timedelta | None:
    if job.status != JudgeJob.Status.RUNNING or not job.started_at or not job.processed:
        return None
    elapsed = timezone.now() - job.started_at
    remaining = job.total - job.processed
    return elapsed / job.processed * remaining


def project_jobs(project: Project):
    return JudgeJob.objects.filter(project=project).exclude(Q(status=JudgeJob.Status.DONE) & Q(total=0))
