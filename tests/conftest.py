"""Shared test setup. Tests run against real PostgreSQL and Redis (see Makefile `test`)."""

import pytest
from django.conf import settings


def pytest_configure(config):
    # The brief: never SQLite, never eager Celery in tests.
    engine = settings.DATABASES["default"]["ENGINE"]
    if engine != "django.db.backends.postgresql":
        raise pytest.UsageError("tests need DATABASE_URL pointing at PostgreSQL (use `make test`)")
    if settings.CELERY_TASK_ALWAYS_EAGER:
        raise pytest.UsageError("tests need CELERY_BROKER_URL pointing at Redis (use `make test`)")


@pytest.fixture(autouse=True)
def _media_root(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def _fresh_api_throttles(monkeypatch):
    """API throttle counts live in the shared cache (Redis), keyed by user id: ids repeat
    across test sessions, so each test counts in a cache of its own."""
    from django.core.cache.backends.locmem import LocMemCache
    from rest_framework.throttling import SimpleRateThrottle

    monkeypatch.setattr(SimpleRateThrottle, "cache", LocMemCache("throttles", {}))
