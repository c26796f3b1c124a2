"""A lead moves a threshold on the policy page, watches the live what-if preview change,
applies it, and the review queue grows accordingly — in a real browser."""

import uuid

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from annotation.models import GoldProvenance, Label, LabelSource, Membership, Pair, Product, Query, Role
from annotation.services import project_create
from judging.models import Judgment
from reviews.models import ReviewTask, RoutingPolicy
from reviews.services.route import route_pairs

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-threshold-123"


def judged_pairs(project, confidences: list[float]) -> list[Pair]:
    pairs = []
    for i, confidence in enumerate(confidences):
        query = Query.objects.create(project=project, external_id=f"q{i}", text=f"linen dress {i}")
        product = Product.objects.create(
            project=project, external_id=f"p{i}", title=f"Dress {i}", content_hash=f"{i:064d}"
        )
        pair = Pair.objects.create(project=project, query=query, product=product)
        label = Label.objects.create(
            project=project, pair=pair, source=LabelSource.LLM, rater="fake-judge", value=2, confidence=confidence
        )
        Judgment.objects.create(
            cache_key=uuid.uuid4().hex,
            model="fake-judge",
            prompt_version="j1",
            project=project,
            pair=pair,
            product=product,
            label=label,
            backend="openai",
            mode="text",
            status=Judgment.Status.OK,
            value=2,
            confidence=confidence,
            samples=[2],
        )
        pairs.append(pair)
    return pairs


def open_tasks(project) -> int:
    return ReviewTask.objects.filter(project=project, status=ReviewTask.Status.OPEN).count()


def test_a_lead_moves_a_threshold_sees_the_preview_and_the_queue_follows(live_server, page, transactional_db):
    project = project_create(name="fashion-policy-e2e")
    lead = get_user_model().objects.create_user(username="lea", password=PASSWORD)
    Membership.objects.create(project=project, user=lead, role=Role.LEAD)
    RoutingPolicy.objects.create(project=project, version=1, min_confidence=0.7, audit_rate=0.0)
    # Three confident pairs (0.8) are auto-accepted, one doubtful pair (0.3) waits for a human.
    pairs = judged_pairs(project, [0.8, 0.8, 0.8, 0.3])
    route_pairs(project=project, pair_ids=[p.id for p in pairs])
    assert open_tasks(project) == 1
    assert Pair.objects.filter(project=project, gold_provenance=GoldProvenance.LLM_AUTO).count() == 3

    page.goto(f"{live_server.url}{reverse('login')}")
    page.fill("input[name=username]", "lea")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}{reverse('home')}")
    page.goto(f"{live_server.url}{reverse('reviews:policy', args=[project.id])}")
    page.evaluate("() => { window.sameDocument = true; }")

    page.fill("#id_min_confidence", "0.75")
    page.wait_for_function("() => document.querySelector('#wi-pairs')?.textContent.trim() === '1'")
    page.fill("#id_min_confidence", "0.9")
    page.wait_for_function("() => document.querySelector('#wi-pairs')?.textContent.trim() === '4'")

    preview = page.locator("#policy-preview").inner_text()
    assert "3\nauto-accepted pairs to reviewers" in preview
    assert page.evaluate("() => window.sameDocument === true"), "the preview was swapped in, not a page load"
    assert open_tasks(project) == 1, "a preview changes nothing"

    # An out-of-range value: the error shows beside the field and the old preview goes away
    # (the browser's own validation used to keep htmx from asking, leaving it up silently).
    page.fill("#id_min_confidence", "1.7")
    page.wait_for_function("() => document.querySelector('#err-min_confidence')?.textContent.includes('less than')")
    assert page.locator("#wi-pairs").count() == 0
    assert "Nothing to preview until these are fixed" in page.locator("#policy-preview").inner_text()
    page.fill("#id_min_confidence", "0.9")
    page.wait_for_function("() => document.querySelector('#wi-pairs')?.textContent.trim() === '4'")
    assert page.locator("#err-min_confidence").inner_text().strip() == ""

    page.click("text=Apply as version 2")
    page.wait_for_selector("text=Saved version 2")
    assert open_tasks(project) == 4
    assert RoutingPolicy.objects.get(project=project, version=2).min_confidence == 0.9

    # Back to version 1's thresholds: a new version 3, the three pairs back with the LLM.
    page.click("text=Revert to v1")
    page.wait_for_selector("text=Saved version 3")
    assert RoutingPolicy.objects.get(project=project, version=3).min_confidence == 0.7
    assert open_tasks(project) == 1
    page.click("text=Revert to v2")
    page.wait_for_selector("text=Saved version 4")
    assert open_tasks(project) == 4

    page.goto(f"{live_server.url}{reverse('reviews:queue', args=[project.id])}")
    assert page.locator(".stats .stat-value").first.inner_text() == "4"
