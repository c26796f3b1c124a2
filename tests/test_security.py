"""Hardening that spans the apps: login throttling, password rules, API throttles, the
HTTPS switch, the Content-Security-Policy header, request logging and /healthz."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from rest_framework.throttling import UserRateThrottle

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "a-long-and-unusual-passphrase"


@pytest.fixture
def user(db):
    return get_user_model().objects.create_user("olivia", password=PASSWORD)


def login(client, username: str, password: str, address: str = "10.0.0.1"):
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def test_after_repeated_wrong_passwords_even_the_right_one_is_refused(client, user, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert login(client, "olivia", "wrong").status_code == 200  # the form again, with an error
    assert login(client, "olivia", "wrong").status_code == 429  # the last allowed failure locks

    refused = login(client, "olivia", PASSWORD)

    assert refused.status_code == 429
    assert b"Too many failed logins" in refused.content
    assert "_auth_user_id" not in client.session


def test_the_account_is_locked_from_other_addresses_too(client, user, settings):
    for n in range(settings.AXES_FAILURE_LIMIT):
        login(client, "olivia", "wrong", address=f"10.0.1.{n}")

    assert login(client, "olivia", PASSWORD, address="10.9.9.9").status_code == 429


def test_one_address_trying_many_accounts_is_locked(client, user, settings):
    for n in range(settings.AXES_FAILURE_LIMIT):
        login(client, f"someone-{n}", "wrong", address="10.0.2.1")

    assert login(client, "olivia", PASSWORD, address="10.0.2.1").status_code == 429
    assert login(client, "olivia", PASSWORD, address="10.0.2.2").status_code == 302


def test_a_successful_login_still_works_and_resets_the_count(client, user, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        login(client, "olivia", "wrong")
    assert login(client, "olivia", PASSWORD).status_code == 302
    client.logout()
    login(client, "olivia", "wrong")
    assert login(client, "olivia", PASSWORD).status_code == 302


@pytest.mark.parametrize("password", ["password123", "12345678901", "olivia2026"])
def test_common_numeric_and_name_like_passwords_are_refused(user, password):
    with pytest.raises(ValidationError):
        validate_password(password, user=user)


def test_a_strong_password_passes(user):
    validate_password("violet-harbour-74-kettle", user=user)


def test_the_api_throttles_a_user_beyond_the_rate(client, user, monkeypatch):
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "3/minute", "anon": "3/minute"})
    client.force_login(user)
    statuses = [client.get("/api/projects/").status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]


def test_every_page_carries_a_content_security_policy_without_inline_scripts(client, user):
    client.force_login(user)
    for url in ("/", "/accounts/login/", "/api/docs/"):
        policy = client.get(url)["Content-Security-Policy"]
        assert "script-src 'self';" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
        assert "frame-ancestors 'none'" in policy


def test_requests_are_logged_without_their_query_string(client, user, caplog):
    client.force_login(user)
    with caplog.at_level("INFO", logger="qrelay.requests"):
        client.get("/?q=secret-term")

    (line,) = [r.getMessage() for r in caplog.records if r.name == "qrelay.requests"]
    assert line.startswith("GET / 200 ") and f"user={user.pk}" in line and "secret-term" not in line


def test_check_deploy_is_clean_with_the_https_switch():
    # Playwright's fixtures set DJANGO_ALLOW_ASYNC_UNSAFE in this process; a deployment would not.
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("QRELAY_DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE")},
        "QRELAY_HTTPS": "true",
        "SECRET_KEY": "k3y-" + "x7Qz" * 16,
        "ALLOWED_HOSTS": "qrelay.example.com",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_without_the_switch_check_deploy_names_what_is_missing():
    env = {**os.environ, "SECRET_KEY": "k3y-" + "x7Qz" * 16, "ALLOWED_HOSTS": "qrelay.example.com"}
    env.pop("QRELAY_HTTPS", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert "SECURE_SSL_REDIRECT" in result.stdout + result.stderr


# --- /healthz -------------------------------------------------------------------------


def test_healthz_fails_while_no_worker_answers(client, db):
    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {"status": "failed", "database": "ok", "broker": "ok", "worker": "no worker answered"}


def test_healthz_is_ok_when_a_worker_answers(client, db, monkeypatch):
    from config.celery import app

    monkeypatch.setattr(app.control, "ping", lambda timeout: [{"celery@host": {"ok": "pong"}}])

    response = client.get("/healthz")

    assert (response.status_code, response.json()["status"]) == (200, "ok")
    assert "no-cache" in response["Cache-Control"]


def test_healthz_names_a_broker_that_is_down(client, db, settings, monkeypatch):
    from config.celery import app

    # Celery prefers the environment variable to its configuration.
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setattr(app.conf, "broker_url", "redis://127.0.0.1:1/0")
    app._pool = None
    try:
        response = client.get("/healthz")
    finally:
        app._pool = None  # the next test's publisher gets the real broker's pool again

    assert response.status_code == 503
    assert response.json()["broker"] == "failed"
