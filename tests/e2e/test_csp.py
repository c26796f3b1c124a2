"""Under the Content-Security-Policy (no inline script, no eval) the pages a lead and a
reviewer use still work in Chromium, and the browser reports no violation."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from annotation.models import Membership, Role, SearchResult, SearchRun
from annotation.services import project_create
from reviews.models import RoutingPolicy
from reviews.services.route import route_pairs

from .test_policy_threshold import judged_pairs

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-csp-check-4821"


def test_the_main_pages_run_under_the_policy_without_violations(live_server, page, transactional_db):
    project = project_create(name="fashion-csp-e2e")
    lead = get_user_model().objects.create_user(username="lina", password=PASSWORD)
    Membership.objects.create(project=project, user=lead, role=Role.LEAD)
    RoutingPolicy.objects.create(project=project, version=1, min_confidence=0.7, audit_rate=0.0)
    pairs = judged_pairs(project, [0.9, 0.3, 0.8])
    run = SearchRun.objects.create(project=project, name="bm25")
    SearchResult.objects.bulk_create(
        SearchResult(run=run, query_id=p.query_id, product_id=p.product_id, pair=p, rank=i + 1)
        for i, p in enumerate(pairs)
    )
    route_pairs(project=project, pair_ids=[p.id for p in pairs])
    violations: list[str] = []
    page.on(
        "console",
        lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None,
    )

    page.goto(f"{live_server.url}{reverse('login')}")
    page.fill("input[name=username]", "lina")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    # (The metrics page's 400 shown in place, by static/js/app.js, is test_compare_and_download's.)
    # The review card takes keys (static/js/review-keys.js).
    page.goto(f"{live_server.url}{reverse('reviews:review', args=[project.id])}")
    page.locator("#review-card").wait_for()
    page.goto(f"{live_server.url}{reverse('reviews:policy', args=[project.id])}")
    page.fill("#id_min_confidence", "0.95")
    page.get_by_text("to humans", exact=False).first.wait_for()
    page.goto(f"{live_server.url}{reverse('reviews:dashboard', args=[project.id])}")
    page.get_by_role("heading").first.wait_for()
    # Swagger UI: its start script is a file of its own (SpectacularSwaggerSplitView).
    page.goto(f"{live_server.url}/api/docs/")
    page.locator(".swagger-ui .info .title").wait_for()

    assert violations == []
