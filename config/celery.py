import os

from celery import Celery

from .env import env_int

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("qrelay")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# `celery -A config beat` sends these (docs/connectors.md). The embedded mode runs no beat.
_REPEAT_SECONDS = env_int("QRELAY_REPEAT_BEAT_SECONDS", 60, minimum=5)
app.conf.beat_schedule = {
    "repeat-due": {
        "task": "reviews.repeat_due",
        "schedule": float(_REPEAT_SECONDS),
        # A beat sent while no worker was up is dropped, not replayed in a burst.
        "options": {"expires": float(_REPEAT_SECONDS)},
    },
}
