"""Imports whose worker died: a job stays "running" when the process that ran it was
killed (OOM, deploy, restart), since nothing else ever finishes it. A running job with no
sign of life (start, rows read) for QRELAY_IMPORT_STALL_MINUTES is marked failed with that
reason, and its stored upload is removed.

Checked when a job's page or API is read and by the beat (annotation.fail_stalled_imports).
A job that was only slow (a long final transaction) and finishes after all still records
its real outcome: the worker's last write overwrites the status."""

import logging
import shutil
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from annotation.models import ImportJob

log = logging.getLogger(__name__)


def stall_reason(minutes: int) -> str:
    return (
        f"no progress for {minutes} minute{'s' if minutes != 1 else ''}: the worker importing it was probably "
        "stopped or restarted. Nothing was imported; upload the file again."
    )


def import_jobs_fail_stalled(jobs: QuerySet[ImportJob] | None = None) -> list[int]:
    """Mark failed every running job (of `jobs`, default all) silent for the stall time;
    returns their ids."""
    minutes = settings.QRELAY_IMPORT_STALL_MINUTES
    now = timezone.now()
    cutoff = now - timedelta(minutes=minutes)
    # A job from before touched_at existed counts from its creation.
    silent = Q(touched_at__lt=cutoff) | Q(touched_at__isnull=True, created_at__lt=cutoff)
    candidates = (jobs if jobs is not None else ImportJob.objects.all()).filter(silent, status=ImportJob.Status.RUNNING)
    failed = []
    for job in list(candidates.only("id", "stored_path")):
        # The status condition again: the worker may have finished it meanwhile.
        updated = ImportJob.objects.filter(silent, pk=job.pk, status=ImportJob.Status.RUNNING).update(
            status=ImportJob.Status.FAILED, error=stall_reason(minutes), finished_at=now, stored_path=""
        )
        if not updated:
            continue
        folder = Path(job.stored_path).parent
        if len(folder.parts) == 2 and folder.parts[0] == "imports":  # imports/<random>/, never more
            shutil.rmtree(Path(settings.MEDIA_ROOT) / folder, ignore_errors=True)
        log.warning("import job %s made no progress for %s minutes: marked failed", job.pk, minutes)
        failed.append(job.pk)
    return failed
