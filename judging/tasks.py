"""Celery tasks: thin, take ids, call one service. The database records what is done;
tasks are acknowledged late and every write is idempotent."""

from celery import shared_task

from .jobs import judge_chunk_run, judge_job_launch
from .watchdog import judge_jobs_resume_stalled


@shared_task(acks_late=True, name="judging.launch_job")
def judge_job_launch_task(job_id: int) -> None:
    judge_job_launch(job_id=job_id)


@shared_task(bind=True, acks_late=True, max_retries=None, name="judging.judge_chunk")
def judge_chunk_task(self, chunk_id: int) -> None:
    # The retry count is kept on the chunk row (attempts), not in the message, so the
    # cap holds across re-deliveries after a worker is killed.
    outcome = judge_chunk_run(chunk_id=chunk_id)
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)


@shared_task(acks_late=True, name="judging.resume_stalled_jobs")
def judge_jobs_resume_stalled_task() -> None:
    judge_jobs_resume_stalled()
