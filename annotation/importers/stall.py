"""Imports that will never end on their own, marked failed with the reason (and their
stored upload removed) so that the lead knows to upload the file again:

- running: the process that ran the job was killed (OOM, deploy, restart), and nothing
  else ever finishes it. A running job with no sign of life (start, rows read) for
  QRELAY_IMPORT_STALL_MINUTES is marked failed, whatever the broker holds: its task was
  taken by a worker already. A job that was only slow (a long final transaction) and
  finishes after all still records its real outcome: the worker's last write overwrites
  the status.
- queued: its task message was lost (Redis as run here keeps nothing on disk: a restart
  or a flushed queue drops it), and only that message would start the job. A job queued
  for the stall time has its task sent once more; still queued a stall time after that,
  it is marked failed. Neither happens while the broker still holds queued messages
  (config/broker.py): imports share the queue with judge chunks, and behind a long judge
  job (hours of chunks) an import is waiting, not lost. Once the queue is empty, a job
  still queued has no message left to start it.

Why send once more before failing: a lost message is the likely cause, and sending it
again fixes that without a new upload. Sending is harmless when the first message was
only waiting (e.g. reserved by a worker still busy with another task): import_job_run
starts a job only while it is queued, so the second delivery does nothing. Why only
once: a job that a second message did not start either, with the queue empty, is not
going to start; waiting on would leave the lead looking at "queued" for ever.

In the embedded mode (tasks run in-process) the backlog is always 0.

Checked when a job's page or API is read and by the beat (annotation.fail_stalled_imports)."""

import logging
import shutil
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from annotation.models import ImportJob
from config.broker import broker_backlog

log = logging.getLogger(__name__)
Status = ImportJob.Status


def _minutes(minutes: int) -> str:
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def stall_reason(minutes: int) -> str:
    return (
        f"no progress for {_minutes(minutes)}: the worker importing it was probably "
        "stopped or restarted. Nothing was imported; upload the file again."
    )


def lost_reason(minutes: int) -> str:
    return (
        f"never started: still queued {_minutes(minutes)} after its task was sent again, with no task "
        "left waiting in the queue (the task was probably lost, e.g. in a broker restart). Nothing was "
        "imported; upload the file again."
    )


def import_jobs_fail_stalled(jobs: QuerySet[ImportJob] | None = None) -> list[int]:
    """Mark failed every job (of `jobs`, default all) that will not end on its own, and
    send again the task of a job queued for the stall time (queued jobs: only while no
    message waits in the broker); returns the ids failed."""
    minutes = settings.QRELAY_IMPORT_STALL_MINUTES
    now = timezone.now()
    cutoff = now - timedelta(minutes=minutes)
    jobs = jobs if jobs is not None else ImportJob.objects.all()
    # A running job from before touched_at existed counts from its creation.
    silent = Q(status=Status.RUNNING) & (Q(touched_at__lt=cutoff) | Q(touched_at__isnull=True, created_at__lt=cutoff))
    failed = _fail(jobs, silent, stall_reason(minutes), now)
    lost = Q(status=Status.QUEUED, requeued_at__lt=cutoff)
    unsent = Q(status=Status.QUEUED, requeued_at__isnull=True, created_at__lt=cutoff)
    # The broker is asked only when a queued job is overdue, not on every status read.
    if not jobs.filter(lost | unsent).exists():
        return failed
    waiting = broker_backlog()
    if waiting:
        # Queued messages still wait for a worker: an overdue job's may be among them.
        log.info("import stall check: %s messages wait in the broker; queued imports left waiting", waiting)
        return failed
    failed += _fail(jobs, lost, lost_reason(minutes), now)
    _requeue(jobs.filter(unsent), now)
    return failed


def _fail(jobs: QuerySet[ImportJob], condition: Q, reason: str, now: datetime) -> list[int]:
    failed = []
    for job in list(jobs.filter(condition).only("id", "stored_path")):
        # The condition again: the worker may have started or finished it meanwhile.
        updated = ImportJob.objects.filter(condition, pk=job.pk).update(
            status=Status.FAILED, error=reason, finished_at=now, stored_path=""
        )
        if not updated:
            continue
        folder = Path(job.stored_path).parent
        if len(folder.parts) == 2 and folder.parts[0] == "imports":  # imports/<random>/, never more
            shutil.rmtree(Path(settings.MEDIA_ROOT) / folder, ignore_errors=True)
        log.warning("import job %s marked failed: %s", job.pk, reason)
        failed.append(job.pk)
    return failed


def _requeue(queued: QuerySet[ImportJob], now: datetime) -> None:
    from annotation.tasks import import_job_run_task  # tasks import this module

    for job_id in list(queued.values_list("id", flat=True)):
        # Conditional, so two checks at once never both send it.
        if ImportJob.objects.filter(pk=job_id, status=Status.QUEUED, requeued_at__isnull=True).update(requeued_at=now):
            log.warning("import job %s still queued after the stall time: its task is sent again", job_id)
            transaction.on_commit(partial(import_job_run_task.delay, job_id))
