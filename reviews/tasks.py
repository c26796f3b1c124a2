"""Celery tasks of the review side: thin, take ids, call one service."""

from celery import shared_task

from annotation.models import Project

from .dashboard.snapshot import dashboard_refresh
from .repeat.services import repeat_due, repeat_fetch
from .services.reroute import reroute_run
from .services.route import route_job


@shared_task(acks_late=True, name="reviews.route_job")
def route_job_task(job_id: int) -> None:
    # Called by name when a judge job started by "evaluate run" is done (judging never
    # imports reviews). Routing is idempotent: pairs with gold or live tasks are skipped.
    route_job(job_id=job_id)


@shared_task(acks_late=True, name="reviews.dashboard_refresh")
def dashboard_refresh_task(project_id: int, part: str, options: dict | None = None) -> None:
    # Recomputing is idempotent: a redelivered task stores the same snapshot again.
    # `options` are an API read's (the page's parts have none).
    project = Project.objects.filter(id=project_id).first()
    if project is not None:
        dashboard_refresh(project=project, part=part, options=options)


# --- "Repeat" (reviews/repeat/services.py) --------------------------------------------


@shared_task(acks_late=True, name="reviews.repeat_due")
def repeat_due_task() -> None:
    # Sent by celery beat every QRELAY_REPEAT_BEAT_SECONDS (config/settings.py).
    repeat_due()


@shared_task(acks_late=True, name="reviews.repeat_fetch")
def repeat_fetch_task(snapshot_id: int) -> None:
    repeat_fetch(snapshot_id=snapshot_id)


# --- rerouting after a policy change (reviews/services/reroute.py) ---------------------


@shared_task(acks_late=True, name="reviews.reroute_job")
def reroute_job_task(job_id: int) -> None:
    # Resumable: every batch commits with the job's cursor, so a redelivered task (or a
    # second one for the same job) carries on from the last committed batch.
    reroute_run(job_id)
