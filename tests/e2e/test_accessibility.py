"""axe-core over the pages a reviewer and a lead use: no critical or serious violations.

axe-core is vendored (tests/e2e/vendor/axe.min.js, see its README) and injected by
Playwright; the page's CSP allows no script but its own, so the audit's browser context
bypasses CSP, for the audit only (tests/e2e/test_csp.py checks the policy itself)."""

import json
import re
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from annotation.models import GoldProvenance, Membership, Pair, Role, SearchResult, SearchRun
from annotation.services import project_create
from reviews.services.queue import task_claim_next, task_flag, task_flag_resolve
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


# axe leaves SVG text alone, so the charts' own text is measured here: each label's fill
# against the first opaque background behind its chart (the heatmap's counts sit on coloured
# cells and are left out).
CHART_TEXT = """() => [...document.querySelectorAll('svg.chart text:not(.chart-count)')].map(text => {
  let host = text.closest('svg').parentElement;
  while (host.parentElement && getComputedStyle(host).backgroundColor === 'rgba(0, 0, 0, 0)') {
    host = host.parentElement;
  }
  return [text.textContent, getComputedStyle(text).fill, getComputedStyle(host).backgroundColor];
})"""


def luminance(css_colour: str) -> float:
    channels = [int(c) / 255 for c in re.findall(r"\d+", css_colour)[:3]]
    r, g, b = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    light, dark = sorted([luminance(a), luminance(b)], reverse=True)
    return (light + 0.05) / (dark + 0.05)


def faint_chart_text(page) -> list[tuple[str, str, str, float]]:
    """Chart labels under WCAG AA's 4.5:1 for text."""
    found = []
    for text, fill, background in page.evaluate(CHART_TEXT):
        ratio = contrast(fill, background)
        if ratio < 4.5:
            found.append((text, fill, background, round(ratio, 2)))
    return found


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
    # Every task is flagged, and all but the last put back: the card the lead claims shows
    # the earlier flag's note, the flagged page has a row with the lead's actions.
    ann = get_user_model().objects.create_user(username="ann", password=PASSWORD)
    Membership.objects.create(project=project, user=ann, role=Role.ANNOTATOR)
    flagged = []
    while task := task_claim_next(project=project, user=ann):
        task_flag(task=task, user=ann, comment="the photo shows another dress")
        flagged.append(task)
    for task in flagged[:-1]:
        task_flag_resolve(task=task, user=lead, action="reopen")
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
            "flagged": reverse("reviews:flagged", args=[project.id]),
            # The LLM said 1 where gold is 2 or 0: one step apart.
            "disagreements": reverse("reviews:disagreements", args=[project.id]) + "?gap=1",
        }
        # What the audit must see on a page, or it proves nothing about it (both themes' colours).
        shown = {
            "review": ".rv-flag-note",
            "metrics": "svg.chart",
            "dashboard": "svg.chart",
            "flagged": "form.dis-override",
            "disagreements": "form.dis-override",
        }
        found = {}
        for name, path in pages.items():
            response = page.goto(f"{live_server.url}{path}")
            assert response is not None and response.status == 200, (name, response and response.status)
            if name in shown:
                assert page.locator(shown[name]).count() > 0, (name, shown[name])
            violations = audit(page)
            if faint := faint_chart_text(page):
                violations.append({"id": "chart-text-contrast", "nodes": faint[:5]})
            if violations:
                found[name] = violations
        assert found == {}, json.dumps(found, indent=1)
    finally:
        context.close()
