"""Celery tasks of the annotation app: thin, take ids, call one service."""

from celery import shared_task

from .importers.jobs import import_job_run
from .importers.stall import import_jobs_fail_stalled


# Not acks_late: an import can outlast the broker's visibility timeout, and a second
# delivery must not start it again (import_job_run also runs a job only once).
@shared_task(name="annotation.import_job_run", time_limit=6 * 3600, soft_time_limit=6 * 3600 - 30)
def import_job_run_task(job_id: int) -> None:
    import_job_run(job_id=job_id)


@shared_task(name="annotation.fail_stalled_imports")
def import_jobs_fail_stalled_task() -> None:
    import_jobs_fail_stalled()
