"""The stall watchdog: active judge jobs whose queued work was lost (a broker restart
drops Redis' messages here) are enqueued again, and only those.

The chunk fan-out is recorded (the `no_broker` fixture), the broker backlog is read from
the real Redis of the test run, and the LLM is the fake server."""

from datetime import timedelta

import pytest
from celery import current_app
from django.db.models import F
from django.utils import timezone

from config.broker import broker_backlog
from judging import jobs
from judging.jobs import judge_job_create
from judging.models import JudgeChunk, JudgeJob
from judging.watchdog import judge_jobs_resume_stalled

from .conftest import grid

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_backoff")]

STALL = timedelta(minutes=15)


@pytest.fixture
def job(llm_project, catalogue, no_broker):
    """A launched job (prep and judge chunks planned) whose chunk messages never ran."""
    project = llm_project("text")
    run = catalogue(project).run("A", grid("q1 q2", "p1 p2 p3"))
    created = judge_job_create(project=project, run=run)
    jobs.judge_job_launch(job_id=created.id)
    no_broker["pending"].clear()
    created.refresh_from_db()
    return created


def age(job: JudgeJob, by: timedelta) -> None:
    """Move the job's and its chunks' signs of life `by` into the past."""
    then = timezone.now() - by
    JudgeJob.objects.filter(id=job.id).update(created_at=then, started_at=then)
    JudgeChunk.objects.filter(job=job).exclude(touched_at=None).update(touched_at=then)


def test_a_silent_running_job_gets_its_unfinished_chunks_enqueued_again(job, no_broker):
    age(job, STALL + timedelta(minutes=1))

    assert judge_jobs_resume_stalled(stall=STALL) == [job.id]

    assert no_broker["pending"] == [job.id]
    # The resumed chunks count as alive: the next tick does not enqueue them twice.
    assert not JudgeChunk.objects.filter(job=job, done=False, touched_at=None).exists()
    assert judge_jobs_resume_stalled(stall=STALL) == []
    assert no_broker["pending"] == [job.id]


def test_a_job_whose_chunk_showed_life_recently_is_left_alone(job, no_broker):
    age(job, STALL + timedelta(minutes=1))
    JudgeChunk.objects.filter(job=job).update(touched_at=timezone.now() - timedelta(minutes=2))

    assert judge_jobs_resume_stalled(stall=STALL) == []
    assert no_broker["pending"] == []


def test_a_queued_job_whose_launch_was_lost_is_launched_again(llm_project, catalogue, no_broker):
    project = llm_project("text")
    created = judge_job_create(project=project, run=catalogue(project).run("A", grid("q1", "p1")))
    no_broker["launch"].clear()
    age(created, STALL + timedelta(minutes=1))

    assert judge_jobs_resume_stalled(stall=STALL) == [created.id]

    assert no_broker["launch"] == [created.id]


def test_a_job_whose_chunks_are_all_done_is_finished(job, no_broker):
    for phase in ("prep", "judge"):
        for chunk_id in JudgeChunk.objects.filter(job=job, phase=phase).values_list("id", flat=True):
            jobs.judge_chunk_run(chunk_id=chunk_id)
    assert not JudgeChunk.objects.filter(job=job, done=False).exists()
    # The worker died after the last chunk committed, before it finished the job.
    JudgeJob.objects.filter(id=job.id).update(status=JudgeJob.Status.RUNNING, finished_at=None)
    age(job, STALL + timedelta(minutes=1))

    assert judge_jobs_resume_stalled(stall=STALL) == [job.id]

    job.refresh_from_db()
    assert (job.status, job.done) == (JudgeJob.Status.DONE, 6)


def test_finished_and_cancelled_jobs_are_never_resumed(job, no_broker):
    jobs.judge_job_cancel(job=job)
    age(job, STALL * 10)

    assert judge_jobs_resume_stalled(stall=STALL) == []
    assert no_broker["pending"] == []


def test_nothing_is_resumed_while_messages_wait_in_the_broker(job, no_broker):
    age(job, STALL + timedelta(minutes=1))
    current_app.control.purge()
    # A message nobody consumes in this test run: the workers are busy, in effect.
    current_app.send_task("judging.resume_stalled_jobs")
    try:
        assert broker_backlog() == 1
        assert judge_jobs_resume_stalled(stall=STALL) == []
        assert no_broker["pending"] == []
    finally:
        current_app.control.purge()
    assert broker_backlog() == 0


def test_the_resume_jobs_command_resumes_and_says_which(job, no_broker):
    from io import StringIO

    from django.core.management import CommandError, call_command

    age(job, timedelta(hours=1))
    out = StringIO()

    call_command("resume_jobs", "--stall-minutes", "30", stdout=out)

    assert out.getvalue().strip() == f"resumed 1 job(s): {job.id}"
    with pytest.raises(CommandError, match="positive"):
        call_command("resume_jobs", "--stall-minutes", "0")


def test_celery_beat_sends_the_watchdog_and_every_scheduled_task_exists():
    from config.celery import app

    app.loader.import_default_modules()
    schedule = app.conf.beat_schedule

    assert schedule["judge-watchdog"]["task"] == "judging.resume_stalled_jobs"
    assert {entry["task"] for entry in schedule.values()} <= set(app.tasks)


def test_a_chunk_waiting_for_a_long_retry_after_is_not_taken_for_lost(
    llm_project, catalogue, fake_llm, no_broker, settings
):
    settings.QRELAY_JUDGE_CHUNK_RETRIES = 3
    fake_llm.retry_after = "3600"  # the provider asks for an hour, far beyond the stall time
    project = llm_project("text")
    job = judge_job_create(project=project, run=catalogue(project).run("A", grid("q1", "p1")))
    jobs.judge_job_launch(job_id=job.id)
    fake_llm.inject("429", count=3, match_task="guideline")
    [prep] = JudgeChunk.objects.filter(job=job, phase="prep")

    outcome = jobs.judge_chunk_run(chunk_id=prep.id)
    JudgeJob.objects.filter(id=job.id).update(
        created_at=timezone.now() - timedelta(hours=2), started_at=timezone.now() - timedelta(hours=2)
    )

    assert outcome.retry_in == 3600
    # 20 minutes on (every sign of life moved back by 20 minutes), the chunk still waits
    # for its retry in a worker: not stalled.
    JudgeChunk.objects.filter(job=job).exclude(touched_at=None).update(
        touched_at=F("touched_at") - timedelta(minutes=20)
    )
    assert judge_jobs_resume_stalled(stall=timedelta(minutes=15)) == []
    assert no_broker["pending"] == []
