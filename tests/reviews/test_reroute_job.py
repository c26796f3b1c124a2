"""Rerouting as a job of pair-id batches: progress, resuming after a crash without
routing a pair twice, a newer version superseding a running job, and policy_change
handing a large project to the worker task."""

import pytest

from annotation.models import GoldProvenance, Pair
from reviews.models import Reason, RerouteJob, ReviewTask
from reviews.routing import PolicyView
from reviews.services import reroute
from reviews.services.policies import policy_update
from reviews.services.reroute import (
    policy_change,
    reroute_job_start,
    reroute_preview,
    reroute_run,
    reroute_step,
)
from reviews.services.route import route_pairs
from reviews.tasks import reroute_job_task


@pytest.fixture
def routed(project, policy, judge):
    """Twelve pairs under version 1 (min. confidence 0.7): eight auto-accepted at 0.8,
    four waiting for reviewers at 0.5."""
    judged = [judge(value=2, confidence=0.8) for _ in range(8)] + [judge(value=1, confidence=0.5) for _ in range(4)]
    route_pairs(project=project, pair_ids=[j.pair.id for j in judged])
    return [j.pair for j in judged]


def live_tasks(pair) -> list[ReviewTask]:
    return list(ReviewTask.objects.filter(pair=pair).exclude(status=ReviewTask.Status.CANCELLED))


def test_a_job_runs_batch_by_batch_with_progress(project, lead, routed, monkeypatch):
    monkeypatch.setattr(reroute, "BATCH_PAIRS", 3)
    stricter = policy_update(project=project, user=lead, min_confidence=0.9)
    job = reroute_job_start(project=project, user=lead, policy=stricter)
    assert (job.status, job.progress, job.batches_done) == (RerouteJob.Status.RUNNING, 0.0, 0)

    job = reroute_run(job.id, max_batches=2)

    assert job.status == RerouteJob.Status.RUNNING and job.batches_done == 2
    assert job.progress == pytest.approx(6 / 12)
    assert job.to_humans == 6  # the first six pairs are auto-accepted ones
    job = reroute_run(job.id)
    assert (job.status, job.progress, job.batches_done, job.to_humans) == (RerouteJob.Status.DONE, 1.0, 4, 8)
    assert job.reasons == {Reason.LOW_CONFIDENCE: 8}


def test_a_crashed_batch_leaves_nothing_and_the_resumed_job_routes_each_pair_once(project, lead, routed, monkeypatch):
    monkeypatch.setattr(reroute, "BATCH_PAIRS", 5)
    stricter = policy_update(project=project, user=lead, min_confidence=0.9)
    expected = reroute_preview(project=project, policy=PolicyView.of(stricter))
    job = reroute_job_start(project=project, user=lead, policy=stricter)
    reroute_step(job.id)  # the first batch commits
    real = reroute._reroute_range

    def crash_after_writing(*args):
        real(*args)  # the batch's writes happen, then the worker dies before its commit
        raise RuntimeError("worker killed")

    monkeypatch.setattr(reroute, "_reroute_range", crash_after_writing)
    with pytest.raises(RuntimeError):
        reroute_step(job.id)
    job.refresh_from_db()
    assert (job.batches_done, job.to_humans, job.cursor) == (1, 5, routed[0].id + 5)
    # The second batch's moves were rolled back with it: its pairs are still auto-accepted.
    assert Pair.objects.filter(id__in=[p.id for p in routed[5:8]], gold_provenance=GoldProvenance.LLM_AUTO).count() == 3

    monkeypatch.setattr(reroute, "_reroute_range", real)
    reroute_job_task(job.id)  # the re-delivered task: the same body a worker runs
    reroute_job_task(job.id)  # and once more, e.g. a second delivery: nothing left to do

    job.refresh_from_db()
    assert job.status == RerouteJob.Status.DONE
    assert (job.to_humans, job.to_llm) == (expected.to_humans, expected.to_llm) == (8, 0)
    for pair in routed:
        assert len(live_tasks(pair)) == 1  # every pair is with humans exactly once
    assert not Pair.objects.filter(project=project, gold_provenance=GoldProvenance.LLM_AUTO).exists()


def test_a_newer_version_supersedes_a_running_job(project, lead, routed, monkeypatch):
    monkeypatch.setattr(reroute, "BATCH_PAIRS", 4)
    stricter = policy_update(project=project, user=lead, min_confidence=0.9)
    older = reroute_run(reroute_job_start(project=project, user=lead, policy=stricter).id, max_batches=1)
    looser = policy_update(project=project, user=lead, min_confidence=0.3)

    newer = reroute_run(reroute_job_start(project=project, user=lead, policy=looser).id)

    older.refresh_from_db()
    assert older.status == RerouteJob.Status.SUPERSEDED
    assert reroute_run(older.id).batches_done == 1  # a late task of the old job does nothing
    assert newer.status == RerouteJob.Status.DONE
    # Under 0.3 every pair is the LLM's: the four the old job moved and the four doubtful ones come back.
    assert newer.to_llm == 8
    assert Pair.objects.filter(project=project, gold_provenance=GoldProvenance.LLM_AUTO).count() == 12


def test_policy_change_hands_a_large_project_to_the_worker_task(
    project, lead, routed, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(reroute, "INLINE_PAIRS", 5)
    sent = []
    monkeypatch.setattr(reroute_job_task, "delay", lambda job_id: sent.append(job_id))

    with django_capture_on_commit_callbacks(execute=True):
        change = policy_change(project=project, user=lead, min_confidence=0.9)

    assert change.job is not None and sent == [change.job.id]
    assert change.job.status == RerouteJob.Status.RUNNING and change.moves.to_humans == 0
    reroute_job_task(sent[0])
    change.job.refresh_from_db()
    assert (change.job.status, change.job.to_humans) == (RerouteJob.Status.DONE, 8)


def test_policy_change_of_a_small_project_reroutes_in_the_request(project, lead, routed):
    change = policy_change(project=project, user=lead, min_confidence=0.9)

    assert change.job.status == RerouteJob.Status.DONE and change.moves.to_humans == 8
