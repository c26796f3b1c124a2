"""How a job's work gets run: as Celery messages to the workers or, in the embedded mode
(no broker: CELERY_TASK_ALWAYS_EAGER), as calls in this process.

Both run the same task bodies, and a chunk that asks for a retry gets the same delay and
cap either way (outcome.retry_delay; the attempts, capped by QRELAY_JUDGE_CHUNK_RETRIES,
are counted on the chunk row): a worker through Celery's countdown, this process by
waiting. Celery's own eager mode would raise its Retry exception out of the task instead,
leaving the job running and the caller (`judge`, `resume_jobs`, the run page) with a
traceback.
"""

import time

from django.conf import settings
from django.db import transaction

sleep = time.sleep  # the tests record the waits instead


def in_process() -> bool:
    # Read at call time: a test can switch it for one test.
    return settings.CELERY_TASK_ALWAYS_EAGER


def send_launch(job_id: int) -> None:
    """Launch the job once the current transaction commits."""
    if in_process():
        from .launch import judge_job_launch

        transaction.on_commit(lambda: judge_job_launch(job_id=job_id))
        return
    from ..tasks import judge_job_launch_task  # tasks import this package

    judge_job_launch_task.delay_on_commit(job_id)


def send_chunk(chunk_id: int) -> None:
    if in_process():
        judge_chunk_run_in_process(chunk_id=chunk_id)
        return
    from ..tasks import judge_chunk_task  # tasks import this package

    judge_chunk_task.delay(chunk_id)


def judge_chunk_run_in_process(*, chunk_id: int) -> None:
    """Run a chunk to its end in this process. An attempt that asks for a retry waits its
    delay first, as the worker's countdown would; the last attempt the cap allows
    completes the chunk, counting the pairs that still failed, with their reason."""
    from .chunks import judge_chunk_run

    while (outcome := judge_chunk_run(chunk_id=chunk_id)).retry_in is not None:
        sleep(outcome.retry_in)
