"""What the broker still holds: the one place that knows queued work exists.

Shared by the two stall checks (judging/watchdog.py, annotation/importers/stall.py): a
job that has been silent or queued for a long time may only be waiting behind other
queued work (one queue carries judge chunks and imports alike), and must not then be
taken for lost. It lives in config, below both apps, since annotation cannot import
judging."""

from celery import current_app
from django.conf import settings


def broker_backlog() -> int:
    """Messages waiting in the task queue for a worker (0 when tasks run in-process).

    Messages a worker has already taken are not counted."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return 0
    with current_app.connection_for_read() as connection:
        try:
            declared = connection.default_channel.queue_declare(queue=settings.CELERY_TASK_DEFAULT_QUEUE, passive=True)
        except connection.channel_errors:
            return 0  # the queue does not exist (yet): nothing waits in it
        return declared.message_count
