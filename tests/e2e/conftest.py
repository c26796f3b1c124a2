"""Browser tests: Playwright's sync API driving the system Chromium against live_server.

Playwright's sync API runs an event loop in the test thread; the ORM calls the tests make
in that same thread (fixtures, assertions) are still plain synchronous calls, so Django's
async-safety guard is switched off for this suite only.
"""

import os
from pathlib import Path

import pytest
from django.db import connections

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(autouse=True)
def _close_db_connections_per_request(monkeypatch):
    # The browser keeps HTTP connections alive, and with a CONN_MAX_AGE the live
    # server's request threads would keep their database sessions open after the test,
    # which blocks dropping the test database.
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)


@pytest.fixture
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"the e2e tests drive the system Chromium and {CHROMIUM} is missing (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
            # While Playwright's loop runs, Django keeps this thread's connections per
            # async context (asgiref.Local): the ones the test opened are closed here,
            # in that context, or they would block dropping the test database.
            connections.close_all()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def login(live_server):
    """login(page, username, password): logs in through the login form, as a user would."""

    def login_as(page, username: str, password: str) -> None:
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        page.click("main button[type=submit]")
        page.wait_for_load_state()

    return login_as
