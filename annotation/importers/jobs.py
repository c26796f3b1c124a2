"""Imports of uploaded files, by kind: run now (small files, during the request) or as an
ImportJob that the worker runs (large files), with progress written as rows are read.

The upload is written to MEDIA_ROOT/imports/<random>/ alone (product image paths are
relative to the file's folder, so an upload can never reach other files) and removed
when the job ends, whatever the outcome."""

import shutil
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from annotation.models import ImportJob, LabelSource, Project, SearchRun

from .catalogue import products_import, queries_import
from .errors import ImportFailed
from .pairs import labels_import, run_import
from .summary import ImportSummary

Kind = ImportJob.Kind
# Problems kept on a failed job (the API lists up to this many, as for a synchronous upload).
JOB_PROBLEMS_KEPT = 1000


def import_file(*, kind: str, project: Project, path: Path, options: dict[str, Any], progress=None) -> ImportSummary:
    """Import one file of a kind with the options an upload gave (format, run_id, rater, gold)."""
    fmt = options.get("format")
    if kind == Kind.PRODUCTS:
        return products_import(project=project, path=path, fmt=fmt, progress=progress)
    if kind == Kind.QUERIES:
        return queries_import(project=project, path=path, fmt=fmt, progress=progress)
    if kind == Kind.RUN:
        run = SearchRun.objects.get(pk=options["run_id"], project=project)
        return run_import(project=project, run_name=run.name, path=path, fmt=fmt, progress=progress)
    if kind == Kind.LABELS:
        return labels_import(
            project=project,
            path=path,
            rater=options.get("rater"),
            gold=bool(options.get("gold")),
            source=LabelSource.HUMAN,
            fmt=fmt,
            progress=progress,
        )
    raise ValueError(f"unknown import kind {kind!r}")


def summary_dict(summary: ImportSummary) -> dict[str, Any]:
    return {"file": summary.file, "rows": summary.rows, "counts": summary.counts, "notes": summary.notes}


def import_job_create(
    *, project: Project, kind: str, upload, file_name: str, options: dict[str, Any], user=None
) -> ImportJob:
    """Save the upload (chunk by chunk: never whole in memory) and queue its import."""
    folder = Path("imports") / uuid.uuid4().hex
    target = Path(settings.MEDIA_ROOT) / folder / file_name
    target.parent.mkdir(parents=True)
    with target.open("wb") as handle:
        for chunk in upload.chunks():
            handle.write(chunk)
    job = ImportJob.objects.create(
        project=project,
        kind=kind,
        file_name=file_name,
        stored_path=str(folder / file_name),
        size=target.stat().st_size,
        options=options,
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )
    from annotation.tasks import import_job_run_task

    # In embedded mode (tasks eager) this runs the import right here.
    transaction.on_commit(lambda: import_job_run_task.delay(job.id))
    return job


class _ProgressWriter:
    """Writes rows_done on a connection of its own: the import's transaction is open until
    the end, and nothing it writes is visible before. PostgreSQL only (SQLite would lock);
    at most about once a second."""

    def __init__(self, job_id: int):
        self.job_id = job_id
        self.conn: BaseDatabaseWrapper | None = None
        self.last = 0.0

    def __call__(self, rows: int) -> None:
        if connection.vendor != "postgresql" or time.monotonic() - self.last < 1.0:
            return
        self.last = time.monotonic()
        if self.conn is None:
            wrapper = connections[DEFAULT_DB_ALIAS]
            self.conn = type(wrapper)(dict(wrapper.settings_dict), DEFAULT_DB_ALIAS)
        with self.conn.cursor() as cursor:
            # touched_at: a sign of life for the stall check (annotation/importers/stall.py).
            cursor.execute(
                f"UPDATE {ImportJob._meta.db_table} SET rows_done = %s, touched_at = %s WHERE id = %s",
                [rows, timezone.now(), self.job_id],
            )

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def import_job_run(*, job_id: int) -> None:
    """Run a queued job once: a second delivery of its task finds it no longer queued."""
    started = ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.QUEUED).update(
        status=ImportJob.Status.RUNNING, touched_at=timezone.now()
    )
    if not started:
        return
    job = ImportJob.objects.select_related("project").get(pk=job_id)
    path = Path(settings.MEDIA_ROOT) / job.stored_path
    progress = _ProgressWriter(job.id)
    fields: dict[str, Any] = {"finished_at": None}
    try:
        summary = import_file(kind=job.kind, project=job.project, path=path, options=job.options, progress=progress)
    except ImportFailed as exc:
        fields.update(
            status=ImportJob.Status.FAILED,
            problems=[asdict(problem) for problem in exc.problems[:JOB_PROBLEMS_KEPT]],
            problem_count=exc.total,
        )
    except Exception as exc:
        fields.update(status=ImportJob.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000])
        _finish(job, path, fields)
        raise
    else:
        fields.update(status=ImportJob.Status.DONE, summary=summary_dict(summary), rows_done=summary.rows)
    finally:
        progress.close()
    _finish(job, path, fields)


def _finish(job: ImportJob, path: Path, fields: dict[str, Any]) -> None:
    fields.update(finished_at=timezone.now(), stored_path="")
    ImportJob.objects.filter(pk=job.pk).update(**fields)
    shutil.rmtree(path.parent, ignore_errors=True)
