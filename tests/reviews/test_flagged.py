"""The lead's page of flagged tasks: listing, back to the queue, drop; leads only, CSRF,
conditional (a flag is answered once)."""

import pytest
from django.test import Client
from django.urls import reverse

from annotation.models import ProductImage, Role
from reviews.models import ReviewTask
from reviews.services.errors import ReviewError
from reviews.services.evaluate import unrouted_pair_ids
from reviews.services.queue import task_claim_next, task_flag, task_flag_resolve
from reviews.services.route import route_pairs

from .lead_actions import assert_lead_actions

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def flagged(project, policy, judge, member):
    """A task an annotator flagged with a comment that tries to inject markup."""
    doubtful = judge(value=1, confidence=0.3)
    route_pairs(project=project, pair_ids=[doubtful.pair.id])
    ann = member("ann")
    task = task_claim_next(project=project, user=ann)
    task_flag(task=task, user=ann, comment="<b>image</b> shows another product")
    task.refresh_from_db()
    return task


def client_of(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def resolve_url(task) -> str:
    return reverse("reviews:flag_resolve", args=[task.project_id, task.id])


def test_a_lead_sees_flagged_tasks_with_the_comment_escaped(project, lead, flagged):
    response = client_of(lead).get(reverse("reviews:flagged", args=[project.id]))

    body = response.content.decode()
    assert response.status_code == 200
    assert f'data-task="{flagged.id}"' in body
    assert "&lt;b&gt;image&lt;/b&gt; shows another product" in body and "<b>image</b>" not in body
    assert "ann" in body


def test_annotators_may_not_see_or_answer_flags(project, member, flagged):
    bob = client_of(member("bob"))

    assert bob.get(reverse("reviews:flagged", args=[project.id])).status_code == 403
    assert bob.post(resolve_url(flagged), {"action": "reopen"}, **HTMX).status_code == 403
    flagged.refresh_from_db()
    assert flagged.status == ReviewTask.Status.FLAGGED


def test_a_foreign_project_is_a_404(project, member, lead, flagged, make_pair):
    from annotation.services import project_create

    other = project_create(name="elsewhere")
    member("lea", Role.LEAD, of=other)

    response = client_of(lead).post(
        reverse("reviews:flag_resolve", args=[other.id, flagged.id]), {"action": "drop"}, **HTMX
    )

    assert response.status_code == 404


def test_back_to_queue_lets_the_next_reviewer_label_it(project, lead, member, flagged):
    response = client_of(lead).post(resolve_url(flagged), {"action": "reopen"}, **HTMX)

    assert response.status_code == 200 and "Back in the queue" in response.content.decode()
    flagged.refresh_from_db()
    assert (flagged.status, flagged.claimed_by_id) == (ReviewTask.Status.OPEN, None)
    assert task_claim_next(project=project, user=member("cy")).id == flagged.id


def test_a_dropped_pair_is_never_routed_to_humans_again(project, lead, member, flagged, run_of):
    run = run_of("A", [flagged.pair])
    client_of(lead).post(resolve_url(flagged), {"action": "drop"}, **HTMX)

    flagged.refresh_from_db()
    assert flagged.status == ReviewTask.Status.DROPPED
    assert task_claim_next(project=project, user=member("cy")) is None
    # "Evaluate run" and "fill the holes" route again what they find unrouted.
    assert unrouted_pair_ids(run) == []
    route_pairs(project=project, pair_ids=[flagged.pair_id])
    assert list(ReviewTask.objects.filter(pair_id=flagged.pair_id).values_list("status", flat=True)) == ["dropped"]


def test_a_flag_is_answered_once(project, lead, flagged):
    task_flag_resolve(task=flagged, user=lead, action="drop")

    response = client_of(lead).post(resolve_url(flagged), {"action": "reopen"}, **HTMX)

    assert response.status_code == 409 and "already handled" in response.content.decode()
    flagged.refresh_from_db()
    assert flagged.status == ReviewTask.Status.DROPPED


def test_an_unknown_action_is_a_400(project, lead, flagged):
    with pytest.raises(ReviewError) as refused:
        task_flag_resolve(task=flagged, user=lead, action="delete")

    assert refused.value.status == 400


def test_answering_a_flag_needs_the_csrf_token(project, lead, flagged):
    client = client_of(lead, enforce_csrf_checks=True)

    assert client.post(resolve_url(flagged), {"action": "reopen"}, **HTMX).status_code == 403
    page = client.get(reverse("reviews:flagged", args=[project.id]))
    token = page.cookies["csrftoken"].value
    assert client.post(resolve_url(flagged), {"action": "reopen"}, HTTP_X_CSRFTOKEN=token, **HTMX).status_code == 200


def test_a_plain_form_post_redirects_back_to_the_list(project, lead, flagged):
    response = client_of(lead).post(resolve_url(flagged), {"action": "drop"})

    assert response.status_code == 302 and response["Location"] == reverse("reviews:flagged", args=[project.id])


def test_back_to_queue_keeps_who_flagged_it_and_shows_the_comment_to_the_next_reviewer(project, lead, member, flagged):
    client_of(lead).post(resolve_url(flagged), {"action": "reopen"}, **HTMX)
    flagged.refresh_from_db()
    assert (flagged.status, flagged.claimed_by, flagged.flagged_by.username) == ("open", None, "ann")

    card = client_of(member("bob")).get(reverse("reviews:review", args=[project.id])).content.decode()

    assert f'data-task="{flagged.id}"' in card
    assert 'class="rv-flag-note"' in card and "by ann:" in card
    assert "<q>&lt;b&gt;image&lt;/b&gt; shows another product</q>" in card


def test_a_task_never_flagged_shows_no_flag_note(project, policy, judge, member):
    doubtful = judge(value=1, confidence=0.3)
    route_pairs(project=project, pair_ids=[doubtful.pair.id])

    card = client_of(member("bob")).get(reverse("reviews:review", args=[project.id])).content.decode()

    assert "data-task=" in card and "rv-flag-note" not in card


def test_the_flagged_page_shows_the_products_thumbnail(project, lead, flagged):
    image = ProductImage.objects.create(
        product_id=flagged.pair.product_id,
        position=0,
        source="x",
        status="stored",
        stored_name="ab/x.jpg",
        sha256="c" * 64,
    )

    body = client_of(lead).get(reverse("reviews:flagged", args=[project.id])).content.decode()

    assert f'src="{reverse("product_image", args=[image.id])}"' in body
    assert reverse("judging:pair_detail", args=[project.id, flagged.pair_id]) in body


def action_url(task) -> str:
    return reverse("reviews:flag_action", args=[task.project_id, task.id])


def test_send_to_adjudication_from_the_flagged_page_closes_the_flag(project, lead, flagged):
    response = client_of(lead).post(action_url(flagged), {"action": "adjudicate"}, **HTMX)

    assert response.status_code == 200
    assert "Sent to adjudication" in response.content.decode()
    flagged.refresh_from_db()
    assert flagged.status == ReviewTask.Status.DROPPED  # out of the annotators' queue
    adjudication = ReviewTask.objects.get(pair=flagged.pair, kind=ReviewTask.Kind.ADJUDICATION)
    assert adjudication.status == ReviewTask.Status.OPEN
    assert not client_of(lead).get(reverse("reviews:flagged", args=[project.id])).context["page"].object_list


def test_override_gold_from_the_flagged_page_records_the_leads_label_with_provenance(project, lead, flagged):
    response = client_of(lead).post(action_url(flagged), {"action": "override", "value": "2"}, **HTMX)

    assert response.status_code == 200
    # Value 2 is the third level: key 3.
    assert "Gold set to 3 · highly relevant by you" in response.content.decode()
    flagged.refresh_from_db()
    flagged.pair.refresh_from_db()
    assert (flagged.pair.gold_value, flagged.pair.gold_provenance) == (2, "adjudicated")
    assert flagged.status == ReviewTask.Status.DONE
    assert (flagged.label.value, flagged.label.user_id, flagged.label.source) == (2, lead.id, "human")


def test_flag_actions_are_for_leads_answered_once_and_need_a_label_to_override(project, lead, member, flagged):
    assert client_of(member("bob")).post(action_url(flagged), {"action": "adjudicate"}, **HTMX).status_code == 403
    lead_client = client_of(lead)
    missing = lead_client.post(action_url(flagged), {"action": "override", "value": ""}, **HTMX)
    assert missing.status_code == 400 and "choose the gold label" in missing.content.decode()
    flagged.refresh_from_db()
    assert flagged.status == ReviewTask.Status.FLAGGED  # a refused action changes nothing

    assert lead_client.post(action_url(flagged), {"action": "adjudicate"}, **HTMX).status_code == 200
    again = lead_client.post(action_url(flagged), {"action": "override", "value": "1"}, **HTMX)

    assert again.status_code == 409 and "already handled" in again.content.decode()
    flagged.pair.refresh_from_db()
    assert flagged.pair.gold_value is None  # the second answer wrote nothing
    assert ReviewTask.objects.filter(pair=flagged.pair, kind=ReviewTask.Kind.ADJUDICATION).count() == 1


def test_the_flagged_page_filters_by_queue_reason(project, policy, judge, member, lead, flagged):
    other = judge(value=1, confidence=0.3)
    route_pairs(project=project, pair_ids=[other.pair.id])
    ann = member("ann2")
    task = task_claim_next(project=project, user=ann)
    task_flag(task=task, user=ann, comment="audit pair")
    ReviewTask.objects.filter(id=task.id).update(reason="audit")
    page = reverse("reviews:flagged", args=[project.id])
    lead_client = client_of(lead)

    everything = lead_client.get(page)
    audits = lead_client.get(page, {"reason": "audit"})
    unknown = lead_client.get(page, {"reason": "nonsense"})

    assert {t.id for t in everything.context["page"]} == {flagged.id, task.id}
    assert [t.id for t in audits.context["page"]] == [task.id]
    assert {t.id for t in unknown.context["page"]} == {flagged.id, task.id}
    assert 'value="audit" selected' in audits.content.decode()
    assert {value: n for value, _, n in everything.context["reasons"]} == {"audit": 1, flagged.reason: 1}


def test_flagged_rows_offer_the_shared_lead_actions_also_after_a_refused_answer(project, lead, flagged):
    levels = dict(project.levels.values_list("value", "name"))
    client = client_of(lead)

    page = client.get(reverse("reviews:flagged", args=[project.id])).content.decode()
    refused = client.post(resolve_url(flagged), {"action": "delete"}, **HTMX)

    assert_lead_actions(page, action_url(flagged), f"flag-{flagged.id}", levels)
    # The row comes back in place of the old one (a 400 is swapped too): still every gold choice.
    assert refused.status_code == 400
    assert_lead_actions(refused.content.decode(), action_url(flagged), f"flag-{flagged.id}", levels)
