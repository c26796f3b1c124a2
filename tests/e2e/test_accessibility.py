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


# axe leaves SVG alone, so the charts are measured here against the first opaque
# background behind their chart: each text's fill (4.5:1); a heatmap count (the text after
# a translucent cell) against its cell, the cell's colour laid over that background at its opacity (text,
# 4.5:1); each series mark's colour, classes series-0… (graphics, 3:1, WCAG 1.4.11).
BEHIND = """const behind = el => {
  let host = el.closest('svg').parentElement;
  while (host.parentElement && getComputedStyle(host).backgroundColor === 'rgba(0, 0, 0, 0)') {
    host = host.parentElement;
  }
  return getComputedStyle(host).backgroundColor;
};"""
CHART_TEXT = (
    "() => { "
    + BEHIND
    + """ return [...document.querySelectorAll('svg.chart text:not(rect[fill-opacity] + text)')].map(
  text => [text.textContent, getComputedStyle(text).fill, behind(text)]); }"""
)
HEATMAP_COUNTS = (
    "() => { "
    + BEHIND
    + """ return [...document.querySelectorAll('svg.chart rect[fill-opacity] + text')].map(text => {
  const cell = getComputedStyle(text.previousElementSibling);
  return [text.textContent, getComputedStyle(text).fill, cell.fill, Number(cell.fillOpacity), behind(text)];
}); }"""
)
SERIES_MARKS = (
    "() => { "
    + BEHIND
    + """ return [...document.querySelectorAll('svg.chart [class^="series-"]')].map(
  mark => [mark.getAttribute('class'), getComputedStyle(mark).color, behind(mark)]); }"""
)


def channels(css_colour: str) -> list[float]:
    return [float(c) for c in re.findall(r"[\d.]+", css_colour)[:3]]


def luminance(css_colour: str | list[float]) -> float:
    rgb = channels(css_colour) if isinstance(css_colour, str) else css_colour
    channels_ = [c / 255 for c in rgb]
    r, g, b = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels_]
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str | list[float], b: str | list[float]) -> float:
    light, dark = sorted([luminance(a), luminance(b)], reverse=True)
    return (light + 0.05) / (dark + 0.05)


def faint_chart_text(page) -> list[tuple[str, str, str, float]]:
    """Chart labels under WCAG AA's 4.5:1 for text."""
    found = []
    for text, fill, background in page.evaluate(CHART_TEXT):
        ratio = contrast(fill, background)
        if ratio < 4.5:
            found.append((text, fill, background, round(ratio, 2)))
    for text, fill, cell, opacity, background in page.evaluate(HEATMAP_COUNTS):
        laid = [c * opacity + b * (1 - opacity) for c, b in zip(channels(cell), channels(background), strict=True)]
        ratio = contrast(fill, laid)
        if ratio < 4.5:
            found.append((text, fill, f"{cell} at {opacity}", round(ratio, 2)))
    return found


def faint_series_marks(page) -> tuple[int, list[tuple[str, str, str, float]]]:
    """How many series marks there are, and those under WCAG 1.4.11's 3:1 for graphics."""
    marks = page.evaluate(SERIES_MARKS)
    faint = []
    for css_class, colour, background in marks:
        ratio = contrast(colour, background)
        if ratio < 3:
            faint.append((css_class, colour, background, round(ratio, 2)))
    return len(marks), faint


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
            marks, faint_marks = faint_series_marks(page)
            if name == "dashboard":
                assert marks > 0, "the dashboard's charts have no series marks to measure"
            if faint_marks:
                violations.append({"id": "chart-series-contrast", "nodes": faint_marks[:5]})
            if violations:
                found[name] = violations
        assert found == {}, json.dumps(found, indent=1)
    finally:
        context.close()
