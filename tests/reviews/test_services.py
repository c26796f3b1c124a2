"""Routing, the reviewers' queue, gold resolution and re-routing, against PostgreSQL."""

from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.access import LeadRequired
from annotation.models import GoldProvenance, Label, LabelSource, Pair, Role
from judging import prompts
from judging.models import JudgeJob, Judgment
from judging.services import judge_config_for, models_for
from reviews.dashboard.snapshot import dashboard_part
from reviews.models import Reason, ReviewTask, RoutingPolicy, TaskSkip
from reviews.routing import PolicyView
from reviews.services import queue as queue_services
from reviews.services import reroute
from reviews.services.errors import ReviewError
from reviews.services.evaluate import run_evaluate, run_status
from reviews.services.gold import gold_resolve
from reviews.services.policies import policy_current, policy_update
from reviews.services.queue import task_claim_next, task_flag, task_skip, task_submit, task_undo
from reviews.services.reroute import policy_change, reroute_apply, reroute_preview
from reviews.services.route import route_job, route_pairs
from reviews.tasks import route_job_task

pytestmark = pytest.mark.django_db

LABEL = ReviewTask.Kind.LABEL
ADJUDICATION = ReviewTask.Kind.ADJUDICATION


def tasks_of(pair) -> list[ReviewTask]:
    return list(ReviewTask.objects.filter(pair=pair).order_by("kind", "slot", "id"))


def human_labels(pair) -> list[tuple[str, int]]:
    return list(Label.objects.filter(pair=pair, source=LabelSource.HUMAN).order_by("id").values_list("rater", "value"))


def gold(pair) -> tuple:
    pair.refresh_from_db()
    return pair.gold_value, pair.gold_provenance, pair.gold_policy_version


def expire(task: ReviewTask) -> None:
    ReviewTask.objects.filter(id=task.id).update(lease_expires_at=timezone.now() - timedelta(seconds=1))


def routed(project, *judged, policy=None) -> list[ReviewTask]:
    route_pairs(project=project, pair_ids=[j.pair.id for j in judged], policy=policy)
    return list(ReviewTask.objects.filter(pair__in=[j.pair for j in judged]).order_by("pair_id", "slot"))


# --- routing ------------------------------------------------------------------------


def test_it_accepts_confident_pairs_as_llm_gold_with_the_policy_version(project, policy, judge):
    confident = judge(value=2, confidence=0.92)

    summary = route_pairs(project=project, pair_ids=[confident.pair.id])

    assert gold(confident.pair) == (2, GoldProvenance.LLM_AUTO, policy.version)
    assert tasks_of(confident.pair) == []
    assert (summary.auto_accepted, summary.to_humans, summary.skipped, summary.unjudged) == (1, 0, 0, 0)


def test_it_routes_low_confidence_pairs_to_review(project, policy, judge):
    doubtful = judge(value=1, confidence=0.4, traffic=9)

    summary = route_pairs(project=project, pair_ids=[doubtful.pair.id])

    [task] = tasks_of(doubtful.pair)
    assert (task.kind, task.slot, task.status) == (LABEL, 1, ReviewTask.Status.OPEN)
    assert task.reasons == [Reason.LOW_CONFIDENCE] and task.reason == Reason.LOW_CONFIDENCE
    assert task.priority == pytest.approx(3.0 * 10)
    assert task.policy_version == policy.version and task.blind is False
    assert gold(doubtful.pair) == (None, "", None)
    assert summary.to_humans == 1 and summary.reasons == {Reason.LOW_CONFIDENCE: 1}


def test_it_routes_each_kind_of_doubt_with_its_reasons(project, policy, judge):
    disagreeing = judge(value=2, confidence=0.9, samples=[2, 0, 2])
    styled = judge(value=2, confidence=0.9, tags=["style-sensitive"], traffic=1)
    invalid = judge(status=Judgment.Status.INVALID)
    several = judge(value=0, confidence=0.2, samples=[0, 1], tags=["style-sensitive"])

    summary = route_pairs(project=project, pair_ids=[j.pair.id for j in (disagreeing, styled, invalid, several)])

    by_pair = {t.pair_id: t for t in ReviewTask.objects.all()}
    assert by_pair[disagreeing.pair.id].reasons == [Reason.SAMPLE_DISAGREEMENT]
    assert by_pair[styled.pair.id].reasons == [Reason.STYLE_SENSITIVE]
    assert by_pair[styled.pair.id].priority == pytest.approx(2.0 * 2)
    assert by_pair[invalid.pair.id].reasons == [Reason.LLM_INVALID]
    assert by_pair[invalid.pair.id].priority == pytest.approx(5.0)
    assert by_pair[several.pair.id].reasons == [
        Reason.SAMPLE_DISAGREEMENT,
        Reason.LOW_CONFIDENCE,
        Reason.STYLE_SENSITIVE,
    ]
    assert by_pair[several.pair.id].reason == Reason.SAMPLE_DISAGREEMENT
    assert summary.to_humans == 4 and summary.auto_accepted == 0
    assert all(gold(j.pair)[0] is None for j in (disagreeing, styled, invalid, several))


def test_it_counts_pairs_without_a_judgment_as_unjudged(project, policy, make_pair):
    bare = make_pair()

    summary = route_pairs(project=project, pair_ids=[bare.id])

    assert summary.unjudged == 1 and tasks_of(bare) == [] and gold(bare) == (None, "", None)


def test_invalid_pairs_stay_holes_when_the_policy_does_not_route_them(project, judge):
    RoutingPolicy.objects.create(project=project, version=1, audit_rate=0, route_invalid=False)
    invalid = judge(status=Judgment.Status.INVALID)

    summary = route_pairs(project=project, pair_ids=[invalid.pair.id])

    assert tasks_of(invalid.pair) == [] and gold(invalid.pair) == (None, "", None)
    assert summary.auto_accepted == 0 and summary.to_humans == 0


def test_audited_pairs_go_to_humans_blind(project, judge):
    RoutingPolicy.objects.create(project=project, version=1, audit_rate=1.0)
    ordinary = judge(value=2, confidence=0.99)

    [task] = routed(project, ordinary)

    assert task.reasons == [Reason.AUDIT] and task.blind is True
    assert gold(ordinary.pair) == (None, "", None)


def test_it_uses_the_newest_judgment_of_a_pair(project, policy, judge):
    first = judge(value=0, confidence=0.3)
    judge(value=2, confidence=0.95, pair=first.pair)

    route_pairs(project=project, pair_ids=[first.pair.id])

    assert gold(first.pair) == (2, GoldProvenance.LLM_AUTO, 1) and tasks_of(first.pair) == []


@pytest.mark.parametrize("provenance", [GoldProvenance.HUMAN, GoldProvenance.ADJUDICATED, GoldProvenance.IMPORTED])
@pytest.mark.parametrize("confidence", [0.95, 0.3])
def test_routing_never_touches_gold_set_by_people_or_imported(project, policy, judge, provenance, confidence):
    settled = judge(value=2, confidence=confidence)
    Pair.objects.filter(id=settled.pair.id).update(gold_value=0, gold_provenance=provenance, gold_policy_version=None)

    summary = route_pairs(project=project, pair_ids=[settled.pair.id])

    assert gold(settled.pair) == (0, provenance, None)
    assert tasks_of(settled.pair) == []
    assert summary.skipped == 1


def test_routing_twice_adds_no_duplicate_tasks(project, judge):
    RoutingPolicy.objects.create(project=project, version=1, audit_rate=0, humans_per_pair=2)
    doubtful = [judge(value=1, confidence=0.5) for _ in range(3)]
    ids = [j.pair.id for j in doubtful]

    first = route_pairs(project=project, pair_ids=ids)
    again = route_pairs(project=project, pair_ids=ids + ids)

    assert ReviewTask.objects.count() == 6
    assert sorted(ReviewTask.objects.values_list("pair_id", "slot")) == sorted((i, s) for i in ids for s in (1, 2))
    assert first.to_humans == 3 and again.to_humans == 0 and again.skipped == 3


def test_routing_a_pair_of_another_project_does_nothing(project, policy, judge, member, make_pair):
    from annotation.services import project_create

    other = project_create(name="other")
    foreign = judge(value=2, confidence=0.95, pair=make_pair(of=other))

    route_pairs(project=project, pair_ids=[foreign.pair.id])

    assert gold(foreign.pair) == (None, "", None)


def test_route_job_routes_the_pairs_of_a_judge_job(project, policy, judge):
    confident, doubtful, outside = (
        judge(value=1, confidence=0.9),
        judge(value=1, confidence=0.2),
        judge(value=2, confidence=0.9),
    )
    job = JudgeJob.objects.create(
        project=project,
        description="t",
        backend="openai",
        mode="text",
        model="fake-judge",
        pair_ids=[confident.pair.id, doubtful.pair.id],
    )

    summary = route_job(job_id=job.id)

    assert (summary.auto_accepted, summary.to_humans) == (1, 1)
    assert gold(confident.pair)[:2] == (1, GoldProvenance.LLM_AUTO)
    assert [t.reason for t in tasks_of(doubtful.pair)] == [Reason.LOW_CONFIDENCE]
    assert gold(outside.pair) == (None, "", None) and tasks_of(outside.pair) == []


def test_the_route_job_task_body_routes_and_is_idempotent(project, policy, judge):
    doubtful = judge(value=1, confidence=0.2)
    job = JudgeJob.objects.create(
        project=project, description="t", backend="openai", mode="text", model="m", pair_ids=[doubtful.pair.id]
    )

    route_job_task(job.id)
    route_job_task(job.id)  # a re-delivered task

    assert len(tasks_of(doubtful.pair)) == 1


# --- policies -----------------------------------------------------------------------


def test_policy_current_creates_the_default_policy_once(project):
    first = policy_current(project)
    second = policy_current(project)

    assert first.id == second.id and first.version == 1
    assert RoutingPolicy.objects.filter(project=project).count() == 1


def test_policy_update_makes_a_new_version_and_leaves_the_old_one(project, policy, lead):
    newer = policy_update(project=project, user=lead, note="stricter", min_confidence=0.85, style_keywords=["elegant"])

    policy.refresh_from_db()
    assert newer.version == 2 and newer.created_by == lead and newer.note == "stricter"
    assert (newer.min_confidence, newer.style_keywords, newer.audit_rate) == (0.85, ["elegant"], 0.0)
    assert (policy.min_confidence, policy.style_keywords) == (0.7, [])
    assert policy_current(project).id == newer.id
    assert policy_update(project=project, user=lead, humans_per_pair=2).version == 3


def test_policy_update_requires_a_lead(project, policy, member):
    annotator = member("ann")

    with pytest.raises(LeadRequired):
        policy_update(project=project, user=annotator, min_confidence=0.1)

    assert RoutingPolicy.objects.filter(project=project).count() == 1


def test_a_lead_of_another_project_cannot_update_this_policy(project, policy, member):
    from annotation.services import project_create

    other_lead = member("olga", Role.LEAD, of=project_create(name="other"))

    with pytest.raises(LeadRequired):
        policy_update(project=project, user=other_lead, min_confidence=0.1)


def test_policy_update_rejects_unknown_fields(project, policy, lead):
    with pytest.raises(ValueError):
        policy_update(project=project, user=lead, version=9)


# --- the queue ----------------------------------------------------------------------


@pytest.fixture
def queue(project, policy, judge):
    """queue(*traffics) → open label tasks (low confidence), priority 3 × (1 + traffic)."""

    def make(*traffics) -> list[ReviewTask]:
        judged = [judge(value=1, confidence=0.3, traffic=t) for t in traffics]
        route_pairs(project=project, pair_ids=[j.pair.id for j in judged])
        by_pair = {t.pair_id: t for t in ReviewTask.objects.filter(pair__in=[j.pair for j in judged])}
        return [by_pair[j.pair.id] for j in judged]

    return make


def test_claim_gives_the_highest_priority_task_first(project, member, queue):
    low, high, middle = queue(0, 50, 5)
    ann = member("ann")

    claimed = task_claim_next(project=project, user=ann)

    assert claimed.id == high.id
    assert (claimed.status, claimed.claimed_by) == (ReviewTask.Status.CLAIMED, ann)
    assert claimed.lease_expires_at > timezone.now() + queue_services.LEASE - timedelta(seconds=30)
    assert task_claim_next(project=project, user=member("bob")).id == middle.id
    assert task_claim_next(project=project, user=member("cy")).id == low.id
    assert task_claim_next(project=project, user=member("dee")) is None


def test_equal_priorities_are_served_oldest_first(project, member, queue):
    first, second = queue(3, 3)

    assert task_claim_next(project=project, user=member("ann")).id == first.id
    assert task_claim_next(project=project, user=member("bob")).id == second.id
    assert task_claim_next(project=project, user=member("cy")) is None


def test_claim_can_filter_by_reason(project, member, judge, policy):
    doubtful = judge(value=1, confidence=0.3, traffic=100)
    styled = judge(value=1, confidence=0.9, tags=["style-sensitive"])
    route_pairs(project=project, pair_ids=[doubtful.pair.id, styled.pair.id])

    claimed = task_claim_next(project=project, user=member("ann"), reason=Reason.STYLE_SENSITIVE)

    assert claimed.pair_id == styled.pair.id


def test_claim_returns_the_same_claimed_task_while_its_lease_holds(project, member, queue):
    queue(1, 2, 3)
    ann = member("ann")

    first = task_claim_next(project=project, user=ann)
    again = task_claim_next(project=project, user=ann)

    assert again.id == first.id
    assert ReviewTask.objects.filter(status=ReviewTask.Status.CLAIMED).count() == 1


def test_an_expired_lease_lets_another_annotator_claim_the_task(project, member, queue):
    [task] = queue(1)
    ann, bob = member("ann"), member("bob")
    assert task_claim_next(project=project, user=ann).id == task.id
    assert task_claim_next(project=project, user=bob) is None  # held by ann

    expire(task)
    taken = task_claim_next(project=project, user=bob)

    assert taken.id == task.id and taken.claimed_by == bob and taken.lease_expires_at > timezone.now()


def test_a_short_lease_expires_by_itself(project, member, queue, monkeypatch):
    [task] = queue(1)
    monkeypatch.setattr(queue_services, "LEASE", timedelta(seconds=-1))
    task_claim_next(project=project, user=member("ann"))

    assert task_claim_next(project=project, user=member("bob")).id == task.id


def test_a_submit_after_the_lease_expired_is_stale_and_adds_no_label(project, member, queue):
    queue(1)
    ann = member("ann")
    claimed = task_claim_next(project=project, user=ann)
    expire(claimed)

    with pytest.raises(ReviewError) as stale:
        task_submit(task=claimed, user=ann, value=2)

    assert stale.value.status == 409
    assert human_labels(claimed.pair) == []
    claimed.refresh_from_db()
    assert claimed.status == ReviewTask.Status.CLAIMED and claimed.label_id is None


def test_a_submit_after_another_annotator_reclaimed_the_task_is_stale(project, member, queue):
    [task] = queue(1)
    ann, bob = member("ann"), member("bob")
    mine = task_claim_next(project=project, user=ann)
    expire(mine)
    theirs = task_claim_next(project=project, user=bob)

    with pytest.raises(ReviewError) as stale:
        task_submit(task=mine, user=ann, value=0)
    label = task_submit(task=theirs, user=bob, value=2)

    assert stale.value.status == 409
    assert human_labels(task.pair) == [("bob", 2)]
    theirs.refresh_from_db()
    assert theirs.status == ReviewTask.Status.DONE and theirs.label_id == label.id


def test_a_second_submit_is_refused_and_leaves_exactly_one_human_label(project, member, queue):
    [task] = queue(1)
    ann = member("ann")
    claimed = task_claim_next(project=project, user=ann)
    task_submit(task=claimed, user=ann, value=1, time_spent_ms=4200)

    with pytest.raises(ReviewError) as second:
        task_submit(task=claimed, user=ann, value=2)

    assert second.value.status == 409
    assert human_labels(task.pair) == [("ann", 1)]
    claimed.refresh_from_db()
    assert (claimed.status, claimed.time_spent_ms) == (ReviewTask.Status.DONE, 4200)
    assert claimed.completed_at is not None


def test_a_submit_of_a_task_someone_else_holds_is_refused(project, member, queue):
    [task] = queue(1)
    claimed = task_claim_next(project=project, user=member("ann"))

    with pytest.raises(ReviewError) as refused:
        task_submit(task=claimed, user=member("bob"), value=1)

    assert refused.value.status == 409 and human_labels(task.pair) == []


def test_a_value_outside_the_scale_is_refused(project, member, queue):
    [task] = queue(1)
    ann = member("ann")
    claimed = task_claim_next(project=project, user=ann)

    with pytest.raises(ReviewError) as refused:
        task_submit(task=claimed, user=ann, value=7)

    assert refused.value.status == 400 and human_labels(task.pair) == []


def test_a_single_human_label_becomes_gold(project, member, queue):
    [task] = queue(1)
    ann = member("ann")

    task_submit(task=task_claim_next(project=project, user=ann), user=ann, value=2)

    assert gold(task.pair) == (2, GoldProvenance.HUMAN, 1)


def test_a_submit_marks_the_agreement_figures_stale_once_it_is_committed(
    project, member, queue, django_capture_on_commit_callbacks
):
    [task] = queue(1)
    ann = member("ann")
    claimed = task_claim_next(project=project, user=ann)
    before = dashboard_part(project, "core")

    with django_capture_on_commit_callbacks() as callbacks:
        task_submit(task=claimed, user=ann, value=2)
    for callback in callbacks:
        callback()
    committed = dashboard_part(project, "core")

    # (Inside the submit's transaction, the label write count already includes its own
    # label; a refresh that runs meanwhile elsewhere reads the count without it and is
    # stale after the commit: tests/reviews/test_dashboard_freshness.py.)
    assert not before["stale"]
    assert committed["stale"] and committed["data"] == before["data"]


def test_a_skipped_task_is_not_offered_to_the_same_user_again_but_to_others(project, member, queue):
    [task] = queue(1)
    ann, bob = member("ann"), member("bob")

    task_skip(task=task_claim_next(project=project, user=ann), user=ann)

    task.refresh_from_db()
    assert (task.status, task.claimed_by, task.lease_expires_at) == (ReviewTask.Status.OPEN, None, None)
    assert TaskSkip.objects.filter(task=task, user=ann).exists()
    assert task_claim_next(project=project, user=ann) is None
    assert task_claim_next(project=project, user=bob).id == task.id


def test_after_a_skip_the_user_gets_the_next_task(project, member, queue):
    _first, second = queue(9, 1)
    ann = member("ann")

    task_skip(task=task_claim_next(project=project, user=ann), user=ann)

    assert task_claim_next(project=project, user=ann).id == second.id


def test_a_skipped_pair_is_not_offered_again_in_another_slot(project, judge, member):
    RoutingPolicy.objects.create(project=project, version=1, audit_rate=0, humans_per_pair=2)
    doubtful = judge(value=1, confidence=0.3)
    route_pairs(project=project, pair_ids=[doubtful.pair.id])
    ann = member("ann")

    task_skip(task=task_claim_next(project=project, user=ann), user=ann)

    assert task_claim_next(project=project, user=ann) is None


def test_only_the_holder_can_skip(project, member, queue):
    queue(1)
    claimed = task_claim_next(project=project, user=member("ann"))

    with pytest.raises(ReviewError):
        task_skip(task=claimed, user=member("bob"))


def test_a_flag_needs_a_comment(project, member, queue):
    queue(1)
    ann = member("ann")
    claimed = task_claim_next(project=project, user=ann)

    with pytest.raises(ReviewError) as refused:
        task_flag(task=claimed, user=ann, comment="   ")

    assert refused.value.status == 400
    claimed.refresh_from_db()
    assert claimed.status == ReviewTask.Status.CLAIMED


def test_a_flagged_task_leaves_the_queue_with_its_comment(project, member, queue):
    [task] = queue(1)
    ann = member("ann")
    task_flag(task=task_claim_next(project=project, user=ann), user=ann, comment="  image shows another product ")

    task.refresh_from_db()
    assert (task.status, task.flag_comment) == (ReviewTask.Status.FLAGGED, "image shows another product")
    assert task_claim_next(project=project, user=member("bob")) is None
    assert gold(task.pair) == (None, "", None)


def test_undo_within_the_lease_reopens_the_task_and_withdraws_human_gold(project, member, queue):
    [task] = queue(1)
    ann = member("ann")
    claimed = task_claim_next(project=project, user=ann)
    task_submit(task=claimed, user=ann, value=2)
    assert gold(task.pair)[:2] == (2, GoldProvenance.HUMAN)

    reopened = task_undo(task=claimed, user=ann)

    assert (reopened.status, reopened.claimed_by, reopened.completed_at) == (ReviewTask.Status.CLAIMED, ann, None)
    assert gold(task.pair) == (None, "", None)
    assert task_claim_next(project=project, user=ann).id == task.id  # the reopened card comes back

    task_submit(task=reopened, user=ann, value=0)

    assert gold(task.pair)[:2] == (0, GoldProvenance.HUMAN)
    assert human_labels(task.pair) == [("ann", 2), ("ann", 0)]  # append-only history
    reopened.refresh_from_db()
    assert reopened.status == ReviewTask.Status.DONE
    assert Label.objects.get(id=reopened.label_id).value == 0


def test_undo_after_the_lease_expired_is_refused(project, member, queue):
    [task] = queue(1)
    ann = member("ann")
    claimed = task_claim_next(project=project, user=ann)
    task_submit(task=claimed, user=ann, value=2)
    expire(claimed)

    with pytest.raises(ReviewError) as refused:
        task_undo(task=claimed, user=ann)

    assert refused.value.status == 409
    assert gold(task.pair)[:2] == (2, GoldProvenance.HUMAN)


def test_undo_by_another_user_is_refused(project, member, queue):
    [task] = queue(1)
    ann = member("ann")
    claimed = task_claim_next(project=project, user=ann)
    task_submit(task=claimed, user=ann, value=2)

    with pytest.raises(ReviewError):
        task_undo(task=claimed, user=member("bob"))

    assert gold(task.pair)[:2] == (2, GoldProvenance.HUMAN)


# --- several humans, adjudication ---------------------------------------------------------


@pytest.fixture
def two_humans(project, judge):
    """A low-confidence pair routed to two humans (slots 1 and 2); returns the pair."""
    RoutingPolicy.objects.create(project=project, version=1, audit_rate=0, humans_per_pair=2)
    doubtful = judge(value=1, confidence=0.3)
    route_pairs(project=project, pair_ids=[doubtful.pair.id])
    return doubtful.pair


def label_next(project, user, value):
    task = task_claim_next(project=project, user=user)
    assert task is not None, f"{user} got no task"
    task_submit(task=task, user=user, value=value)
    return task


def test_an_annotator_never_gets_the_same_pair_twice(project, member, two_humans):
    ann, bob = member("ann"), member("bob")

    mine = task_claim_next(project=project, user=ann)
    assert task_claim_next(project=project, user=ann).id == mine.id  # not the other slot
    task_submit(task=mine, user=ann, value=1)

    assert task_claim_next(project=project, user=ann) is None
    other = task_claim_next(project=project, user=bob)
    assert other.pair_id == mine.pair_id and other.slot != mine.slot


def test_an_annotator_whose_lease_expired_cannot_take_the_other_slot(project, member, two_humans):
    ann = member("ann")
    mine = task_claim_next(project=project, user=ann)
    expire(mine)

    again = task_claim_next(project=project, user=ann)

    assert again is None or again.id == mine.id
    assert not ReviewTask.objects.filter(claimed_by=ann).exclude(id=mine.id).exists()


def test_gold_waits_for_every_slot(project, member, two_humans):
    label_next(project, member("ann"), 1)

    assert gold(two_humans) == (None, "", None)


def test_agreeing_humans_make_human_gold(project, member, two_humans):
    label_next(project, member("ann"), 2)
    label_next(project, member("bob"), 2)

    assert gold(two_humans) == (2, GoldProvenance.HUMAN, 1)
    assert not ReviewTask.objects.filter(kind=ADJUDICATION).exists()


def test_disagreeing_humans_make_an_adjudication_task_that_a_lead_settles(project, member, lead, two_humans):
    label_next(project, member("ann"), 2)
    label_next(project, member("bob"), 0)

    [adjudication] = ReviewTask.objects.filter(kind=ADJUDICATION)
    assert adjudication.pair_id == two_humans.id and adjudication.reason == Reason.HUMAN_DISAGREEMENT
    assert adjudication.status == ReviewTask.Status.OPEN
    assert gold(two_humans) == (None, "", None)
    assert task_claim_next(project=project, user=member("cy")) is None  # not in the label queue

    claimed = task_claim_next(project=project, user=lead, kind=ADJUDICATION)
    assert claimed.id == adjudication.id
    task_submit(task=claimed, user=lead, value=1)

    assert gold(two_humans) == (1, GoldProvenance.ADJUDICATED, 1)
    assert human_labels(two_humans) == [("ann", 2), ("bob", 0), ("lea", 1)]


def test_undoing_the_label_that_caused_an_adjudication_withdraws_it_until_the_new_submit(
    project, member, lead, two_humans
):
    label_next(project, member("ann"), 2)
    bobs = label_next(project, member("bob"), 0)
    assert ReviewTask.objects.filter(kind=ADJUDICATION, status=ReviewTask.Status.OPEN).count() == 1

    reopened = task_undo(task=bobs, user=member("bob"))

    assert not ReviewTask.objects.filter(kind=ADJUDICATION).exclude(status=ReviewTask.Status.CANCELLED).exists()
    assert task_claim_next(project=project, user=lead, kind=ADJUDICATION) is None
    task_submit(task=reopened, user=member("bob"), value=2)  # bob now agrees with ann
    assert gold(two_humans) == (2, GoldProvenance.HUMAN, 1)
    assert not ReviewTask.objects.filter(kind=ADJUDICATION).exclude(status=ReviewTask.Status.CANCELLED).exists()


def test_a_new_disagreement_after_an_undo_opens_a_fresh_adjudication(project, member, lead, two_humans):
    label_next(project, member("ann"), 2)
    bobs = label_next(project, member("bob"), 0)
    task_submit(task=task_undo(task=bobs, user=member("bob")), user=member("bob"), value=1)

    [live] = ReviewTask.objects.filter(kind=ADJUDICATION).exclude(status=ReviewTask.Status.CANCELLED)
    assert live.status == ReviewTask.Status.OPEN
    task_submit(task=task_claim_next(project=project, user=lead, kind=ADJUDICATION), user=lead, value=1)
    assert gold(two_humans) == (1, GoldProvenance.ADJUDICATED, 1)


def test_annotators_cannot_claim_adjudication_tasks(project, member, two_humans):
    label_next(project, member("ann"), 2)
    label_next(project, member("bob"), 0)

    with pytest.raises(LeadRequired):
        task_claim_next(project=project, user=member("cy"), kind=ADJUDICATION)


def test_adjudicated_gold_is_not_overwritten_by_a_later_resolution(project, member, lead, two_humans):
    label_next(project, member("ann"), 2)
    label_next(project, member("bob"), 0)
    task_submit(task=task_claim_next(project=project, user=lead, kind=ADJUDICATION), user=lead, value=1)

    gold_resolve(pair_id=two_humans.id)

    assert gold(two_humans)[:2] == (1, GoldProvenance.ADJUDICATED)


@pytest.fixture
def audited(project, judge):
    """adjudicate_human_vs_llm on, every ordinary pair audited: a confident LLM label of 2."""

    def make(adjudicate: bool = True):
        RoutingPolicy.objects.create(project=project, version=1, audit_rate=1.0, adjudicate_human_vs_llm=adjudicate)
        confident = judge(value=2, confidence=0.95)
        route_pairs(project=project, pair_ids=[confident.pair.id])
        return confident.pair

    return make


def test_a_human_contradicting_a_confident_llm_goes_to_adjudication(project, member, audited):
    pair = audited()

    label_next(project, member("ann"), 0)

    [adjudication] = ReviewTask.objects.filter(kind=ADJUDICATION)
    assert adjudication.pair_id == pair.id and adjudication.reasons == [Reason.HUMAN_VS_LLM]
    assert gold(pair) == (None, "", None)


def test_a_human_agreeing_with_the_llm_makes_gold(project, member, audited):
    pair = audited()

    label_next(project, member("ann"), 2)

    assert gold(pair)[:2] == (2, GoldProvenance.HUMAN)
    assert not ReviewTask.objects.filter(kind=ADJUDICATION).exists()


def test_without_the_policy_the_human_label_wins_over_the_llm(project, member, audited):
    pair = audited(adjudicate=False)

    label_next(project, member("ann"), 0)

    assert gold(pair)[:2] == (0, GoldProvenance.HUMAN)
    assert not ReviewTask.objects.filter(kind=ADJUDICATION).exists()


# --- re-routing after a policy change ---------------------------------------------------


def test_raising_min_confidence_sends_auto_accepted_pairs_to_humans(project, policy, lead, member, judge):
    at_75, at_85, at_95 = (judge(value=2, confidence=c) for c in (0.75, 0.85, 0.95))
    human = judge(value=2, confidence=0.75)
    route_pairs(project=project, pair_ids=[j.pair.id for j in (at_75, at_85, at_95, human)])
    Pair.objects.filter(id=human.pair.id).update(gold_value=1, gold_provenance=GoldProvenance.HUMAN)
    stricter = policy_update(project=project, user=lead, min_confidence=0.9)

    preview = reroute_preview(project=project, policy=PolicyView.of(stricter))
    applied = reroute_apply(project=project, user=lead, policy=stricter)

    assert (preview.to_humans, preview.to_llm) == (2, 0)
    assert (applied.to_humans, applied.to_llm) == (2, 0)
    assert preview.reasons == applied.reasons == {Reason.LOW_CONFIDENCE: 2}
    for moved in (at_75, at_85):
        assert gold(moved.pair) == (None, "", None)
        [task] = tasks_of(moved.pair)
        assert (task.status, task.reason, task.policy_version) == (ReviewTask.Status.OPEN, Reason.LOW_CONFIDENCE, 2)
    assert gold(at_95.pair) == (2, GoldProvenance.LLM_AUTO, 1)
    assert gold(human.pair)[:2] == (1, GoldProvenance.HUMAN) and tasks_of(human.pair) == []


def test_a_policy_change_saves_a_version_reroutes_and_marks_the_figures_stale(
    project, policy, lead, judge, django_capture_on_commit_callbacks
):
    at_85 = judge(value=2, confidence=0.85)
    route_pairs(project=project, pair_ids=[at_85.pair.id])
    before = dashboard_part(project, "core")

    with django_capture_on_commit_callbacks(execute=True):
        change = policy_change(project=project, user=lead, note="stricter", min_confidence=0.9)

    assert (change.policy.version, change.policy.note, change.policy.min_confidence) == (2, "stricter", 0.9)
    assert policy_current(project) == change.policy
    assert (change.moves.to_humans, change.moves.to_llm) == (1, 0)
    assert gold(at_85.pair) == (None, "", None) and [t.policy_version for t in tasks_of(at_85.pair)] == [2]
    assert not before["stale"] and dashboard_part(project, "core")["stale"]


def test_a_policy_change_whose_rerouting_fails_saves_no_version(project, policy, lead, judge, monkeypatch):
    at_85 = judge(value=2, confidence=0.85)
    route_pairs(project=project, pair_ids=[at_85.pair.id])

    def broken(*args, **kwargs):
        raise RuntimeError("rerouting failed")

    monkeypatch.setattr(reroute, "_reroute_range", broken)
    with pytest.raises(RuntimeError):
        policy_change(project=project, user=lead, min_confidence=0.9)

    assert list(RoutingPolicy.objects.filter(project=project).values_list("version", flat=True)) == [1]
    assert gold(at_85.pair) == (2, GoldProvenance.LLM_AUTO, 1)


def test_only_a_lead_changes_the_policy(project, policy, member):
    with pytest.raises(LeadRequired):
        policy_change(project=project, user=member("ann"), min_confidence=0.9)

    assert RoutingPolicy.objects.filter(project=project).count() == 1


def test_lowering_min_confidence_gives_untouched_open_tasks_back_to_the_llm(project, policy, lead, member, judge):
    untouched = [judge(value=1, confidence=c) for c in (0.5, 0.6)]
    claimed, labelled, still_doubtful = (
        judge(value=1, confidence=0.55),
        judge(value=0, confidence=0.5),
        judge(value=1, confidence=0.2),
    )
    everything = untouched + [claimed, labelled, still_doubtful]
    route_pairs(project=project, pair_ids=[j.pair.id for j in everything])
    # ann labels `labelled` (the highest priority ties break by id: claim the ones we want)
    ann, bob = member("ann"), member("bob")
    ReviewTask.objects.filter(pair=labelled.pair).update(priority=100)
    ReviewTask.objects.filter(pair=claimed.pair).update(priority=50)
    label_next(project, ann, 2)
    held = task_claim_next(project=project, user=bob)
    assert held.pair_id == claimed.pair.id
    looser = policy_update(project=project, user=lead, min_confidence=0.3)

    preview = reroute_preview(project=project, policy=PolicyView.of(looser))
    applied = reroute_apply(project=project, user=lead, policy=looser)

    assert (preview.to_humans, preview.to_llm) == (0, 2)
    assert (applied.to_humans, applied.to_llm) == (0, 2)
    for moved in untouched:
        assert gold(moved.pair) == (1, GoldProvenance.LLM_AUTO, 2)
        assert [t.status for t in tasks_of(moved.pair)] == [ReviewTask.Status.CANCELLED]
    assert gold(labelled.pair)[:2] == (2, GoldProvenance.HUMAN)
    held.refresh_from_db()
    assert held.status == ReviewTask.Status.CLAIMED and gold(claimed.pair) == (None, "", None)
    assert [t.status for t in tasks_of(still_doubtful.pair)] == [ReviewTask.Status.OPEN]


def test_reroute_preview_skips_pairs_a_human_is_working_on_in_another_slot(project, lead, member, judge):
    RoutingPolicy.objects.create(project=project, version=1, audit_rate=0, humans_per_pair=2)
    busy, idle = judge(value=1, confidence=0.5), judge(value=1, confidence=0.5)
    route_pairs(project=project, pair_ids=[busy.pair.id, idle.pair.id])
    ReviewTask.objects.filter(pair=busy.pair, slot=2).update(priority=10)
    held = task_claim_next(project=project, user=member("ann"))
    assert (held.pair_id, held.slot) == (busy.pair.id, 2)
    looser = policy_update(project=project, user=lead, min_confidence=0.3)

    preview = reroute_preview(project=project, policy=PolicyView.of(looser))
    applied = reroute_apply(project=project, user=lead, policy=looser)

    assert preview.to_llm == applied.to_llm == 1
    assert gold(idle.pair)[:2] == (1, GoldProvenance.LLM_AUTO)
    assert gold(busy.pair) == (None, "", None)
    assert sorted(t.status for t in tasks_of(busy.pair)) == [ReviewTask.Status.CLAIMED, ReviewTask.Status.OPEN]


def test_a_pair_can_move_to_humans_and_back_again(project, policy, lead, judge):
    pair = judge(value=1, confidence=0.8).pair
    route_pairs(project=project, pair_ids=[pair.id])
    strict = policy_update(project=project, user=lead, min_confidence=0.9)
    reroute_apply(project=project, user=lead, policy=strict)
    assert gold(pair) == (None, "", None)
    loose = policy_update(project=project, user=lead, min_confidence=0.7)
    reroute_apply(project=project, user=lead, policy=loose)
    assert gold(pair)[:2] == (1, GoldProvenance.LLM_AUTO)
    strict_again = policy_update(project=project, user=lead, min_confidence=0.9)
    reroute_apply(project=project, user=lead, policy=strict_again)
    assert gold(pair) == (None, "", None)

    loose_again = policy_update(project=project, user=lead, min_confidence=0.7)
    preview = reroute_preview(project=project, policy=PolicyView.of(loose_again))
    applied = reroute_apply(project=project, user=lead, policy=loose_again)

    assert preview.to_llm == applied.to_llm == 1
    assert gold(pair) == (1, GoldProvenance.LLM_AUTO, 5)
    assert [t.status for t in tasks_of(pair)] == [ReviewTask.Status.CANCELLED] * 2


def test_reroute_apply_requires_a_lead(project, policy, member, judge):
    with pytest.raises(LeadRequired):
        reroute_apply(project=project, user=member("ann"), policy=policy)


def test_reroute_preview_changes_nothing(project, policy, lead, judge):
    pairs = [judge(value=1, confidence=c).pair for c in (0.5, 0.8)]
    route_pairs(project=project, pair_ids=[p.id for p in pairs])
    before = (list(Pair.objects.order_by("id").values()), list(ReviewTask.objects.order_by("id").values()))

    reroute_preview(project=project, policy=PolicyView(version=2, min_confidence=0.95, audit_rate=0))
    reroute_preview(project=project, policy=PolicyView(version=2, min_confidence=0.1, audit_rate=0))

    assert (list(Pair.objects.order_by("id").values()), list(ReviewTask.objects.order_by("id").values())) == before


# --- runs -----------------------------------------------------------------------------


def test_run_status_counts_where_the_pairs_of_a_run_stand(project, policy, member, judge, make_pair, run_of):
    auto = [judge(value=2, confidence=0.9) for _ in range(3)]
    doubtful = [judge(value=1, confidence=0.2) for _ in range(2)]
    human = judge(value=1, confidence=0.2, traffic=100)
    unjudged = [make_pair() for _ in range(4)]
    imported = make_pair()
    Pair.objects.filter(id=imported.id).update(gold_value=0, gold_provenance=GoldProvenance.IMPORTED)
    judged_pairs = [j.pair for j in auto + doubtful + [human]]
    run = run_of("A", judged_pairs + unjudged + [imported])
    run_of("B", judged_pairs)  # a second run over the same pairs must not double anything
    route_pairs(project=project, pair_ids=[p.id for p in judged_pairs])
    label_next(project, member("ann"), 2)

    status = run_status(run)

    assert status == {
        "total": 11,
        "judged": 6,
        "unjudged": 5,
        "in_review": 2,
        "gold_llm-auto": 3,
        "gold_human": 1,
        "gold_imported": 1,
    }


def test_run_evaluate_routes_judged_pairs_and_judges_the_holes(
    project, policy, judge, make_pair, run_of, django_capture_on_commit_callbacks
):
    confident, doubtful = judge(value=2, confidence=0.9), judge(value=1, confidence=0.2)
    hole = make_pair()
    run = run_of("A", [confident.pair, doubtful.pair, hole])
    # The judgments count as the project's current model, prompt and mode: not holes.
    model = models_for(judge_config_for(project))["judge"]
    Judgment.objects.update(model=model, prompt_version=prompts.JUDGMENT_VERSION, mode=judge_config_for(project).mode)

    with django_capture_on_commit_callbacks(execute=False):
        job = run_evaluate(run=run)

    assert gold(confident.pair)[:2] == (2, GoldProvenance.LLM_AUTO)
    assert [t.reason for t in tasks_of(doubtful.pair)] == [Reason.LOW_CONFIDENCE]
    assert job.pair_ids == [hole.id] and job.on_done == "reviews.route_job"


def test_reroute_preview_matches_apply_when_the_new_policy_audits(project, policy, lead, judge):
    doubtful = [judge(value=1, confidence=0.5) for _ in range(40)]
    confident = [judge(value=1, confidence=0.8) for _ in range(40)]
    route_pairs(project=project, pair_ids=[j.pair.id for j in doubtful + confident])
    changed = policy_update(project=project, user=lead, min_confidence=0.4, audit_rate=0.5)

    preview = reroute_preview(project=project, policy=PolicyView.of(changed))
    applied = reroute_apply(project=project, user=lead, policy=changed)

    assert (preview.to_humans, preview.to_llm) == (applied.to_humans, applied.to_llm)
    assert Pair.objects.filter(gold_provenance=GoldProvenance.LLM_AUTO).count() == 40 + applied.to_llm
