"""How a job ends: done (then the on_done task takes over), failed or, through
judge_job_cancel, cancelled; each keeps on its row what it paid for."""

from celery import current_app
from django.db import transaction
from django.utils import timezone

from ..models import JudgeJob
from .figures import job_usage
from .sending import in_process


def store_usage(job_id: int) -> None:
    """Keep what an ended job paid for on the job row (cancelled and failed jobs too)."""
    usage = job_usage(JudgeJob.objects.get(id=job_id))
    JudgeJob.objects.filter(id=job_id).update(
        calls=usage["calls"], tokens_in=usage["tokens_in"], tokens_out=usage["tokens_out"], cost_eur=usage["cost_eur"]
    )


def job_fail(job_id: int, error: str) -> None:
    if JudgeJob.objects.filter(id=job_id, status__in=JudgeJob.ACTIVE).update(
        status=JudgeJob.Status.FAILED, error=error[:2000], finished_at=timezone.now()
    ):
        store_usage(job_id)


def job_finish_if_complete(job_id: int) -> None:
    job = JudgeJob.objects.get(id=job_id)
    if job.status == JudgeJob.Status.RUNNING and job.chunks_done >= job.chunks_total:
        job_finish(job_id)


def job_finish(job_id: int) -> None:
    usage = job_usage(JudgeJob.objects.get(id=job_id))
    changed = JudgeJob.objects.filter(id=job_id, status__in=JudgeJob.ACTIVE).update(
        status=JudgeJob.Status.DONE,
        finished_at=timezone.now(),
        calls=usage["calls"],
        tokens_in=usage["tokens_in"],
        tokens_out=usage["tokens_out"],
        cost_eur=usage["cost_eur"],
    )
    job = JudgeJob.objects.get(id=job_id)
    if changed and job.on_done:
        # The app that asked for the job (e.g. reviews routing) takes over by task name,
        # so judging never imports it.
        transaction.on_commit(lambda: _send_on_done(job))


def _send_on_done(job: JudgeJob) -> None:
    if in_process():
        # send_task bypasses eager execution; the embedded mode runs the task here,
        # after loading every app's tasks module (autodiscovery is lazy outside workers).
        current_app.loader.import_default_modules()
        current_app.tasks[job.on_done].apply(args=[job.id])
    else:
        current_app.send_task(job.on_done, args=[job.id])
