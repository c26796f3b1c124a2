"""The review card's rules: the LLM's cited rules (id and text) and the ticks a reviewer
gives when they disagree, stored with their label."""

import pytest
from django.test import Client
from django.urls import reverse

from annotation.models import Label, LabelSource
from annotation.rulebook import RuleSpec, rule_save
from reviews.models import ReviewTask
from reviews.services.route import route_pairs

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def ann_client(member):
    client = Client()
    client.force_login(member("ann"))
    return client


@pytest.fixture
def task_with_rules(project, policy, judge):
    rule_save(project, RuleSpec("colour", "A product in another colour is irrelevant."))
    rule_save(project, RuleSpec("boots", "Ankle boots are not knee-high boots.", category="boots"))
    rule_save(project, RuleSpec("neg", "Negations hold.", query_tag="negation"))
    judged = judge(value=1, confidence=0.3)
    judged.judgment.applied_rules = ["colour"]
    judged.judgment.save(update_fields=["applied_rules"])
    route_pairs(project=project, pair_ids=[judged.pair.id])
    return ReviewTask.objects.get(pair=judged.pair)


def test_the_card_shows_the_rules_the_llm_applied_and_ticks_for_the_rules_in_scope(
    project, ann_client, task_with_rules
):
    page = ann_client.get(reverse("reviews:review", args=[project.id]), **HTMX).content.decode()

    assert "Rules the LLM applied" in page
    assert "<code>colour</code> A product in another colour is irrelevant." in page
    assert 'name="applied_rules" value="colour"' in page
    # Out of scope: the product is no boot and the query carries no negation tag.
    assert 'value="boots"' not in page and 'value="neg"' not in page


def test_a_blind_card_shows_no_llm_rules_but_still_the_ticks(project, ann_client, task_with_rules):
    ReviewTask.objects.filter(id=task_with_rules.id).update(blind=True)
    page = ann_client.get(reverse("reviews:review", args=[project.id]), **HTMX).content.decode()
    assert "Rules the LLM applied" not in page
    assert 'name="applied_rules" value="colour"' in page


def test_the_ticked_rules_are_stored_with_the_human_label_and_unknown_ids_dropped(project, ann_client, task_with_rules):
    ann_client.get(reverse("reviews:review", args=[project.id]), **HTMX)
    url = reverse("reviews:submit", args=[project.id, task_with_rules.id])

    answer = ann_client.post(url, {"value": 0, "applied_rules": ["colour", "made-up"]}, **HTMX)

    assert answer.status_code == 200
    label = Label.objects.get(pair_id=task_with_rules.pair_id, source=LabelSource.HUMAN)
    assert (label.value, label.applied_rules) == (0, ["colour"])
