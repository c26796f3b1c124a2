"""The queue size on the review card is counted only up to a cap: counting every waiting
task of a big project on each card was slower than the rest of the step."""

import pytest
from django.test import Client
from django.urls import reverse

from reviews import selectors
from reviews.services.route import route_pairs

pytestmark = pytest.mark.django_db


@pytest.fixture
def waiting(project, policy, judge):
    """waiting(n) → n open label tasks (low-confidence LLM labels)."""

    def make(n: int) -> None:
        judged = [judge(value=1, confidence=0.3) for _ in range(n)]
        route_pairs(project=project, pair_ids=[j.pair.id for j in judged])

    return make


def test_a_queue_below_the_cap_is_counted_exactly(project, waiting, monkeypatch):
    monkeypatch.setattr(selectors, "QUEUE_COUNT_CAP", 5)
    waiting(5)

    size = selectors.queue_size(project)

    assert (size, size.capped, str(size)) == (5, False, "5")


def test_a_queue_above_the_cap_shows_the_cap_with_a_plus(project, waiting, monkeypatch):
    monkeypatch.setattr(selectors, "QUEUE_COUNT_CAP", 3)
    waiting(5)

    size = selectors.queue_size(project)

    assert (size, size.capped, str(size)) == (3, True, "3+")


def test_the_review_card_shows_a_capped_queue_size(project, member, waiting, monkeypatch):
    monkeypatch.setattr(selectors, "QUEUE_COUNT_CAP", 2)
    waiting(5)
    client = Client()
    client.force_login(member("ann"))

    response = client.get(reverse("reviews:review", args=[project.id]), HTTP_HX_REQUEST="true")

    # One task is now claimed for the card; the other 4 still pass the cap of 2.
    assert "<strong data-queue-size>2+</strong>" in response.content.decode()
