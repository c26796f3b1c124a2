"""Reads of judging data that views and the API share. Every entry point starts from
annotation's project-scoped helpers, so a foreign id is a 404 rather than a leak."""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Sum
from django.shortcuts import get_object_or_404

from annotation.access import project_for_user
from annotation.label_keys import label_keys
from annotation.models import (
    Label,
    Pair,
    ProductImage,
    Project,
    SearchRun,
)

from .jobs import job_eta, job_usage, project_jobs
from .models import (
    Backend,
    Guideline,
    ImageDescription,
    JudgeConfig,
    JudgeJob,
    Judgment,
    PrepFailure,
)
from .offline import OFFLINE_MODEL
from .services import current_guidelines, models_for

JOBS_PER_PAGE = 50
USAGE_FIELDS = ("calls", "tokens_in", "tokens_out", "cost_eur")


def job_for_user(user, project_id: int, job_id: int) -> JudgeJob:
    project = project_for_user(user, project_id)
    return get_object_or_404(JudgeJob.objects.select_related("project", "run"), pk=job_id, project=project)


def pair_for_user(user, project_id: int, pair_id: int) -> Pair:
    project = project_for_user(user, project_id)
    return get_object_or_404(Pair.objects.select_related("project", "query", "product"), pk=pair_id, project=project)


def latest_run_job(run: SearchRun) -> JudgeJob | None:
    # A job over zero pairs (nothing left to judge) says nothing about the run's judging.
    jobs = JudgeJob.objects.filter(run=run).exclude(status=JudgeJob.Status.DONE, total=0)
    return jobs.order_by("-created_at", "-id").first()


def run_has_active_job(run: SearchRun) -> bool:
    return JudgeJob.objects.filter(run=run, status__in=JudgeJob.ACTIVE).exists()


def usage_by_job(job_ids) -> dict[int, dict]:
    """Calls, tokens and cost per job, summed over everything each job paid for (the
    same rows as judging.jobs.job_usage), in three grouped queries for any number of jobs."""
    ids = list(job_ids)
    totals: dict[int, dict[str, int | Decimal]] = {
        job_id: {"calls": 0, "tokens_in": 0, "tokens_out": 0, "cost_eur": Decimal(0)} for job_id in ids
    }
    if not ids:
        return totals
    for model in (Judgment, Guideline, ImageDescription, PrepFailure):
        rows = (
            model.objects.filter(job_id__in=ids)
            .order_by()
            .values("job_id")
            .annotate(**{field: Sum(field) for field in USAGE_FIELDS})
        )
        for row in rows:
            sums: dict[str, Any] = dict(row)  # job_id and the annotated sums
            for field in USAGE_FIELDS:
                totals[sums["job_id"]][field] += sums[field] or 0
    return totals


@dataclass(frozen=True)
class JobFigures:
    """What a job cost so far: the stored totals once it is done (jobs/finish.py writes
    them), the rows it paid for until then. Cancelled and failed jobs never get stored
    totals, so they are summed from the rows too."""

    calls: int
    tokens_in: int
    tokens_out: int
    cost_eur: Decimal
    eta: timedelta | None

    @property
    def eta_seconds(self) -> int | None:
        return None if self.eta is None else max(0, round(self.eta.total_seconds()))


def job_figures(job: JudgeJob, usage: dict | None = None) -> JobFigures:
    if job.status == JudgeJob.Status.DONE:
        values = {field: getattr(job, field) for field in USAGE_FIELDS}
    else:
        values = usage if usage is not None else job_usage(job)
    return JobFigures(eta=job_eta(job), **{field: values[field] for field in USAGE_FIELDS})


def jobs_with_figures(jobs) -> list[tuple[JudgeJob, JobFigures]]:
    jobs = list(jobs)
    usage = usage_by_job(job.id for job in jobs if job.status != JudgeJob.Status.DONE)
    return [(job, job_figures(job, usage.get(job.id))) for job in jobs]


def jobs_page(project: Project, *, page: int) -> Page:
    """A page of the project's jobs, newest first, each as (job, figures)."""
    jobs = project_jobs(project).select_related("run", "created_by").order_by("-created_at", "-id")
    result = Paginator(jobs, JOBS_PER_PAGE).get_page(page)
    result.object_list = jobs_with_figures(result.object_list)
    return result


@dataclass(frozen=True)
class JudgeSetup:
    backend: str
    backend_label: str
    mode: str
    model: str

    @property
    def offline(self) -> bool:
        return self.backend == Backend.OFFLINE


def judge_setup(config: JudgeConfig) -> JudgeSetup:
    return JudgeSetup(
        backend=config.backend,
        backend_label=config.get_backend_display(),
        mode=config.mode,
        model=models_for(config)["judge"],
    )


def pair_details(pair: Pair) -> dict:
    """Everything the pair page shows, in a fixed number of queries."""
    project = pair.project
    shown = label_keys(project)  # labels by key and name, never by stored value
    images = list(pair.product.images.order_by("position"))
    # Any: the instances get attributes for the template below (shown, offline, details).
    labels: list[Any] = list(Label.objects.filter(pair=pair).select_related("user").order_by("created_at", "id"))
    judgments: list[Any] = list(
        Judgment.objects.filter(pair=pair).select_related("guideline").order_by("-created_at", "-id")
    )
    judgment_by_label = {j.label_id: j for j in judgments if j.label_id}
    for label in labels:
        label.shown = shown.get(label.value)
        label.offline = label.rater == OFFLINE_MODEL
        label.details = judgment_by_label.get(label.id)
    for judgment in judgments:
        judgment.shown = shown.get(judgment.value) if judgment.value is not None else None
        judgment.offline = judgment.model == OFFLINE_MODEL
    return {
        "guideline": current_guidelines([pair.query_id]).get(pair.query_id),
        "stored_images": [i for i in images if i.status == ProductImage.Status.STORED],
        "remote_image_count": sum(1 for i in images if i.status == ProductImage.Status.REMOTE),
        "gold_shown": shown.get(pair.gold_value) if pair.gold_value is not None else None,
        "labels": labels,
        "unlabelled_judgments": [j for j in judgments if not j.label_id],
    }
