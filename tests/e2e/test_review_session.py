"""A reviewer's session ends or changes mid-review (issue 14, must fix 1), in a real browser.

The label pressed at that moment is never lost silently: the card says the session ended
and that the label was not saved, the login link comes back to the review page (never to
the POST-only submit URL, which answered 405), and once back the label is sent once."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.urls import reverse

from annotation.models import Label, LabelSource, Membership, Role
from annotation.services import project_create
from reviews.models import ReviewTask
from tests.builders import review_queue

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-session-123"


@pytest.fixture
def reviewer(live_server, page, login):
    project = project_create(name="fashion-session")  # keys: 1 irrelevant, 2 substitute, 3 highly relevant
    user = get_user_model().objects.create_user(username="kim", password=PASSWORD)
    Membership.objects.create(project=project, user=user, role=Role.ANNOTATOR)
    review_queue(project, 3)
    statuses: list[tuple[int, str]] = []
    page.on("response", lambda response: statuses.append((response.status, response.url)))
    login(page, "kim", PASSWORD)
    review_url = f"{live_server.url}{reverse('reviews:review', args=[project.id])}"
    page.goto(review_url)
    return {"project": project, "user": user, "statuses": statuses, "review_url": review_url}


def human_labels(user) -> dict[int, int]:
    return dict(Label.objects.filter(user=user, source=LabelSource.HUMAN).values_list("pair_id", "value"))


def pair_of(task_id: str) -> int:
    return ReviewTask.objects.get(id=int(task_id)).pair_id


def test_an_expired_session_says_so_in_the_card_and_sends_the_label_after_the_login(page, reviewer, live_server):
    card = page.locator("#review-card")
    task_id = card.get_attribute("data-task")
    Session.objects.all().delete()  # the session expires while the card is open

    page.keyboard.press("1")
    problem = card.locator("[data-session-problem=expired]")
    problem.wait_for()
    assert "Your session ended" in problem.inner_text()
    note = problem.locator("[data-pending-note]")
    assert "irrelevant" in note.inner_text() and "NOT saved" in note.inner_text()
    login_link = problem.locator("a")
    next_url = reverse("reviews:review", args=[reviewer["project"].id])
    assert login_link.get_attribute("href") == f"{reverse('login')}?next={next_url.replace('/', '%2F')}"
    assert human_labels(reviewer["user"]) == {}, "nothing was saved while logged out"

    page.keyboard.press("n")  # the card's way on, by keyboard
    page.wait_for_url(f"{live_server.url}{reverse('login')}?**")
    page.fill("input[name=username]", "kim")
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(reviewer["review_url"])
    # Back on the review page: the kept label is sent once and the next card comes.
    page.wait_for_function("id => document.querySelector('#review-card').dataset.task !== id", arg=task_id)

    assert human_labels(reviewer["user"]) == {pair_of(task_id): 0}
    assert "was sent" in page.locator("#rv-session-note").inner_text()
    assert not [s for s in reviewer["statuses"] if s[0] == 405], reviewer["statuses"]
    assert page.evaluate("() => sessionStorage.getItem('qrelay:pending-label')") is None


def test_a_login_in_another_tab_is_explained_and_the_label_sent_after_a_reload(page, reviewer, login):
    card = page.locator("#review-card")
    task_id = card.get_attribute("data-task")
    other_tab = page.context.new_page()
    login(other_tab, "kim", PASSWORD)  # a new login rotates the CSRF token this page holds
    other_tab.close()

    page.keyboard.press("3")
    problem = card.locator("[data-session-problem=csrf]")
    problem.wait_for()
    assert "Your session changed" in problem.inner_text()
    assert "highly relevant" in problem.locator("[data-pending-note]").inner_text()
    assert human_labels(reviewer["user"]) == {}

    page.keyboard.press("n")  # reload the review page
    page.wait_for_function("id => document.querySelector('#review-card').dataset.task !== id", arg=task_id)
    assert human_labels(reviewer["user"]) == {pair_of(task_id): 2}
    statuses = reviewer["statuses"]
    assert [s for s in statuses if s[0] == 403], "the stale token was refused"
    assert not [s for s in statuses if s[0] == 405], statuses


def test_a_label_for_a_pair_no_longer_yours_is_reported_not_sent(page, reviewer, live_server):
    card = page.locator("#review-card")
    task_id = card.get_attribute("data-task")
    Session.objects.all().delete()
    page.keyboard.press("2")
    card.locator("[data-session-problem]").wait_for()
    # Meanwhile the task went back to the queue (e.g. the lease ran out and a lead reset it).
    ReviewTask.objects.filter(id=int(task_id)).update(status=ReviewTask.Status.OPEN, claimed_by=None)
    ReviewTask.objects.filter(id=int(task_id)).update(priority=-1)  # another pair comes first

    page.keyboard.press("n")
    page.fill("input[name=username]", "kim")
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(reviewer["review_url"])
    note = page.locator("#rv-session-note")
    note.wait_for()
    assert "was not saved" in note.inner_text()
    assert human_labels(reviewer["user"]) == {}
