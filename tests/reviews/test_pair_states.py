"""Where a run's pairs stand (issue #14, "fill the holes" was misleading): one state per
pair, one judge action for the pairs that truly lack a judgment, the waiting ones linked
to the review queue."""

import pytest
from django.test import Client
from django.urls import reverse

from annotation.models import Pair
from judging import hooks
from judging.models import JudgeJob, Judgment
from reviews.models import ReviewTask
from reviews.services.pair_states import run_pair_states
from reviews.services.route import route_pairs
from tests.builders import HTMX, enqueue_spy, judge_now

pytestmark = pytest.mark.django_db


@pytest.fixture
def states_world(project, policy, make_pair, run_of, lead, member):
    """A run of one query's nine pairs, ranked 1..9, in every state: gold (imported), waiting for
    reviewers (2), flagged, dropped, judged but not routed, judging failed, not judged (2)."""
    pairs = [make_pair(f"query {n}") for n in range(9)]
    # One query, so "top k" cuts the list (ranks follow the order below).
    Pair.objects.filter(id__in=[p.id for p in pairs]).update(query=pairs[0].query)
    for pair in pairs:
        pair.refresh_from_db()
    gold, wait1, wait2, flagged, dropped, judged, failed, new1, new2 = pairs
    Pair.objects.filter(id=gold.id).update(gold_value=2, gold_provenance="imported")
    for pair in (wait1, wait2, flagged, dropped):
        judge_now(pair, confidence=0.2)  # below the policy's 0.7: routed to people
    route_pairs(project=project, pair_ids=[wait1.id, wait2.id, flagged.id, dropped.id])
    ReviewTask.objects.filter(pair=flagged).update(status=ReviewTask.Status.FLAGGED, flag_comment="no image")
    ReviewTask.objects.filter(pair=dropped).update(status=ReviewTask.Status.DROPPED)
    judge_now(judged, confidence=0.95)
    judge_now(failed, status=Judgment.Status.INVALID)
    run = run_of("bm25", pairs)
    lead_client = Client()
    lead_client.force_login(lead)
    annotator_client = Client()
    annotator_client.force_login(member("ann"))
    return {
        "project": project,
        "run": run,
        "pairs": dict(zip(["gold", "wait1", "wait2", "flagged", "dropped", "judged", "failed", "new1", "new2"], pairs)),
        "lead": lead_client,
        "annotator": annotator_client,
    }


def url(world, name="run_states"):
    return reverse(f"reviews:{name}", args=[world["project"].id, world["run"].id])


def test_every_pair_is_counted_in_exactly_one_named_state(states_world):
    states = run_pair_states(states_world["run"])
    p = states_world["pairs"]

    assert states.counts() == {
        "gold": 1,
        "waiting": 2,
        "flagged": 1,
        "dropped": 1,
        "judged": 1,
        "failed": 1,
        "not_judged": 2,
    }
    assert states.total == 9
    assert states.to_judge == sorted([p["failed"].id, p["new1"].id, p["new2"].id])


def test_the_top_k_counts_only_the_pairs_ranked_within_k(states_world):
    states = run_pair_states(states_world["run"], k=3)  # gold, wait1, wait2

    assert states.counts()["gold"] == 1 and states.counts()["waiting"] == 2
    assert states.total == 3 and states.to_judge == []


def test_pairs_waiting_for_reviewers_are_never_offered_for_judging_again(states_world, project, make_pair, run_of):
    # The bug: 113 pairs waiting for reviewers were offered as "judge 113 pairs"; the job
    # answered "113 cached, 0 LLM calls" and the page still said 113 unjudged.
    waiting = [states_world["pairs"]["wait1"], states_world["pairs"]["wait2"]]
    run = run_of("waiting-only", waiting)

    body = states_world["lead"].get(reverse("reviews:run_states", args=[project.id, run.id]), **HTMX).content.decode()
    response = states_world["lead"].post(reverse("reviews:run_states_judge", args=[project.id, run.id]), **HTMX)

    assert 'data-state="waiting"><dt>judged, waiting for reviewers</dt><dd>2</dd>' in body
    assert "without a judgment</button>" not in body
    assert reverse("reviews:queue", args=[project.id]) in body and "2 waiting for reviewers" in body
    assert response.status_code == 409 and "Every pair here has a judgment already" in response.content.decode()
    assert not JudgeJob.objects.exists()


def test_the_one_judge_action_takes_exactly_the_pairs_without_a_judgment(states_world, monkeypatch):
    monkeypatch.setattr(hooks, "_registry", {"after_run_judged": "reviews.route_job"})
    body = states_world["lead"].get(url(states_world), **HTMX).content.decode()
    assert body.count("without a judgment</button>") == 1 and "Judge 3 pairs without a judgment" in body

    with enqueue_spy():
        response = states_world["lead"].post(url(states_world, "run_states_judge"), **HTMX)

    job = JudgeJob.objects.get()
    p = states_world["pairs"]
    assert response.status_code == 200
    assert sorted(job.pair_ids) == sorted([p["failed"].id, p["new1"].id, p["new2"].id])
    assert job.on_done == "reviews.route_job"
    answer = response.content.decode()
    assert f"Judging job {job.id} started for 3 pairs" in answer
    # The run page's judging panel is reloaded out of band, so it follows the job.
    assert 'id="judging-panel"' in answer and 'hx-swap-oob="true"' in answer
    again = states_world["lead"].post(url(states_world, "run_states_judge"), **HTMX)
    assert again.status_code == 409 and JudgeJob.objects.count() == 1


def test_judging_the_top_k_takes_only_the_missing_pairs_within_k(states_world):
    with enqueue_spy():
        states_world["lead"].post(url(states_world, "run_states_judge"), {"k": "8"}, **HTMX)

    assert JudgeJob.objects.get().pair_ids == [states_world["pairs"]["failed"].id, states_world["pairs"]["new1"].id]


def test_judged_pairs_that_routing_has_not_seen_can_be_routed(states_world):
    response = states_world["lead"].post(url(states_world, "run_states_route"), **HTMX)

    judged = Pair.objects.get(id=states_world["pairs"]["judged"].id)
    assert response.status_code == 200 and "1 to gold" in response.content.decode()
    assert (judged.gold_value, judged.gold_provenance) == (2, "llm-auto")
    assert run_pair_states(states_world["run"]).counts()["judged"] == 0


def test_only_leads_start_judging_or_routing_and_outsiders_see_nothing(states_world, member, project):
    annotator = states_world["annotator"]
    body = annotator.get(url(states_world), **HTMX).content.decode()

    assert "3 pairs without a judgment: a lead can have them judged" in body and "<button" not in body
    assert annotator.post(url(states_world, "run_states_judge"), **HTMX).status_code == 403
    assert annotator.post(url(states_world, "run_states_route"), **HTMX).status_code == 403
    outsider = Client()
    outsider.force_login(member("otto", of=_other_project()))
    assert outsider.get(url(states_world)).status_code == 404
    assert not JudgeJob.objects.exists()


def _other_project():
    from annotation.services import project_create

    return project_create(name="elsewhere")


def test_the_run_and_metrics_pages_load_the_states_card(states_world):
    world = states_world
    run_page = world["lead"].get(reverse("run_detail", args=[world["project"].id, world["run"].id])).content.decode()
    metrics = world["lead"].get(reverse("run_metrics", args=[world["project"].id, world["run"].id]) + "?k=5")

    assert f'hx-get="{url(world)}"' in run_page
    assert f'hx-get="{url(world)}?k=5"' in metrics.content.decode()
    # The old button that judged waiting pairs again is gone from the metrics page.
    fill = reverse("judging:run_fill_holes", args=[world["project"].id, world["run"].id])
    assert fill not in metrics.content.decode()


def test_the_card_polls_itself_only_while_a_judge_job_of_the_run_is_active(states_world):
    idle = states_world["lead"].get(url(states_world), {"k": "8"}, **HTMX).content.decode()
    assert "hx-trigger" not in idle.split(">", 1)[0]  # no job: nothing polls (counting costs a query per pair state)

    with enqueue_spy():
        started = states_world["lead"].post(url(states_world, "run_states_judge"), {"k": "8"}, **HTMX)
    polling = started.content.decode().split(">", 1)[0]
    assert 'hx-trigger="every 5s"' in polling
    assert f'hx-get="{url(states_world)}?k=8"' in polling  # the same top-k cut as the card shows
    assert 'hx-trigger="every 5s"' in states_world["annotator"].get(url(states_world), **HTMX).content.decode()

    job = JudgeJob.objects.get()
    JudgeJob.objects.filter(id=job.id).update(status=JudgeJob.Status.DONE)
    ended = states_world["lead"].get(url(states_world), {"k": "8"}, **HTMX).content.decode()
    assert "hx-trigger" not in ended.split(">", 1)[0]  # the job ended: the last answer stops the polling
