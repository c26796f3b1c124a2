"""The embedded mode (no broker: tasks run in this process) against a server that fails
now and then, and the conflicts and resumes a person meets there.

The tests run on PostgreSQL and Redis and never switch Celery itself to eager; the
judging code reads CELERY_TASK_ALWAYS_EAGER when it sends work, so a test switches the
setting and the job runs here, as `judge`, `resume_jobs` and the run page run it without
a broker. The last test runs `manage.py` the embedded way for real: SQLite, no broker."""

import os
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError

from judging import jobs, watchdog
from judging.jobs import judge_job_create, sending
from judging.models import JudgeChunk, JudgeJob, Judgment
from tests.fakes.openai_server import FakeOpenAIServer

from .conftest import MODELS, PRODUCTS, QUERIES, SERVED, grid, png

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_backoff")]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def embedded(settings, monkeypatch):
    """No broker: jobs run in this process. The waits between a chunk's attempts are
    recorded, not slept."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    waits: list[float] = []
    monkeypatch.setattr(sending, "sleep", waits.append)
    return waits


def test_tests_do_not_switch_celery_itself_to_eager():
    from config.celery import app

    assert not app.conf.task_always_eager  # what `embedded` switches is only the setting


# --- transient failures in-process (item 1) ------------------------------------------------


@pytest.mark.parametrize("kind", ["429", "500", "hang"])
def test_a_chunk_that_asks_for_a_retry_waits_its_backoff_in_process_and_the_job_finishes(
    kind, embedded, llm_project, catalogue, fake_llm, settings, django_capture_on_commit_callbacks
):
    settings.QRELAY_LLM_TIMEOUT = 1  # a hang (5 s) becomes a client timeout
    fake_llm.retry_after = "2.5"
    project = llm_project("text", max_in_flight=1)  # one call at a time: the first pair takes the faults
    run = catalogue(project).run("A", grid("q1", "p1 p2"))
    fake_llm.inject(kind, count=3, match_task="judgment")  # more than the backend's own tries

    with django_capture_on_commit_callbacks(execute=True):
        job = judge_job_create(project=project, run=run)

    job.refresh_from_db()
    assert (job.status, job.done, job.failed) == ("done", 2, 0)
    assert embedded == [5.0]  # outcome.retry_delay of the first retry, as a worker's countdown
    assert JudgeChunk.objects.get(job=job, phase="judge").attempts == 2
    assert Judgment.objects.filter(job=job, status="ok").count() == 2


def test_when_the_retries_are_used_up_the_job_ends_with_the_reason_instead_of_a_traceback(
    embedded, llm_project, catalogue, fake_llm, settings, django_capture_on_commit_callbacks
):
    settings.QRELAY_JUDGE_CHUNK_RETRIES = 2
    project = llm_project("text")
    run = catalogue(project).run("A", grid("q1", "p1 p2"))
    fake_llm.inject("500", count=1000, match_task="judgment")

    with django_capture_on_commit_callbacks(execute=True):
        job = judge_job_create(project=project, run=run)

    job.refresh_from_db()
    assert embedded == [5.0, 10.0]  # the worker path's delays and cap
    assert (job.status, job.done, job.failed) == ("done", 0, 2)
    assert job.failures == {"HTTP 500: The server had an error while processing your request.": 2}
    assert fake_llm.calls_by_task["judgment"] == 3 * 3 * 2  # attempts × in-task tries × pairs


@pytest.mark.django_db(transaction=True)
def test_the_judge_command_runs_a_job_through_server_errors_and_prints_why_pairs_failed(
    embedded, llm_project, catalogue, fake_llm, settings
):
    settings.QRELAY_JUDGE_CHUNK_RETRIES = 1
    project = llm_project("text", max_in_flight=1)
    catalogue(project).run("A", grid("q1", "p1 p2 p3"))
    fake_llm.inject("500", count=3, match_task="judgment")  # the first pair's tries: one retry
    fake_llm.inject("truncated", count=3, match_task="judgment")  # then one pair stays invalid
    out = StringIO()

    call_command("judge", "--project", project.name, stdout=out)

    text = out.getvalue()
    job = JudgeJob.objects.get(project=project)
    assert (job.status, job.done, job.failed) == ("done", 2, 1)
    assert f"job {job.id} done: 2 judged (0 cached), 1 failed" in text
    assert (
        "failed pairs by reason:\n  1 × no valid label in the answer: answer truncated (finish_reason=length)" in text
    )
    assert embedded == [5.0]


@pytest.mark.django_db(transaction=True)
def test_the_run_pages_button_runs_the_job_through_server_errors_and_shows_it_done(
    embedded, llm_project, catalogue, fake_llm, client, django_user_model
):
    from django.urls import reverse

    from annotation.models import Membership

    project = llm_project("text", max_in_flight=1)
    run = catalogue(project).run("A", grid("q1", "p1 p2"))
    lead = django_user_model.objects.create_user(username="lena")
    Membership.objects.create(project=project, user=lead, role="lead")
    client.force_login(lead)
    fake_llm.inject("429", count=3, match_task="judgment")

    page = client.post(
        reverse("judging:run_judge_start", args=[project.id, run.id]),
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="judging-panel",
    )

    assert page.status_code == 200
    job = JudgeJob.objects.get(run=run)
    assert (job.status, job.done, job.failed) == ("done", 2, 0)
    assert "status-done" in page.content.decode()
    assert embedded == [5.0]


# --- resume_jobs (item 2) ------------------------------------------------------------------


def test_resume_jobs_resumes_every_stalled_job_and_reports_the_one_that_failed(
    llm_project, catalogue, no_broker, monkeypatch
):
    from datetime import timedelta

    from django.utils import timezone

    project = llm_project("text")
    data = catalogue(project)
    stalled = []
    for name in ("A", "B", "C"):
        job = judge_job_create(project=project, run=data.run(name, grid("q1", "p1")))
        jobs.judge_job_launch(job_id=job.id)
        stalled.append(job)
    then = timezone.now() - timedelta(hours=1)
    JudgeJob.objects.update(created_at=then, started_at=then)
    JudgeChunk.objects.update(touched_at=then)
    no_broker["pending"].clear()
    real = watchdog.judge_job_resume

    def resume(*, job_id):
        if job_id == stalled[0].id:
            raise RuntimeError("the database went away")
        return real(job_id=job_id)

    monkeypatch.setattr(watchdog, "judge_job_resume", resume)
    out, err = StringIO(), StringIO()

    with pytest.raises(CommandError, match=f"1 job\\(s\\) could not be resumed: {stalled[0].id}"):
        call_command("resume_jobs", "--stall-minutes", "30", stdout=out, stderr=err)

    assert no_broker["pending"] == [stalled[1].id, stalled[2].id]
    assert out.getvalue().strip() == f"resumed 2 job(s): {stalled[1].id}, {stalled[2].id}"
    assert f"job {stalled[0].id} could not be resumed: RuntimeError: the database went away" in err.getvalue()


# --- one active job per run on any database (item 2) ----------------------------------------


def test_a_conflict_is_recognised_where_the_database_does_not_name_the_constraint(
    llm_project, catalogue, no_broker, monkeypatch
):
    project = llm_project("text")
    run = catalogue(project).run("A", grid("q1", "p1"))
    first = judge_job_create(project=project, run=run)

    def sqlite_refuses(**fields):
        # What SQLite says, with no PostgreSQL diagnostics on the cause.
        raise IntegrityError("UNIQUE constraint failed: judging_judgejob.run_id")

    monkeypatch.setattr(JudgeJob.objects, "create", sqlite_refuses)

    with pytest.raises(jobs.JobConflict, match=f"job {first.id} of run A is still active"):
        judge_job_create(project=project, run=run, holes_only=False)
    with pytest.raises(CommandError, match=f"job {first.id} of run A is still active"):
        call_command("judge", "--project", project.name, "--run", "A", "--all", stdout=StringIO())


def test_other_integrity_errors_are_not_mistaken_for_a_conflict(llm_project, catalogue, no_broker, monkeypatch):
    project = llm_project("text")
    run = catalogue(project).run("A", grid("q1", "p1"))

    def refuses(**fields):
        raise IntegrityError("FOREIGN KEY constraint failed")

    monkeypatch.setattr(JudgeJob.objects, "create", refuses)

    with pytest.raises(IntegrityError):
        judge_job_create(project=project, run=run)


# --- the embedded mode for real: SQLite, no broker --------------------------------------------


def manage(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "CELERY_BROKER_URL", "QRELAY_REDIS_URL") and not key.startswith("QRELAY_LLM_")
    }
    environment.update(QRELAY_DATA_DIR=str(data_dir), **env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300
    )


def test_judge_in_the_embedded_mode_survives_server_errors_and_refuses_a_second_job_clearly(tmp_path):
    data = tmp_path / "data"
    (tmp_path / "img").mkdir()
    products = ["product_id,title,category,image"]
    for pid in ("p1", "p2"):
        (tmp_path / "img" / f"{pid}.png").write_bytes(png(PRODUCTS[pid][3]))
        products.append(f"{pid},{PRODUCTS[pid][0]},{PRODUCTS[pid][1]},img/{pid}.png")
    (tmp_path / "products.csv").write_text("\n".join(products) + "\n")
    (tmp_path / "queries.csv").write_text(f"query_id,query\nq1,{QUERIES['q1']}\n")
    (tmp_path / "run.csv").write_text("query_id,product_id,rank\nq1,p1,1\nq1,p2,2\n")
    # One process for the set-up: each start of manage.py costs seconds here.
    steps = [
        ("migrate", "--no-input", "-v0"),
        ("create_project", "shop"),
        ("import_products", "--project", "shop", str(tmp_path / "products.csv")),
        ("import_queries", "--project", "shop", str(tmp_path / "queries.csv")),
        ("import_run", "--project", "shop", "--run", "A", str(tmp_path / "run.csv")),
    ]
    script = "from django.core.management import call_command\n" + "".join(
        f"call_command(*{list(step)!r})\n" for step in steps
    )
    done = manage(data, "shell", "--no-imports", "-c", script)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (data / "qrelay.sqlite3").exists()

    with FakeOpenAIServer(models=SERVED) as server:
        # The first pair's three tries fail: the chunk waits its 5 s backoff and runs again.
        server.inject("500", count=3, match_task="judgment")
        env = {
            "OPENAI_BASE_URL": server.base_url,
            "OPENAI_API_KEY": "test-key",
            "QRELAY_GUIDELINE_MODEL": MODELS["guideline_model"],
            "QRELAY_VISION_MODEL": MODELS["vision_model"],
            "QRELAY_JUDGE_MODEL": MODELS["judge_model"],
            "QRELAY_LLM_MAX_IN_FLIGHT": "1",
        }
        started = time.monotonic()
        judged = manage(data, "judge", "--project", "shop", "--backend", "openai", **env)
        took = time.monotonic() - started

        assert judged.returncode == 0, judged.stdout + judged.stderr
        assert "done: 2 judged (0 cached), 0 failed" in judged.stdout
        assert "Traceback" not in judged.stderr
        assert took >= 5, "the chunk waited its backoff before its second attempt"
        assert server.calls_by_task["judgment"] == 3 + 2

        # A job of the run that is still running (say, a crashed process left it): the
        # second `judge` is told so, not shown SQLite's IntegrityError.
        stuck = manage(
            data,
            "shell",
            "--no-imports",
            "-c",
            "from judging.models import JudgeJob; from annotation.models import SearchRun; "
            "run = SearchRun.objects.get(name='A'); "
            "print(JudgeJob.objects.create(project=run.project, run=run, description='stuck', backend='openai', "
            "mode='text', model='m', status='running').id)",
        )
        assert stuck.returncode == 0, stuck.stdout + stuck.stderr
        again = manage(data, "judge", "--project", "shop", "--all", **env)

    assert again.returncode == 1
    assert f"Judging job {stuck.stdout.strip()} of run A is still active" in again.stderr
    assert "IntegrityError" not in again.stderr
