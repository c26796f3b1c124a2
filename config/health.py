"""`GET /healthz` for load balancers: 200 when the database answers, the broker answers and
a worker replied to a ping in time; 503 naming what failed. No login, no details beyond
ok/failed per part (nothing an outsider could use)."""

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def _broker_and_worker() -> tuple[str, str]:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "in-process", "in-process"  # embedded mode: tasks run in the web process
    from config.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=settings.QRELAY_HEALTH_TIMEOUT)
    replies = app.control.ping(timeout=settings.QRELAY_HEALTH_TIMEOUT)
    return "ok", "ok" if replies else "no worker answered"


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    parts: dict[str, str] = {}
    try:
        parts["database"] = _database()
    except Exception:
        parts["database"] = "failed"
    try:
        parts["broker"], parts["worker"] = _broker_and_worker()
    except Exception:
        parts["broker"], parts["worker"] = "failed", "unknown"
    healthy = all(value in ("ok", "in-process") for value in parts.values())
    return JsonResponse({"status": "ok" if healthy else "failed", **parts}, status=200 if healthy else 503)
