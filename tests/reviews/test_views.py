"""The review pages over HTTP: fragments vs pages, CSRF, roles, stale submits, blind
cards and escaping. Data comes from the ORM and reviews.services (fixtures in
tests/reviews/conftest.py)."""

import uuid

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from annotation.models import (
    GoldProvenance,
    Label,
    LabelSource,
    Pair,
    SearchResult,
    SearchRun,
)
from annotation.services import project_create
from judging.models import Guideline, JudgeJob, Judgment
from reviews.models import Reason, ReviewTask, RoutingPolicy, TaskSkip
from reviews.services.queue import task_claim_next
from reviews.services.route import route_pairs

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
LLM_SAYS = "The LLM thinks the colour matches: BLUE-SECRET-RATIONALE"


@pytest.fixture
def ann(member):
    return member("ann")


@pytest.fixture
def ann_client(ann):
    client = Client()
    client.force_login(ann)
    return client


@pytest.fixture
def lead_client(lead):
    client = Client()
    client.force_login(lead)
    return client


@pytest.fixture
def doubtful(project, policy, judge):
    """doubtful(n) → n routed pairs (low confidence, the LLM says 1), their tasks open."""

    def make(n: int = 1, **judge_kwargs) -> list[ReviewTask]:
        judged = [judge(value=1, confidence=0.3, **judge_kwargs) for _ in range(n)]
        for j in judged:
            j.judgment.rationale = LLM_SAYS
            j.judgment.save(update_fields=["rationale"])
        route_pairs(project=project, pair_ids=[j.pair.id for j in judged])
        return list(ReviewTask.objects.filter(pair__in=[j.pair for j in judged]).order_by("id"))

    return make


def guideline_for(pair: Pair, requirements: list[dict], text: str = "Judge the colour first.") -> Guideline:
    return Guideline.objects.create(
        cache_key=uuid.uuid4().hex,
        model="fake-guide",
        prompt_version="g1",
        project_id=pair.project_id,
        query=pair.query,
        version=1,
        requirements=requirements,
        text=text,
    )


def review_url(project, **params) -> str:
    url = reverse("reviews:review", args=[project.id])
    if params:
        url += "?" + "&".join(f"{k}={v}" for k, v in params.items())
    return url


def submit_url(task) -> str:
    return reverse("reviews:submit", args=[task.project_id, task.id])


def human_labels(user) -> list[tuple[int, int]]:
    return list(
        Label.objects.filter(user=user, source=LabelSource.HUMAN).order_by("id").values_list("pair_id", "value")
    )


# --- the queue page -------------------------------------------------------------------------


def test_the_queue_counts_waiting_label_tasks_per_reason(project, ann_client, doubtful, judge):
    doubtful(2)
    styled = judge(value=2, confidence=0.95, tags=["style-sensitive"])
    route_pairs(project=project, pair_ids=[styled.pair.id])

    response = ann_client.get(reverse("reviews:queue", args=[project.id]))

    assert response.status_code == 200
    assert response.context_data["total"] == 3
    assert {(r.reason, r.count) for r in response.context_data["per_reason"]} == {
        (Reason.LOW_CONFIDENCE, 2),
        (Reason.STYLE_SENSITIVE, 1),
    }
    content = response.content.decode()
    assert f'href="?reason={Reason.LOW_CONFIDENCE}"' in content
    assert review_url(project) in content
    assert "Adjudicate" not in content  # annotators do not see the lead's queue


def test_the_queue_filters_by_reason_and_starts_the_review_with_it(project, ann_client, doubtful):
    doubtful(1)

    response = ann_client.get(reverse("reviews:queue", args=[project.id]), {"reason": Reason.LOW_CONFIDENCE})

    assert response.context_data["selected_count"] == 1
    assert review_url(project, reason=Reason.LOW_CONFIDENCE) in response.content.decode()


def test_a_lead_sees_the_adjudication_queue(project, lead_client, doubtful):
    [task] = doubtful(1)
    ReviewTask.objects.create(
        project=project,
        pair=task.pair,
        kind=ReviewTask.Kind.ADJUDICATION,
        reason=Reason.HUMAN_DISAGREEMENT,
        policy_version=1,
    )

    response = lead_client.get(reverse("reviews:queue", args=[project.id]))

    assert response.context_data["adjudication_total"] == 1
    assert review_url(project, kind="adjudication") in response.content.decode()


# --- the review card ------------------------------------------------------------------------


def test_the_review_page_is_a_whole_page_and_an_htmx_fragment(project, ann, ann_client, doubtful):
    [task] = doubtful(1)

    page = ann_client.get(review_url(project))
    fragment = ann_client.get(review_url(project), **HTMX)

    assert page.status_code == fragment.status_code == 200
    assert "<html" in page.content.decode() and "review-keys.js" in page.content.decode()
    body = fragment.content.decode()
    assert "<html" not in body
    assert body.lstrip().startswith('<div id="review-card"')
    assert f'data-task="{task.id}"' in body
    assert "HX-Request" in fragment["Vary"]
    task.refresh_from_db()
    assert (task.status, task.claimed_by) == (ReviewTask.Status.CLAIMED, ann)


def test_the_card_shows_query_product_guideline_requirements_and_scale(project, ann_client, doubtful):
    [task] = doubtful(1)
    guideline_for(
        task.pair,
        [
            {"attribute": "colour", "value": "navy blue", "importance": 0.8, "negated": False},
            {"attribute": "material", "value": "polyester", "importance": 0.3, "negated": True},
        ],
        text="Navy counts as blue; polyester is not wanted.",
    )

    response = ann_client.get(review_url(project), **HTMX)

    content = response.content.decode()
    assert task.pair.query.text in content and task.pair.product.title in content
    assert "navy blue" in content and "polyester" in content
    assert "width: 80%" in content and "width: 30%" in content
    assert 'class="rv-negated"' in content
    assert "Navy counts as blue; polyester is not wanted." in content
    assert [row["negated"] for row in response.context_data["requirements"]] == [False, True]
    for key, name in ((1, "irrelevant"), (2, "acceptable substitute"), (3, "highly relevant")):
        assert f'data-key="{key}"' in content and name in content
    assert content.count('hx-disabled-elt="this"') >= 3
    assert "Low LLM confidence" in content  # the task's reason as a badge


def test_a_non_blind_card_shows_the_llm_label_and_rationale(project, ann_client, doubtful):
    doubtful(1)

    content = ann_client.get(review_url(project), **HTMX).content.decode()

    assert "BLUE-SECRET-RATIONALE" in content
    assert "confidence 0.30" in content


def test_a_blind_audit_card_never_contains_the_llm_label_or_rationale(project, ann_client, judge):
    RoutingPolicy.objects.create(project=project, version=1, audit_rate=1.0)
    audited = judge(value=2, confidence=0.97)
    audited.judgment.rationale = LLM_SAYS
    audited.judgment.save(update_fields=["rationale"])
    route_pairs(project=project, pair_ids=[audited.pair.id])
    assert ReviewTask.objects.get(pair=audited.pair).blind

    response = ann_client.get(review_url(project))

    content = response.content.decode()
    assert response.context_data["task"].blind
    assert response.context_data["llm"] is None
    assert "BLUE-SECRET-RATIONALE" not in content
    assert "0.97" not in content
    assert "LLM label" not in content
    assert "Blind audit" in content


def test_llm_rationale_and_product_text_are_escaped(project, ann_client, doubtful):
    [task] = doubtful(1)
    task.pair.product.title = '<img src=x onerror="alert(2)">'
    task.pair.product.save(update_fields=["title"])
    Judgment.objects.filter(pair=task.pair).update(rationale="<script>alert(1)</script>")

    content = ann_client.get(review_url(project), **HTMX).content.decode()

    assert "<script>alert(1)</script>" not in content
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content
    assert '<img src=x onerror="alert(2)">' not in content


def test_an_empty_queue_shows_a_friendly_card(project, ann_client, policy):
    response = ann_client.get(review_url(project), **HTMX)

    assert response.status_code == 200
    assert response.context_data["task"] is None
    assert "The queue is empty" in response.content.decode()


def test_an_unknown_reason_filter_is_ignored(project, ann_client, doubtful):
    [task] = doubtful(1)

    response = ann_client.get(review_url(project, reason="gold__isnull"), **HTMX)

    assert response.context_data["task"].id == task.id


# --- submit, skip, flag, undo ---------------------------------------------------------------


def test_a_submit_records_the_label_and_returns_the_next_card(project, ann, ann_client, doubtful):
    doubtful(2)
    ann_client.get(review_url(project), **HTMX)
    shown = ReviewTask.objects.get(claimed_by=ann)

    response = ann_client.post(submit_url(shown), {"value": 2, "time_spent_ms": "4321"}, **HTMX)

    assert response.status_code == 200
    following = response.context_data["task"]
    assert following is not None and following.id != shown.id
    assert f'data-task="{following.id}"' in response.content.decode()
    assert human_labels(ann) == [(shown.pair_id, 2)]
    shown.refresh_from_db()
    assert (shown.status, shown.time_spent_ms) == (ReviewTask.Status.DONE, 4321)
    pair = Pair.objects.get(id=shown.pair_id)
    assert (pair.gold_value, pair.gold_provenance) == (2, GoldProvenance.HUMAN)
    assert response.context_data["labels_today"] == 1
    assert response.context_data["queue_size"] == 0  # the other task is claimed for the next card


def test_a_second_submit_of_the_same_task_is_a_409_and_adds_no_label(project, ann, ann_client, doubtful):
    doubtful(2)
    ann_client.get(review_url(project), **HTMX)
    shown = ReviewTask.objects.get(claimed_by=ann)
    assert ann_client.post(submit_url(shown), {"value": 2}, **HTMX).status_code == 200

    again = ann_client.post(submit_url(shown), {"value": 0}, **HTMX)

    assert again.status_code == 409
    assert "no longer yours" in again.content.decode()
    assert again.content.decode().lstrip().startswith('<div id="review-card"')
    assert human_labels(ann) == [(shown.pair_id, 2)]


def test_a_submit_without_htmx_redirects_to_the_review_page(project, ann, ann_client, doubtful):
    doubtful(1)
    ann_client.get(review_url(project, reason=Reason.LOW_CONFIDENCE))
    shown = ReviewTask.objects.get(claimed_by=ann)

    response = ann_client.post(submit_url(shown) + f"?reason={Reason.LOW_CONFIDENCE}", {"value": 1})

    assert response.status_code == 302
    assert response["Location"] == review_url(project, reason=Reason.LOW_CONFIDENCE)
    assert human_labels(ann) == [(shown.pair_id, 1)]


@pytest.mark.parametrize("value", ["7", "", "two", "-1"])
def test_a_value_outside_the_scale_is_a_400(project, ann, ann_client, doubtful, value):
    doubtful(1)
    ann_client.get(review_url(project), **HTMX)
    shown = ReviewTask.objects.get(claimed_by=ann)

    response = ann_client.post(submit_url(shown), {"value": value}, **HTMX)

    assert response.status_code == 400
    assert human_labels(ann) == []
    shown.refresh_from_db()
    assert shown.status == ReviewTask.Status.CLAIMED


def test_skip_hands_the_task_back_and_shows_the_next_one(project, ann, ann_client, doubtful):
    doubtful(2)
    ann_client.get(review_url(project), **HTMX)
    shown = ReviewTask.objects.get(claimed_by=ann)

    response = ann_client.post(reverse("reviews:skip", args=[project.id, shown.id]), **HTMX)

    assert response.status_code == 200
    assert response.context_data["task"].id != shown.id
    assert TaskSkip.objects.filter(task=shown, user=ann).exists()
    shown.refresh_from_db()
    assert shown.status == ReviewTask.Status.OPEN


def test_flag_needs_a_comment_and_takes_the_task_out_of_the_queue(project, ann, ann_client, doubtful):
    doubtful(1)
    ann_client.get(review_url(project), **HTMX)
    shown = ReviewTask.objects.get(claimed_by=ann)
    url = reverse("reviews:flag", args=[project.id, shown.id])

    refused = ann_client.post(url, {"comment": "   "}, **HTMX)
    flagged = ann_client.post(url, {"comment": "the image shows a different shoe"}, **HTMX)

    assert refused.status_code == 400
    assert flagged.status_code == 200 and flagged.context_data["task"] is None
    shown.refresh_from_db()
    assert (shown.status, shown.flag_comment) == (ReviewTask.Status.FLAGGED, "the image shows a different shoe")


def test_undo_reopens_the_last_submit_and_shows_its_card_again(project, ann, ann_client, doubtful):
    doubtful(2)
    ann_client.get(review_url(project), **HTMX)
    shown = ReviewTask.objects.get(claimed_by=ann)
    after_submit = ann_client.post(submit_url(shown), {"value": 2}, **HTMX)
    assert reverse("reviews:undo", args=[project.id, shown.id]) in after_submit.content.decode()

    response = ann_client.post(reverse("reviews:undo", args=[project.id, shown.id]), **HTMX)

    assert response.status_code == 200
    assert response.context_data["task"].id == shown.id
    shown.refresh_from_db()
    assert shown.status == ReviewTask.Status.CLAIMED
    assert Pair.objects.get(id=shown.pair_id).gold_value is None
    # The next submit of the same task is accepted again and becomes the gold.
    assert ann_client.post(submit_url(shown), {"value": 0}, **HTMX).status_code == 200
    assert Pair.objects.get(id=shown.pair_id).gold_value == 0


def test_undo_of_a_task_that_is_not_done_is_a_409(project, ann, ann_client, doubtful):
    doubtful(1)
    ann_client.get(review_url(project), **HTMX)
    shown = ReviewTask.objects.get(claimed_by=ann)

    response = ann_client.post(reverse("reviews:undo", args=[project.id, shown.id]), **HTMX)

    assert response.status_code == 409


def test_the_session_counter_counts_todays_human_labels_of_the_user(project, ann, ann_client, doubtful, judge):
    *_, third = doubtful(3)
    for _ in range(2):
        task = task_claim_next(project=project, user=ann)
        ann_client.post(submit_url(task), {"value": 1}, **HTMX)
    Label.objects.create(project=project, pair=third.pair, source=LabelSource.LLM, rater="gpt", value=1)

    response = ann_client.get(review_url(project), **HTMX)

    assert response.context_data["labels_today"] == 2
    assert "Labelled today <strong data-labels-today>2</strong>" in response.content.decode()


def test_a_lead_adjudicates_with_every_human_label_and_the_llm_label_shown(
    project, lead, lead_client, member, doubtful
):
    [task] = doubtful(1)
    for name, value in (("ann", 2), ("bob", 0)):
        Label.objects.create(
            project=project, pair=task.pair, source=LabelSource.HUMAN, rater=name, user=member(name), value=value
        )
    adjudication = ReviewTask.objects.create(
        project=project,
        pair=task.pair,
        kind=ReviewTask.Kind.ADJUDICATION,
        reason=Reason.HUMAN_DISAGREEMENT,
        reasons=[Reason.HUMAN_DISAGREEMENT],
        policy_version=1,
    )

    page = lead_client.get(review_url(project, kind="adjudication"), **HTMX)
    decided = lead_client.post(submit_url(adjudication), {"value": 2}, **HTMX)

    content = page.content.decode()
    assert page.context_data["task"].id == adjudication.id
    assert [(h["rater"], h["value"]) for h in page.context_data["human_labels"]] == [("ann", 2), ("bob", 0)]
    assert "BLUE-SECRET-RATIONALE" in content and "Humans disagree" in content
    assert decided.status_code == 200
    pair = Pair.objects.get(id=task.pair_id)
    assert (pair.gold_value, pair.gold_provenance) == (2, GoldProvenance.ADJUDICATED)


# --- CSRF -------------------------------------------------------------------------------------


def test_posts_need_the_csrf_token_that_the_page_puts_in_hx_headers(project, ann, doubtful):
    doubtful(1)
    client = Client(enforce_csrf_checks=True)
    client.force_login(ann)
    page = client.get(review_url(project)).content.decode()
    shown = ReviewTask.objects.get(claimed_by=ann)
    token = client.cookies["csrftoken"].value

    refused = client.post(submit_url(shown), {"value": 1}, **HTMX)
    accepted = client.post(submit_url(shown), {"value": 1}, HTTP_X_CSRFTOKEN=token, **HTMX)

    assert 'hx-headers=\'{"X-CSRFToken": "' in page
    assert refused.status_code == 403
    assert accepted.status_code == 200
    assert human_labels(ann) == [(shown.pair_id, 1)]


@pytest.mark.parametrize("name", ["skip", "flag", "undo", "policy", "policy_preview", "run_evaluate"])
def test_every_state_change_refuses_a_post_without_csrf_token(project, lead, judge, run_of, name, policy):
    pair = judge(value=1, confidence=0.3).pair
    route_pairs(project=project, pair_ids=[pair.id])
    task = task_claim_next(project=project, user=lead)
    run = run_of("A", [pair])
    client = Client(enforce_csrf_checks=True)
    client.force_login(lead)
    args = {
        "skip": [project.id, task.id],
        "flag": [project.id, task.id],
        "undo": [project.id, task.id],
        "policy": [project.id],
        "policy_preview": [project.id],
        "run_evaluate": [project.id, run.id],
    }[name]

    response = client.post(reverse(f"reviews:{name}", args=args), {"comment": "x", "min_confidence": "0.9"})

    assert response.status_code == 403
    task.refresh_from_db()
    assert task.status == ReviewTask.Status.CLAIMED
    assert RoutingPolicy.objects.filter(project=project).count() == 1
    assert not JudgeJob.objects.exists()


# --- roles and access -------------------------------------------------------------------------


def policy_form(**overrides) -> dict:
    data = {
        "min_confidence": "0.7",
        "route_sample_disagreement": "on",
        "route_style_sensitive": "on",
        "style_keywords": "",
        "route_invalid": "on",
        "audit_rate": "0",
        "humans_per_pair": "1",
        "note": "",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize(
    "method, name, extra",
    [
        ("get", "policy", None),
        ("post", "policy", policy_form(min_confidence="0.9")),
        ("post", "policy_preview", policy_form(min_confidence="0.9")),
        ("get", "review", {"kind": "adjudication"}),
        ("post", "run_evaluate", None),
    ],
)
def test_annotators_may_not_use_the_lead_pages(project, ann_client, policy, judge, run_of, method, name, extra):
    run = run_of("A", [judge().pair])
    args = [project.id, run.id] if name == "run_evaluate" else [project.id]
    url = reverse(f"reviews:{name}", args=args)

    response = getattr(ann_client, method)(url, extra or {})

    assert response.status_code == 403
    assert RoutingPolicy.objects.filter(project=project).count() == 1
    assert not JudgeJob.objects.exists()


def test_an_annotator_may_not_submit_an_adjudication_task(project, ann, ann_client, doubtful):
    [task] = doubtful(1)
    adjudication = ReviewTask.objects.create(
        project=project,
        pair=task.pair,
        kind=ReviewTask.Kind.ADJUDICATION,
        reason=Reason.HUMAN_DISAGREEMENT,
        policy_version=1,
        status=ReviewTask.Status.OPEN,
    )

    assert ann_client.post(submit_url(adjudication), {"value": 2}, **HTMX).status_code == 403
    assert human_labels(ann) == []


@pytest.fixture
def foreign(judge):
    """A second project with a routed pair, a run, and a user who belongs only there."""
    other = project_create(name="electronics-FR")
    RoutingPolicy.objects.create(project=other, version=1, audit_rate=0)
    pair = judge(value=1, confidence=0.2, of=other).pair
    route_pairs(project=other, pair_ids=[pair.id])
    task = ReviewTask.objects.get(pair=pair)
    run = SearchRun.objects.create(project=other, name="secret-run")
    SearchResult.objects.create(run=run, query_id=pair.query_id, product_id=pair.product_id, pair=pair, rank=1)
    return {"project": other, "task": task, "run": run}


def urls_of(project_id: int, task_id: int, run_id: int) -> list[tuple[str, str]]:
    return [
        ("get", reverse("reviews:queue", args=[project_id])),
        ("get", reverse("reviews:review", args=[project_id])),
        ("post", reverse("reviews:submit", args=[project_id, task_id])),
        ("post", reverse("reviews:skip", args=[project_id, task_id])),
        ("post", reverse("reviews:flag", args=[project_id, task_id])),
        ("post", reverse("reviews:undo", args=[project_id, task_id])),
        ("get", reverse("reviews:policy", args=[project_id])),
        ("post", reverse("reviews:policy_preview", args=[project_id])),
        ("get", reverse("reviews:run_status", args=[project_id, run_id])),
        ("post", reverse("reviews:run_evaluate", args=[project_id, run_id])),
    ]


def test_a_non_member_gets_404_everywhere(project, lead_client, foreign):
    # A lead of one project is a stranger to the other: no page, no task, no run.
    other = foreign
    for method, url in urls_of(other["project"].id, other["task"].id, other["run"].id):
        response = getattr(lead_client, method)(url, {"value": 1, "comment": "x"})
        assert response.status_code == 404, url
    other["task"].refresh_from_db()
    assert other["task"].status == ReviewTask.Status.OPEN


def test_a_task_of_another_project_is_404_under_the_users_own_project(project, ann_client, doubtful, foreign):
    doubtful(1)
    task = foreign["task"]

    for name in ("submit", "skip", "flag", "undo"):
        response = ann_client.post(
            reverse(f"reviews:{name}", args=[project.id, task.id]), {"value": 1, "comment": "x"}, **HTMX
        )
        assert response.status_code == 404, name
    assert ann_client.get(reverse("reviews:run_status", args=[project.id, foreign["run"].id])).status_code == 404
    task.refresh_from_db()
    assert task.status == ReviewTask.Status.OPEN and not Label.objects.filter(pair=task.pair, source="human").exists()


def test_anonymous_users_are_sent_to_the_login_page(project, client):
    response = client.get(reverse("reviews:queue", args=[project.id]))

    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


# --- routing policy -----------------------------------------------------------------------------


def test_the_policy_page_shows_the_current_version_as_a_form_with_a_live_preview(project, lead_client, policy):
    response = lead_client.get(reverse("reviews:policy", args=[project.id]))

    content = response.content.decode()
    assert response.status_code == 200
    assert response.context_data["form"].initial["min_confidence"] == 0.7
    assert 'hx-trigger="input changed delay:300ms' in content
    assert reverse("reviews:policy_preview", args=[project.id]) in content
    assert "v1" in content


def test_the_preview_counts_what_would_move_without_changing_anything(project, lead_client, policy, judge):
    confident = [judge(value=2, confidence=c) for c in (0.8, 0.85, 0.95)]
    unsure = judge(value=1, confidence=0.5)
    route_pairs(project=project, pair_ids=[j.pair.id for j in confident + [unsure]])
    before = list(Pair.objects.order_by("id").values_list("gold_value", "gold_provenance"))

    stricter = lead_client.post(
        reverse("reviews:policy_preview", args=[project.id]), policy_form(min_confidence="0.9"), **HTMX
    )
    looser = lead_client.post(
        reverse("reviews:policy_preview", args=[project.id]), policy_form(min_confidence="0.4"), **HTMX
    )

    assert stricter.status_code == looser.status_code == 200
    assert stricter.content.decode().lstrip().startswith('<section id="policy-preview"')
    assert (stricter.context_data["preview"]["to_humans"], stricter.context_data["preview"]["to_llm"]) == (2, 0)
    assert stricter.context_data["preview"]["reasons"] == [("Low LLM confidence", 2)]
    assert (looser.context_data["preview"]["to_humans"], looser.context_data["preview"]["to_llm"]) == (0, 1)
    assert list(Pair.objects.order_by("id").values_list("gold_value", "gold_provenance")) == before
    assert RoutingPolicy.objects.filter(project=project).count() == 1


def test_an_invalid_preview_shows_no_counts(project, lead_client, policy):
    response = lead_client.post(
        reverse("reviews:policy_preview", args=[project.id]), policy_form(min_confidence="7"), **HTMX
    )

    assert response.status_code == 200
    assert response.context_data["preview"] is None


def test_apply_saves_a_new_version_and_reroutes(project, lead, lead_client, policy, judge):
    confident = judge(value=2, confidence=0.8)
    route_pairs(project=project, pair_ids=[confident.pair.id])

    response = lead_client.post(
        reverse("reviews:policy", args=[project.id]),
        policy_form(min_confidence="0.9", style_keywords="Elegant, boho", note="stricter"),
    )

    assert response.status_code == 302
    new = RoutingPolicy.objects.get(project=project, version=2)
    assert (new.min_confidence, new.style_keywords, new.note, new.created_by) == (
        0.9,
        ["elegant", "boho"],
        "stricter",
        lead,
    )
    task = ReviewTask.objects.get(pair=confident.pair)
    assert (task.reason, task.policy_version) == (Reason.LOW_CONFIDENCE, 2)
    page = lead_client.get(reverse("reviews:policy", args=[project.id]))
    assert "Saved version 2: 1 pair(s) sent to humans" in page.content.decode()
    assert [v.version for v in page.context_data["versions"]] == [2, 1]


def test_apply_without_a_change_saves_no_version(project, lead_client, policy):
    response = lead_client.post(reverse("reviews:policy", args=[project.id]), policy_form(), follow=True)

    assert RoutingPolicy.objects.filter(project=project).count() == 1
    assert "Nothing changed" in response.content.decode()


def test_apply_with_invalid_values_is_a_400_with_the_errors(project, lead_client, policy):
    response = lead_client.post(reverse("reviews:policy", args=[project.id]), policy_form(humans_per_pair="9"))

    assert response.status_code == 400
    assert response.context_data["form"].errors["humans_per_pair"]
    assert RoutingPolicy.objects.filter(project=project).count() == 1


# --- run status ---------------------------------------------------------------------------------


def test_the_run_status_page_counts_and_offers_evaluate_to_leads_only(
    project, ann_client, lead_client, policy, judge, make_pair, run_of
):
    auto, unsure = judge(value=2, confidence=0.9), judge(value=1, confidence=0.3)
    run = run_of("A", [auto.pair, unsure.pair, make_pair()])
    route_pairs(project=project, pair_ids=[auto.pair.id, unsure.pair.id])
    url = reverse("reviews:run_status", args=[project.id, run.id])

    as_lead = lead_client.get(url)
    as_annotator = ann_client.get(url)

    assert as_lead.context_data["status"] == {
        "total": 3,
        "judged": 2,
        "unjudged": 1,
        "in_review": 1,
        "gold_llm-auto": 1,
    }
    assert as_lead.context_data["gold"] == [("LLM (auto-accepted)", 1)]
    evaluate = reverse("reviews:run_evaluate", args=[project.id, run.id])
    assert evaluate in as_lead.content.decode()
    assert as_annotator.status_code == 200 and evaluate not in as_annotator.content.decode()


def test_a_lead_evaluates_a_run(project, lead, lead_client, policy, judge, make_pair, run_of):
    judged, hole = judge(value=1, confidence=0.3), make_pair()
    run = run_of("A", [judged.pair, hole])

    response = lead_client.post(reverse("reviews:run_evaluate", args=[project.id, run.id]))

    assert response.status_code == 302
    assert response["Location"] == reverse("reviews:run_status", args=[project.id, run.id])
    job = JudgeJob.objects.get(run=run)
    assert (job.created_by, job.on_done) == (lead, "reviews.route_job")
    assert hole.id in job.pair_ids
    assert ReviewTask.objects.filter(pair=judged.pair).count() == 1


def test_evaluating_a_run_with_an_active_job_is_a_409(project, lead_client, policy, make_pair, run_of):
    run = run_of("A", [make_pair()])
    lead_client.post(reverse("reviews:run_evaluate", args=[project.id, run.id]))

    again = lead_client.post(reverse("reviews:run_evaluate", args=[project.id, run.id]))

    assert again.status_code == 409
    assert JudgeJob.objects.filter(run=run).count() == 1


# --- links from the annotation pages ---------------------------------------------------------------


def test_the_project_and_run_pages_link_to_the_review_pages(project, ann_client, lead_client, make_pair, run_of):
    run = run_of("A", [make_pair()])

    project_page = ann_client.get(reverse("project_detail", args=[project.id])).content.decode()
    run_page = ann_client.get(reverse("run_detail", args=[project.id, run.id])).content.decode()
    lead_page = lead_client.get(reverse("project_detail", args=[project.id])).content.decode()

    assert reverse("reviews:queue", args=[project.id]) in project_page
    assert reverse("reviews:run_status", args=[project.id, run.id]) in run_page
    lead_only = [reverse(name, args=[project.id]) for name in ("reviews:policy", "reviews:dashboard", "repeat:page")]
    assert all(url in lead_page for url in lead_only)
    assert not any(url in project_page for url in lead_only)  # annotators would get a 403 there


# --- admin ----------------------------------------------------------------------------------------


def test_the_admin_numbers_a_new_policy_version_and_shows_saved_ones_read_only(project, policy, client):
    root = get_user_model().objects.create_superuser(username="root", password="pw-root-123")
    client.force_login(root)
    data = policy_form(project=project.id, min_confidence="0.8", audit_rate="0.1", note="from admin")

    created = client.post(reverse("admin:reviews_routingpolicy_add"), data)
    change_page = client.get(reverse("admin:reviews_routingpolicy_change", args=[policy.id]))
    edit = client.post(reverse("admin:reviews_routingpolicy_change", args=[policy.id]), data)

    assert created.status_code == 302
    new = RoutingPolicy.objects.get(project=project, version=2)
    assert (new.min_confidence, new.created_by) == (0.8, root)
    assert change_page.status_code == 200 and 'name="_save"' not in change_page.content.decode()
    assert edit.status_code == 403
    policy.refresh_from_db()
    assert policy.min_confidence == 0.7
