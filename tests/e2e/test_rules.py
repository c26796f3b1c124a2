"""A lead adds a rule in the browser, the pairs it reaches are judged again, and the
reviewer sees the rule the judge applied on the card."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.auth import get_user_model
from django.db import connections
from django.urls import reverse

from annotation.models import Membership, Pair, Product, Query, Role, SearchResult, SearchRun
from annotation.services import project_create
from judging.models import JudgeConfig, Judgment
from reviews.models import ReviewTask, RoutingPolicy
from reviews.services.route import route_pairs
from tests.builders import finish_job, start_job

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-rules-123"
RULE = "A boot in another colour than the query asks for is irrelevant."


def judge_run(project, run):
    """Run a judge job in-process, in a thread of its own: the job's chunks run an asyncio
    loop, and Playwright's sync API has one running in this thread."""

    def job():
        try:
            return finish_job(start_job(project, run=run))
        finally:
            connections.close_all()  # the thread's own session, or the test database stays in use

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(job).result()


def login(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}{reverse('login')}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}{reverse('home')}")


def test_a_lead_adds_a_rule_rejudges_and_the_reviewer_sees_it_on_the_card(live_server, page, transactional_db):
    project = project_create(name="rules-e2e")
    JudgeConfig.objects.create(project=project, backend="offline", mode="text")
    RoutingPolicy.objects.create(project=project, version=1, min_confidence=1.0, audit_rate=0.0)
    users = get_user_model().objects
    for name, role in (("lee", Role.LEAD), ("kim", Role.ANNOTATOR)):
        Membership.objects.create(project=project, user=users.create_user(username=name, password=PASSWORD), role=role)
    query = Query.objects.create(project=project, external_id="q1", text="red boots")
    other = Query.objects.create(project=project, external_id="q2", text="red dress")
    boots = Product.objects.create(
        project=project, external_id="p1", title="Black Leather Boots", category="Shoes > Boots",
        attributes={"colour": "black"}, content_hash="h1",
    )  # fmt: skip
    dress = Product.objects.create(
        project=project, external_id="p2", title="Red Silk Dress", category="Clothing > Dresses",
        attributes={"colour": "red"}, content_hash="h2",
    )  # fmt: skip
    run = SearchRun.objects.create(project=project, name="baseline")
    for rank, (q, p) in enumerate(((query, boots), (other, dress)), start=1):
        pair = Pair.objects.create(project=project, query=q, product=p)
        SearchResult.objects.create(run=run, pair=pair, query=q, product=p, rank=rank)
    judge_run(project, run)
    assert list(Judgment.objects.values_list("applied_rules", flat=True)) == [[], []]

    login(page, live_server, "lee")
    page.goto(f"{live_server.url}{reverse('project_detail', args=[project.id])}")
    page.get_by_role("link", name="Rules", exact=True).click()
    page.wait_for_url(f"{live_server.url}{reverse('rules', args=[project.id])}")
    form = page.locator("[data-rule-add]")
    form.locator("input[name=rule_id]").fill("boot-colour")
    form.locator("textarea[name=text]").fill(RULE)
    form.locator("input[name=category]").fill("boots")
    form.locator("button[type=submit]").click()
    assert "Rule boot-colour added" in page.locator("[data-rules-notice]").inner_text()
    assert page.locator("[data-rule=boot-colour]").count() == 1

    # Judging again reaches only the boot pair: the rule is scoped to boots.
    job = judge_run(project, run)
    assert (job.total, job.done) == (1, 1)
    boot_pair = Pair.objects.get(query=query)
    route_pairs(project=project, pair_ids=[boot_pair.id])
    assert ReviewTask.objects.filter(pair=boot_pair).exists()

    page.context.clear_cookies()
    login(page, live_server, "kim")
    page.goto(f"{live_server.url}{reverse('reviews:review', args=[project.id])}")
    applied = page.locator("[data-applied-rules]")
    assert "boot-colour" in applied.inner_text() and RULE in applied.inner_text()
    page.click("text=Disagree with the LLM?")
    page.check("input[name=applied_rules][value=boot-colour]")
    page.keyboard.press("2")
    page.wait_for_function("() => document.querySelector('#review-card').dataset.task === undefined")
    label = boot_pair.labels.get(source="human")
    assert (label.value, label.applied_rules) == (1, ["boot-colour"])
