"""An annotator labels five pairs with the keyboard only, in a real browser."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from annotation.models import GoldProvenance, Label, LabelSource, Membership, Pair, Role
from annotation.services import project_create
from reviews.models import Reason, ReviewTask
from tests.builders import review_queue

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-keyboard-123"


def test_an_annotator_labels_five_pairs_with_the_keyboard_only(live_server, page, transactional_db):
    project = project_create(name="fashion-e2e")  # scale: 0 irrelevant, 1 substitute, 2 highly relevant
    annotator = get_user_model().objects.create_user(username="kim", password=PASSWORD)
    Membership.objects.create(project=project, user=annotator, role=Role.ANNOTATOR)
    pairs = review_queue(project, 5)  # judged with low confidence, one human each
    assert set(ReviewTask.objects.values_list("reason", flat=True)) == {Reason.LOW_CONFIDENCE}
    keys = ["3", "1", "2", "3", "3"]  # key n labels the n-th level, least relevant first

    page.goto(f"{live_server.url}{reverse('login')}")
    page.fill("input[name=username]", "kim")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}{reverse('home')}")
    page.goto(f"{live_server.url}{reverse('reviews:review', args=[project.id])}")
    page.evaluate("() => { window.sameDocument = true; }")

    seen = []
    for key in keys:
        card = page.locator("#review-card")
        task_id = card.get_attribute("data-task")
        assert task_id, "a card with a task is shown"
        seen.append(int(task_id))
        page.keyboard.press(key)
        # The next card (or the empty-queue card) swaps in without a page load.
        page.wait_for_function("id => document.querySelector('#review-card').dataset.task !== id", arg=task_id)

    assert page.evaluate("() => window.sameDocument === true"), "the cards were swapped in, not loaded as pages"
    assert "The queue is empty" in page.locator("#review-card").inner_text()
    assert page.locator("[data-labels-today]").inner_text() == "5"

    labels = Label.objects.filter(user=annotator, source=LabelSource.HUMAN)
    assert labels.count() == 5
    tasks = {t.id: t for t in ReviewTask.objects.filter(id__in=seen)}
    expected = {tasks[task_id].pair_id: int(key) - 1 for task_id, key in zip(seen, keys)}
    assert dict(labels.values_list("pair_id", "value")) == expected
    gold = {p.id: (p.gold_value, p.gold_provenance) for p in Pair.objects.filter(id__in=[p.id for p in pairs])}
    assert gold == {pair_id: (value, GoldProvenance.HUMAN) for pair_id, value in expected.items()}
    assert all(t.status == ReviewTask.Status.DONE and t.time_spent_ms is not None for t in tasks.values())
