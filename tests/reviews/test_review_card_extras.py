"""What issue 14 added to the review card, over HTTP: labels shown by their key, the
scale's definitions on the buttons, the reviewer's progress (down on submit, up on undo),
the earlier label on a reopened card, why a queue is empty, the next image to preload,
and the home page's "Start reviewing (N)"."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from annotation.models import ProductImage
from reviews.models import ReviewTask
from reviews.services.route import route_pairs

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def ann(member):
    return member("ann")


@pytest.fixture
def ann_client(ann):
    client = Client()
    client.force_login(ann)
    return client


@pytest.fixture
def routed(project, policy, judge):
    """routed(n) → n pairs the LLM labelled 1 ("acceptable substitute") with low confidence, in the queue."""

    def make(n: int) -> list[ReviewTask]:
        judged = [judge(value=1, confidence=0.3) for _ in range(n)]
        route_pairs(project=project, pair_ids=[j.pair.id for j in judged])
        return list(ReviewTask.objects.filter(pair__in=[j.pair for j in judged]).order_by("id"))

    return make


def review(client, project):
    return client.get(reverse("reviews:review", args=[project.id]), **HTMX)


def test_the_llm_label_reads_with_the_key_the_reviewer_presses(project, ann_client, routed):
    routed(1)
    response = review(ann_client, project)
    html = response.content.decode()

    # Value 1 is the second level: key 2. The stored value is not shown as if it were a key.
    assert response.context_data["llm"]["key"] == 2
    assert '<kbd title="the key for this label">2</kbd> acceptable substitute' in html
    assert "1 · acceptable substitute" not in html


def test_each_label_button_carries_the_scales_definition(project, ann_client, routed):
    project.levels.filter(value=0).update(definition="Another product type entirely.")
    routed(1)
    html = review(ann_client, project).content.decode()

    assert '<span class="rv-label-def">Another product type entirely.</span>' in html
    assert 'data-name="highly relevant"' in html
    assert "What the shopper asked for" in html  # the built-in default's definition


def test_progress_goes_down_on_submit_and_back_up_on_undo(project, ann, ann_client, routed):
    routed(3)
    first = review(ann_client, project)
    task = first.context_data["task"]
    assert int(first.context_data["progress"].left) == 3

    after = ann_client.post(
        reverse("reviews:submit", args=[project.id, task.id]), {"value": 0, "time_spent_ms": 60_000}, **HTMX
    )
    assert after.context_data["progress"].left == 2
    assert after.context_data["progress"].minutes == 2  # two left at one minute each

    undone = ann_client.post(reverse("reviews:undo", args=[project.id, task.id]), **HTMX)
    assert undone.context_data["task"].id == task.id
    assert undone.context_data["progress"].left == 3
    assert undone.context_data["earlier"] == {"key": 1, "name": "irrelevant"}
    assert "Your earlier label" in undone.content.decode()


def test_a_fresh_card_shows_no_earlier_label(project, ann_client, routed):
    routed(1)
    response = review(ann_client, project)
    assert response.context_data["earlier"] is None
    assert "data-earlier" not in response.content.decode()


def test_the_next_pairs_image_is_named_for_preloading(project, ann_client, routed):
    tasks = routed(2)
    image = ProductImage.objects.create(
        product_id=tasks[1].pair.product_id,
        position=0,
        source="x.png",
        status="stored",
        stored_name="a/b.jpg",
        sha256="b" * 64,
    )
    response = review(ann_client, project)
    shown = response.context_data["task"]
    expected = image.id if shown.id == tasks[0].id else None  # the other pair comes next
    assert response.context_data["next_image_id"] == expected
    if expected:
        assert f'data-next-image="{reverse("product_image", args=[image.id])}"' in response.content.decode()


def test_an_empty_queue_says_why(project, ann, ann_client, member, routed, policy):
    assert review(ann_client, project).context_data["empty_reasons"] == [
        "Nothing has been routed to reviewers yet: pairs arrive here when a lead evaluates a run."
    ]
    tasks = routed(1)
    other = member("olga")
    ReviewTask.objects.filter(id=tasks[0].id).update(
        status=ReviewTask.Status.CLAIMED, claimed_by=other, lease_expires_at=timezone.now() + timedelta(minutes=5)
    )
    reasons = review(ann_client, project).context_data["empty_reasons"]
    assert reasons == ["1 pair(s) are being labelled by other reviewers right now."]

    ReviewTask.objects.filter(id=tasks[0].id).update(status=ReviewTask.Status.DONE)
    assert review(ann_client, project).context_data["empty_reasons"] == [
        "Every pair routed to reviewers has its labels."
    ]


def test_home_offers_start_reviewing_with_the_users_count(project, ann_client, routed):
    routed(2)
    html = ann_client.get(reverse("home")).content.decode()
    assert f'href="{reverse("reviews:review", args=[project.id])}">Start reviewing (2)</a>' in html


def test_home_says_nothing_to_review_without_tasks(project, ann_client):
    html = ann_client.get(reverse("home")).content.decode()
    assert "Start reviewing" not in html and "Nothing to review" in html
