"""axe-core over the pages a reviewer and a lead use: no critical or serious violations.

axe-core is vendored (tests/e2e/vendor/axe.min.js, see its README) and injected by
Playwright; the page's CSP allows no script but its own, so the audit's browser context
bypasses CSP, for the audit only (tests/e2e/test_csp.py checks the policy itself)."""

import json
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from annotation.models import GoldProvenance, Membership, Pair, Role, SearchResult, SearchRun
from annotation.services import project_create
from tests.builders import review_queue

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
PASSWORD = "pw-axe-12345"
BLOCKING = ("critical", "serious")


def audit(page) -> list[dict]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]][:5],
        }
        for v in result["violations"]
        if v["impact"] in BLOCKING
    ]


@pytest.fixture
def world(transactional_db):
    project = project_create(name="fashion-a11y")
    lead = get_user_model().objects.create_user(username="lea", password=PASSWORD)
    Membership.objects.create(project=project, user=lead, role=Role.LEAD)
    pairs = review_queue(project, 4, images=True)
    run = SearchRun.objects.create(project=project, name="bm25")
    for rank, pair in enumerate(pairs, start=1):
        SearchResult.objects.create(run=run, query=pair.query, product=pair.product, pair=pair, rank=rank)
    # Half the pairs have gold already, so the metrics page has figures.
    for value, pair in zip([2, 0], pairs[2:]):
        Pair.objects.filter(id=pair.id).update(gold_value=value, gold_provenance=GoldProvenance.HUMAN)
    return {"project": project, "run": run}


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_the_main_pages_have_no_critical_or_serious_axe_violations(live_server, browser, login, world, dark):
    project, run = world["project"], world["run"]
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, bypass_csp=True, color_scheme="dark" if dark else "light"
    )
    page = context.new_page()
    try:
        login(page, "lea", PASSWORD)
        pages = {
            "home": reverse("home"),
            "review": reverse("reviews:review", args=[project.id]),
            "queue": reverse("reviews:queue", args=[project.id]),
            "run": reverse("run_detail", args=[project.id, run.id]),
            "metrics": reverse("run_metrics", args=[project.id, run.id]),
            "policy": reverse("reviews:policy", args=[project.id]),
            "dashboard": reverse("reviews:dashboard", args=[project.id]),
            "scale": reverse("scale_page", args=[project.id]),
        }
        found = {}
        for name, path in pages.items():
            response = page.goto(f"{live_server.url}{path}")
            assert response is not None and response.status == 200, (name, response and response.status)
            violations = audit(page)
            if violations:
                found[name] = violations
        assert found == {}, json.dumps(found, indent=1)
    finally:
        context.close()
