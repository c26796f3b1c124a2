"""The stall watchdog: active judge jobs that have shown no sign of life for a while get
their unfinished work enqueued again.

Why: the broker is the one place that knows a chunk still has to run, and Redis as run
here keeps nothing on disk. A broker restart (or a flushed queue) would leave a job
"running" for ever. Re-enqueueing is safe because every step is idempotent: a chunk turns
done exactly once, and re-delivered work finds the results already written.
"""

import logging
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from . import jobs
from .models import JudgeChunk, JudgeJob

log = logging.getLogger(__name__)


def broker_backlog() -> int:
    """Messages waiting in the task queue (0 when tasks run in-process)."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return 0
    with current_app.connection_for_read() as connection:
        try:
            declared = connection.default_channel.queue_declare(queue=settings.CELERY_TASK_DEFAULT_QUEUE, passive=True)
        except connection.channel_errors:
            return 0  # the queue does not exist (yet): nothing waits in it
        return declared.message_count


def judge_jobs_resume_stalled(*, stall: timedelta | None = None) -> list[int]:
    """Enqueue the unfinished work of every active job with no sign of life for `stall`
    (default QRELAY_JUDGE_STALL_SECONDS); returns the ids of the jobs resumed."""
    from .tasks import judge_job_launch_task

    waiting = broker_backlog()
    if waiting:
        # Queued work still waits for a worker: a job's silence may be the backlog, and
        # enqueueing its chunks again would run them twice (twice the LLM cost).
        log.info("judge watchdog: %s messages wait in the broker; nothing resumed", waiting)
        return []
    now = timezone.now()
    cutoff = now - (stall if stall is not None else timedelta(seconds=settings.QRELAY_JUDGE_STALL_SECONDS))
    resumed = []
    candidates = JudgeJob.objects.filter(status__in=JudgeJob.ACTIVE, created_at__lt=cutoff).annotate(
        last_chunk=Max("chunks__touched_at")
    )
    for job in candidates.order_by("id"):
        last_sign = max(t for t in (job.created_at, job.started_at, job.last_chunk) if t is not None)
        if last_sign >= cutoff:
            continue
        pending = JudgeChunk.objects.filter(job=job, done=False)
        unfinished = pending.count()
        if not job.chunks.exists():
            what = "launch"  # the launch message itself was lost
            judge_job_launch_task.delay_on_commit(job.id)
        elif unfinished:
            what = f"{unfinished} unfinished chunks"
            # Counts as a sign of life: the next tick waits a whole `stall` again.
            pending.update(touched_at=now)
            jobs._enqueue_pending(job)
        else:
            what = "the finish"  # every chunk is done; the worker died before finishing the job
            jobs._job_finish_if_complete(job.id)
        log.warning(
            "judge job %s showed no sign of life since %s: enqueued %s again", job.id, last_sign.isoformat(), what
        )
        resumed.append(job.id)
    return resumed
