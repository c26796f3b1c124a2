"""The stall watchdog: active judge jobs that have shown no sign of life for a while get
their unfinished work enqueued again.

Why: the broker is the one place that knows a chunk still has to run, and Redis as run
here keeps nothing on disk. A broker restart (or a flushed queue) would leave a job
"running" for ever. Re-enqueueing is safe because every step is idempotent: a chunk turns
done exactly once, and re-delivered work finds the results already written.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from config.broker import broker_backlog

from .jobs import judge_job_resume
from .models import JudgeJob

log = logging.getLogger(__name__)


@dataclass
class Resumed:
    """One stalled job the watchdog tried to resume: what it enqueued, or why it failed."""

    job_id: int
    what: str = ""
    error: str = ""


def judge_jobs_resume_stalled(*, stall: timedelta | None = None) -> list[int]:
    """Enqueue the unfinished work of every active job with no sign of life for `stall`
    (default QRELAY_JUDGE_STALL_SECONDS); returns the ids of the jobs resumed."""
    return [entry.job_id for entry in judge_jobs_resume_report(stall=stall) if not entry.error]


def judge_jobs_resume_report(*, stall: timedelta | None = None) -> list[Resumed]:
    """judge_jobs_resume_stalled, with a line per job. A job that fails to resume does
    not keep the others from being resumed: its error is reported with it."""
    waiting = broker_backlog()
    if waiting:
        # Queued work still waits for a worker: a job's silence may be the backlog, and
        # enqueueing its chunks again would run them twice (twice the LLM cost).
        log.info("judge watchdog: %s messages wait in the broker; nothing resumed", waiting)
        return []
    now = timezone.now()
    cutoff = now - (stall if stall is not None else timedelta(seconds=settings.QRELAY_JUDGE_STALL_SECONDS))
    report = []
    candidates = JudgeJob.objects.filter(status__in=JudgeJob.ACTIVE, created_at__lt=cutoff).annotate(
        last_chunk=Max("chunks__touched_at")
    )
    for job in list(candidates.order_by("id")):
        last_sign = max(t for t in (job.created_at, job.started_at, job.last_chunk) if t is not None)
        if last_sign >= cutoff:
            continue
        try:
            # In the embedded mode this runs the job's work here and now.
            what = judge_job_resume(job_id=job.id)
        except Exception as exc:
            log.exception("judge job %s could not be resumed", job.id)
            report.append(Resumed(job.id, error=f"{type(exc).__name__}: {exc}"))
            continue
        log.warning(
            "judge job %s showed no sign of life since %s: enqueued %s again", job.id, last_sign.isoformat(), what
        )
        report.append(Resumed(job.id, what=what))
    return report
