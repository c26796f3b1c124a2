"""The `judge` command while it watches a job (issue #14): with a broker but no worker
it says so after a while instead of "0/30 (queued)" forever, and off a terminal its
progress bar prints a line per 10% instead of carriage-return frames."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import OutputWrapper

from judging.management.commands import judge as judge_command
from judging.models import JudgeJob
from tests.builders import build_world, start_job

pytestmark = pytest.mark.django_db


def test_with_a_broker_and_no_worker_it_says_nothing_consumes_the_queue(django_user_model, monkeypatch, settings):
    # The tests' broker is real Redis with no worker on this db: the job stays queued.
    assert not settings.CELERY_TASK_ALWAYS_EAGER
    world = build_world(django_user_model)
    monkeypatch.setattr(judge_command, "NO_WORKER_AFTER", 0.0)
    monkeypatch.setattr(judge_command, "POLL_SECONDS", 0.0)
    polls = []

    def sleep(seconds):  # the command's poll: stop watching after a few
        polls.append(seconds)
        if len(polls) >= 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(judge_command.time, "sleep", sleep)
    out = StringIO()

    call_command("judge", "--project", world["project"].name, "--run", "bm25", stdout=out)

    text = out.getvalue()
    assert "no Celery worker answers on the broker: nothing consumes the queue 'qrelay'" in text
    assert "`make worker`" in text and "-Q qrelay" in text
    assert text.count("no Celery worker answers") == 1  # asked once, not on every poll
    assert "stopped watching; the job goes on" in text
    assert JudgeJob.objects.get(run=world["run"]).status == JudgeJob.Status.QUEUED


def test_off_a_terminal_the_progress_prints_a_line_per_tenth(django_user_model):
    world = build_world(django_user_model)
    job = start_job(world["project"], run=world["run"])
    JudgeJob.objects.filter(id=job.id).update(total=100, status=JudgeJob.Status.RUNNING)
    out = StringIO()
    progress = judge_command.Progress(OutputWrapper(out), terminal=False)

    for processed in range(101):
        JudgeJob.objects.filter(id=job.id).update(done=processed)
        progress.show(JudgeJob.objects.get(id=job.id))

    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert len(lines) == 11
    assert lines[0].startswith("[------------------------------] 0/100 (running)") and lines[0].endswith(" 0%")
    assert lines[5].startswith("[###############---------------] 50/100") and lines[5].endswith(" 50%")
    assert lines[-1].startswith("[##############################] 100/100") and lines[-1].endswith(" 100%")


def test_on_a_terminal_the_progress_redraws_one_line(django_user_model):
    world = build_world(django_user_model)
    job = start_job(world["project"], run=world["run"])
    out = StringIO()
    progress = judge_command.Progress(OutputWrapper(out), terminal=True)

    progress.show(job)
    progress.show(job)

    assert out.getvalue().count("\r[") == 2 and "\n" not in out.getvalue()
