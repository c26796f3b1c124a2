"""A repeat cycle's judge job is made outside any lock or transaction (creating it asks
the LLM endpoint over HTTP and enqueues its launch); a committed claim keeps the cycle to
one job. The endpoint is the fake OpenAI-compatible server; nothing goes to the broker."""

import threading
from datetime import timedelta

import pytest
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from annotation.models import MetricSnapshot
from judging.models import JudgeConfig, JudgeJob
from reviews.repeat import services as repeat
from tests.judging.conftest import KEY_ENV, MODELS

Status = MetricSnapshot.Status


@pytest.fixture
def judged_by(monkeypatch, settings):
    """judged_by(project, server): the project judges through the fake server at its HTTP boundary."""

    def configure(project, server) -> None:
        monkeypatch.setenv(KEY_ENV, "test-key")
        settings.QRELAY_LLM_BASE_URLS = [*settings.QRELAY_LLM_BASE_URLS, server.base_url]
        JudgeConfig.objects.create(
            project=project, backend="openai", mode="text", base_url=server.base_url, api_key_env=KEY_ENV, **MODELS
        )

    return configure


def row_lock_probe(snapshot_id: int) -> tuple[str, bool]:
    """From a connection of its own: can the cycle's row be locked right now, and is its
    claim committed? A thread of its own: the fake server's thread runs an event loop,
    where Django refuses database calls."""
    seen: list[tuple[str, bool]] = []

    def probe() -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    "SELECT judging_claimed_at FROM annotation_metricsnapshot WHERE id = %s FOR UPDATE NOWAIT",
                    [snapshot_id],
                )
                seen.append(("free", cursor.fetchone()[0] is not None))
        except OperationalError:
            seen.append(("locked", False))
        finally:
            connection.close()

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
    return seen[0]


@pytest.mark.django_db(transaction=True)
def test_the_endpoint_is_asked_with_the_cycle_claimed_and_no_row_locked(
    schedule, sent, no_broker, fake_llm, judged_by, monkeypatch
):
    judged_by(schedule.connector.project, fake_llm)
    snapshot = repeat.schedule_start(schedule=schedule)
    seen = []
    listed = fake_llm._models

    def models(path: str):  # GET /v1/models, asked when the job is created
        seen.append(row_lock_probe(snapshot.id))
        return listed(path)

    monkeypatch.setattr(fake_llm, "_models", models)
    snapshot = repeat.repeat_fetch(snapshot_id=snapshot.id)

    assert seen == [("free", True)]  # claimed and committed, but not locked
    job = JudgeJob.objects.get()
    assert (snapshot.status, snapshot.judge_job_id) == (Status.JUDGING, job.id)
    assert no_broker["launch"] == [job.id]  # its launch enqueued once


def test_an_unreachable_endpoint_fails_the_cycle_and_the_schedule_starts_again(
    schedule, sent, no_broker, fake_llm, judged_by
):
    judged_by(schedule.connector.project, fake_llm)
    fake_llm.stop()

    snapshot = repeat.repeat_fetch(snapshot_id=repeat.schedule_start(schedule=schedule).id)

    assert snapshot.status == Status.FAILED and snapshot.judge_job_id is None and snapshot.finished_at
    assert snapshot.error.startswith("judging: cannot reach the LLM endpoint")
    assert not JudgeJob.objects.exists() and no_broker["launch"] == []
    assert repeat.schedule_start(schedule=schedule) is not None  # nothing left locked or in flight


def test_a_job_creation_that_breaks_gives_the_claim_back_and_the_next_delivery_makes_the_job(
    schedule, sent, no_broker, monkeypatch, settings
):
    evaluate = repeat.run_evaluate

    def broken(*, run, user=None):
        raise RuntimeError("database went away")

    monkeypatch.setattr(repeat, "run_evaluate", broken)
    snapshot = repeat.schedule_start(schedule=schedule)
    with pytest.raises(RuntimeError):
        repeat.repeat_fetch(snapshot_id=snapshot.id)
    snapshot.refresh_from_db()
    assert (snapshot.status, snapshot.judge_job_id, snapshot.judging_claimed_at) == (Status.JUDGING, None, None)

    monkeypatch.setattr(repeat, "run_evaluate", evaluate)
    # While another delivery holds a fresh claim (making the job), this one makes none.
    MetricSnapshot.objects.filter(id=snapshot.id).update(judging_claimed_at=timezone.now())
    assert repeat.repeat_fetch(snapshot_id=snapshot.id).judge_job_id is None
    assert not JudgeJob.objects.exists()
    # A claim older than the task time limit is a dead delivery's: taken over.
    dead = timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 1)
    MetricSnapshot.objects.filter(id=snapshot.id).update(judging_claimed_at=dead)
    snapshot = repeat.repeat_fetch(snapshot_id=snapshot.id)
    assert snapshot.judge_job_id == JudgeJob.objects.get().id and no_broker["launch"] == [snapshot.judge_job_id]


def test_a_cycle_closed_while_its_job_was_made_cancels_the_job(schedule, sent, no_broker, monkeypatch):
    evaluate = repeat.run_evaluate

    def closed_meanwhile(*, run, user=None):
        job = evaluate(run=run, user=user)
        repeat._fail(run.snapshot.id, "the cycle did not get past fetching within 24 h")  # the beat, meanwhile
        return job

    monkeypatch.setattr(repeat, "run_evaluate", closed_meanwhile)
    snapshot = repeat.repeat_fetch(snapshot_id=repeat.schedule_start(schedule=schedule).id)

    assert snapshot.status == Status.FAILED and snapshot.judge_job_id is None
    assert JudgeJob.objects.get().status == JudgeJob.Status.CANCELLED
