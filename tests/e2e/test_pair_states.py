"""The run page and the metrics page count the pairs by state (issue #14: "fill the
holes" offered to judge again 113 pairs that were waiting for reviewers)."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from annotation.models import Membership, Pair, Product, Query, Role, SearchResult, SearchRun
from annotation.services import project_create
from judging.models import JudgeConfig, JudgeJob, Judgment
from reviews.models import RoutingPolicy
from reviews.services.route import route_pairs
from tests.builders import judge_now, start_job

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-states-123"


def counts_on(page) -> dict[str, str]:
    page.locator("#pair-states dl").wait_for()
    cells = page.locator("#pair-states dl > div[data-state]")
    return {
        cells.nth(i).get_attribute("data-state"): cells.nth(i).locator("dd").inner_text() for i in range(cells.count())
    }


def test_a_lead_sees_the_pairs_by_state_and_one_judge_action(live_server, page, transactional_db):
    project = project_create(name="states-e2e")
    JudgeConfig.objects.create(project=project, backend="offline", mode="text")
    RoutingPolicy.objects.create(project=project, version=1, audit_rate=0.0, note="e2e")
    query = Query.objects.create(project=project, external_id="q1", text="red dress")
    run = SearchRun.objects.create(project=project, name="bm25")
    pairs = []
    for rank in range(1, 7):
        product = Product.objects.create(
            project=project, external_id=f"p{rank}", title=f"Dress {rank}", content_hash=f"h{rank}"
        )
        pair = Pair.objects.create(project=project, query=query, product=product)
        SearchResult.objects.create(run=run, query=query, product=product, pair=pair, rank=rank)
        pairs.append(pair)
    gold, wait1, wait2, failed, new1, new2 = pairs
    Pair.objects.filter(id=gold.id).update(gold_value=2, gold_provenance="imported")
    judge_now(wait1, confidence=0.2)
    judge_now(wait2, confidence=0.3)
    route_pairs(project=project, pair_ids=[wait1.id, wait2.id])  # below 0.7: to reviewers
    judge_now(failed, status=Judgment.Status.INVALID)
    lead = get_user_model().objects.create_user(username="lea", password=PASSWORD)
    Membership.objects.create(project=project, user=lead, role=Role.LEAD)

    page.goto(f"{live_server.url}{reverse('login')}")
    page.fill("input[name=username]", "lea")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}{reverse('home')}")

    page.goto(f"{live_server.url}{reverse('run_detail', args=[project.id, run.id])}")
    assert counts_on(page) == {"not_judged": "2", "failed": "1", "waiting": "2", "gold": "1"}
    buttons = page.locator("button:has-text('without a judgment')")
    assert buttons.count() == 1 and buttons.inner_text() == "Judge 3 pairs without a judgment"
    assert page.locator("text=Judge holes").count() == 0

    # The metrics page at k=3: gold and the two waiting pairs; nothing to judge there.
    page.goto(f"{live_server.url}{reverse('run_metrics', args=[project.id, run.id])}?k=3")
    assert counts_on(page) == {"waiting": "2", "gold": "1"}
    assert page.locator("#judge-missing").count() == 0
    page.click("#waiting-link")
    page.wait_for_url(f"{live_server.url}{reverse('reviews:queue', args=[project.id])}")


def test_the_card_follows_an_active_judge_job_without_a_reload(live_server, page, transactional_db):
    project = project_create(name="states-poll-e2e")
    JudgeConfig.objects.create(project=project, backend="offline", mode="text")
    query = Query.objects.create(project=project, external_id="q1", text="red dress")
    run = SearchRun.objects.create(project=project, name="bm25")
    pairs = []
    for rank in (1, 2):
        product = Product.objects.create(
            project=project, external_id=f"p{rank}", title=f"Dress {rank}", content_hash=f"h{rank}"
        )
        pair = Pair.objects.create(project=project, query=query, product=product)
        SearchResult.objects.create(run=run, query=query, product=product, pair=pair, rank=rank)
        pairs.append(pair)
    job = start_job(project, run=run)  # queued: active, as while a worker judges it
    lead = get_user_model().objects.create_user(username="lea", password=PASSWORD)
    Membership.objects.create(project=project, user=lead, role=Role.LEAD)

    page.goto(f"{live_server.url}{reverse('login')}")
    page.fill("input[name=username]", "lea")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}{reverse('home')}")
    page.goto(f"{live_server.url}{reverse('run_detail', args=[project.id, run.id])}")
    assert counts_on(page) == {"not_judged": "2"}
    assert page.locator("#pair-states[data-polling]").count() == 1

    # What the worker does meanwhile: a pair gets gold, then the job ends.
    Pair.objects.filter(id=pairs[0].id).update(gold_value=2, gold_provenance="imported")
    JudgeJob.objects.filter(id=job.id).update(status=JudgeJob.Status.DONE)

    page.locator("#pair-states:not([data-polling])").wait_for(timeout=15_000)  # one poll, then no more
    assert counts_on(page) == {"not_judged": "1", "gold": "1"}
