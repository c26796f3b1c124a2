"""Query intents and required attributes: set by the guideline step as query tags,
filters on the review queue, and segments like every tag."""

import pytest
from django.test import Client
from django.urls import reverse

from judging.contracts import GuidelineDraft, QueryContext, Requirement
from judging.intents import query_tags, text_intents
from judging.offline import offline_guideline
from reviews.models import ReviewTask
from reviews.services.queue import task_claim_next
from reviews.services.route import route_pairs

pytestmark = pytest.mark.django_db


def test_the_guideline_step_tags_intents_and_required_attributes():
    draft = GuidelineDraft(
        requirements=[
            Requirement("colour", "red", 1.0),
            Requirement("material", "wool", 0.3),
            Requirement("colour", "white", 1.0, negated=True),
        ],
        text="",
        tags=["negation"],
    )
    assert query_tags(draft) == ["negation", "needs:colour"]
    assert text_intents("red or blue dress") == ["alternatives"]
    assert text_intents("gift for my dad") == ["reasoning-dependent"]
    assert text_intents("red dress") == []
    assert text_intents("boots not black or brown") == []
    tags = offline_guideline(QueryContext(text="red or blue dress not white")).tags
    assert {"negation", "alternatives"} <= set(tags)


def test_the_review_queue_filters_by_intent_and_lists_the_filters(project, policy, judge, member):
    plain = judge(value=1, confidence=0.3, query_text="red dress", tags=["needs:colour"])
    negated = judge(value=1, confidence=0.3, query_text="dress not white", tags=["negation", "needs:product_type"])
    route_pairs(project=project, pair_ids=[plain.pair.id, negated.pair.id])
    ann = member("ann")

    task = task_claim_next(project=project, user=ann, tag="negation")
    assert task is not None and task.pair_id == negated.pair.id

    client = Client()
    client.force_login(member("bea"))
    page = client.get(reverse("reviews:queue", args=[project.id])).content.decode()
    # Open tasks only: ann holds the negation one.
    assert "?tag=needs%3Acolour" in page and "?tag=negation" not in page
    card = client.get(reverse("reviews:review", args=[project.id]) + "?tag=negation")
    assert card.context_data["task"] is None  # the only negation task is ann's
    card = client.get(reverse("reviews:review", args=[project.id]) + "?tag=needs:colour")
    assert card.context_data["task"].pair_id == plain.pair.id
    assert "tag=needs%3Acolour" in card.context_data["filter_qs"]
    assert ReviewTask.objects.filter(claimed_by__username="bea").count() == 1
