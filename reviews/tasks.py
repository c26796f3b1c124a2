"""Celery tasks of the review side: thin, take ids, call one service."""

from celery import shared_task

from .repeat import repeat_due, repeat_fetch
from .services import route_job


@shared_task(acks_late=True, name="reviews.route_job")
def route_job_task(job_id: int) -> None:
    # Called by name when a judge job started by "evaluate run" is done (judging never
    # imports reviews). Routing is idempotent: pairs with gold or live tasks are skipped.
    route_job(job_id=job_id)


# --- "Repeat" (reviews/repeat.py) ------------------------------------------------------


@shared_task(acks_late=True, name="reviews.repeat_due")
def repeat_due_task() -> None:
    # Sent by celery beat every QRELAY_REPEAT_BEAT_SECONDS (config/celery.py).
    repeat_due()


@shared_task(acks_late=True, name="reviews.repeat_fetch")
def repeat_fetch_task(snapshot_id: int) -> None:
    repeat_fetch(snapshot_id=snapshot_id)
