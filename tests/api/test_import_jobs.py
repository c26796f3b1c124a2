"""Large uploads: over QRELAY_IMPORT_ASYNC_BYTES the upload is saved and queued as an
ImportJob (202 + a status URL); the worker's task imports it and records its summary or
its problems. Here the task's service runs in the test process (tasks are never eager in
tests); tests/annotation/test_import_worker.py runs it through a real worker."""

from datetime import timedelta
from pathlib import Path

import pytest
from celery import current_app
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from annotation.importers.jobs import import_job_run
from annotation.models import ImportJob, SearchResult, SearchRun
from annotation.tasks import import_job_run_task, import_jobs_fail_stalled_task
from config.broker import broker_backlog

pytestmark = pytest.mark.django_db

RESULTS = "query_id,product_id,rank,score\nq1,p2,1,0.9\nq1,p1,2,0.8\nq2,p3,1,0.7\n"


@pytest.fixture
def large(settings, tmp_path):
    """Every upload over 10 bytes counts as large; uploads land in a media root of the test's own."""
    settings.QRELAY_IMPORT_ASYNC_BYTES = 10
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def upload(name: str, text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="application/octet-stream")


def post_results(api, world, text: str, django_capture_on_commit_callbacks):
    run = SearchRun.objects.get(project=world["project"], name="bm25")
    with django_capture_on_commit_callbacks() as queued:
        response = api.post(
            f"/api/projects/{world['project'].id}/runs/{run.id}/results/upload/", {"file": upload("run.csv", text)}
        )
    return response, queued, run


def test_a_large_upload_is_queued_then_imported_by_the_task(lead_api, world, large, django_capture_on_commit_callbacks):
    SearchResult.objects.filter(run__name="bm25").delete()
    response, queued, run = post_results(lead_api, world, RESULTS, django_capture_on_commit_callbacks)

    assert response.status_code == 202
    job = response.json()
    assert (job["status"], job["kind"], job["file_name"], job["rows_done"]) == ("queued", "run", "run.csv", 0)
    assert job["status_url"].endswith(f"/api/projects/{world['project'].id}/imports/{job['id']}/")
    assert len(queued) == 1  # the task, sent once the job is committed
    stored = Path(large) / ImportJob.objects.get(pk=job["id"]).stored_path
    assert stored.read_text() == RESULTS  # saved to disk, not held for the worker in memory
    assert not SearchResult.objects.filter(run=run).exists()

    import_job_run(job_id=job["id"])  # what the worker's task does

    status = lead_api.get(job["status_url"]).json()
    assert (status["status"], status["rows_done"], status["problems"]) == ("done", 3, [])
    assert status["summary"]["counts"]["results created"] == 3
    assert status["finished_at"] is not None
    assert SearchResult.objects.filter(run=run).count() == 3
    assert not stored.exists() and not stored.parent.exists()


def test_a_large_bad_upload_fails_with_the_same_problems_and_writes_nothing(
    lead_api, world, large, django_capture_on_commit_callbacks
):
    before = SearchResult.objects.count()
    response, _, _ = post_results(lead_api, world, RESULTS + "q3,p9,1,0.5\n", django_capture_on_commit_callbacks)
    job_id = response.json()["id"]

    import_job_run(job_id=job_id)

    status = lead_api.get(response.json()["status_url"]).json()
    assert (status["status"], status["problem_count"]) == ("failed", 2)
    assert status["problems"] == [
        {
            "file": "run.csv",
            "line": 5,
            "column": "query_id",
            "message": "unknown query_id 'q3': import the queries first or add a 'query' column",
        },
        {
            "file": "run.csv",
            "line": 5,
            "column": "product_id",
            "message": "unknown product_id 'p9': import the products first or add a 'product_title' column",
        },
    ]
    assert SearchResult.objects.count() == before


def test_a_job_runs_once_however_often_its_task_is_delivered(
    lead_api, world, large, django_capture_on_commit_callbacks
):
    SearchResult.objects.filter(run__name="bm25").delete()
    response, _, run = post_results(lead_api, world, RESULTS, django_capture_on_commit_callbacks)
    job_id = response.json()["id"]

    import_job_run(job_id=job_id)
    SearchResult.objects.filter(run=run).delete()
    import_job_run(job_id=job_id)  # a second delivery: the job is no longer queued

    assert not SearchResult.objects.filter(run=run).exists()
    assert ImportJob.objects.get(pk=job_id).status == "done"


def test_small_uploads_stay_synchronous(lead_api, world, settings):
    settings.QRELAY_IMPORT_ASYNC_BYTES = 10_000
    response = lead_api.post(
        f"/api/projects/{world['project'].id}/queries/upload/", {"file": upload("q.csv", "query_id,query\nq7,hat\n")}
    )

    assert response.status_code == 200
    assert response.json()["counts"]["queries created"] == 1
    assert not ImportJob.objects.exists()


def test_only_the_projects_leads_see_its_import_jobs(
    lead_api, annotator_api, world, large, django_capture_on_commit_callbacks
):
    response, _, _ = post_results(lead_api, world, RESULTS, django_capture_on_commit_callbacks)
    job_id = response.json()["id"]

    assert annotator_api.get(f"/api/projects/{world['project'].id}/imports/{job_id}/").status_code == 403
    assert lead_api.get(f"/api/projects/{world['other'].id}/imports/{job_id}/").status_code == 404


def test_upload_endpoints_still_answer_options_requests(lead_api, world):
    # The views' importer options must not shadow DRF's OPTIONS handler.
    response = lead_api.options(f"/api/projects/{world['project'].id}/labels/upload/")

    assert response.status_code == 200
    assert response.json()["name"]


def _running_job_silent_for(world, large, minutes: int) -> ImportJob:
    """A job its worker started and then lost (killed): running, last sign of life `minutes` ago."""
    folder = Path(large) / "imports" / "abc"
    folder.mkdir(parents=True)
    (folder / "run.csv").write_text(RESULTS)
    job = ImportJob.objects.create(
        project=world["project"],
        kind="run",
        file_name="run.csv",
        stored_path="imports/abc/run.csv",
        status="running",
        rows_done=2,
    )
    ImportJob.objects.filter(pk=job.pk).update(touched_at=timezone.now() - timedelta(minutes=minutes))
    return job


def test_a_running_job_without_progress_is_marked_failed_when_its_status_is_read(lead_api, world, large, settings):
    settings.QRELAY_IMPORT_STALL_MINUTES = 30
    fresh = _running_job_silent_for(world, large, 29)
    url = f"/api/projects/{world['project'].id}/imports/{fresh.pk}/"
    assert lead_api.get(url).json()["status"] == "running"  # not silent long enough yet

    ImportJob.objects.filter(pk=fresh.pk).update(touched_at=timezone.now() - timedelta(minutes=31))
    status = lead_api.get(url).json()

    assert status["status"] == "failed"
    assert "no progress for 30 minutes" in status["error"]
    assert status["finished_at"] is not None
    assert not (Path(large) / "imports" / "abc").exists()  # the stored upload is removed


def test_the_beat_task_fails_stalled_jobs_and_leaves_live_and_finished_ones(world, large, settings):
    settings.QRELAY_IMPORT_STALL_MINUTES = 10
    stalled = _running_job_silent_for(world, large, 11)
    live = ImportJob.objects.create(project=world["project"], kind="run", file_name="b.csv", status="running")
    ImportJob.objects.filter(pk=live.pk).update(touched_at=timezone.now() - timedelta(minutes=2))
    done = ImportJob.objects.create(project=world["project"], kind="run", file_name="c.csv", status="done")
    ImportJob.objects.filter(pk=done.pk).update(created_at=timezone.now() - timedelta(days=1))

    import_jobs_fail_stalled_task()

    statuses = dict(ImportJob.objects.values_list("pk", "status"))
    assert statuses == {stalled.pk: "failed", live.pk: "running", done.pk: "done"}


def test_a_queued_job_whose_task_was_lost_is_sent_again_once_then_failed(
    lead_api, world, large, settings, monkeypatch, django_capture_on_commit_callbacks
):
    """No worker here: the uploads are queued and their tasks never run, as when the
    broker lost their messages. The stall check sends a task again once; a job still
    queued a stall time later is failed with the reason, on the API."""
    settings.QRELAY_IMPORT_STALL_MINUTES = 10
    current_app.control.purge()
    assert broker_backlog() == 0  # the broker lost every message: nothing waits there
    SearchResult.objects.filter(run__name="bm25").delete()
    lost = post_results(lead_api, world, RESULTS, django_capture_on_commit_callbacks)[0].json()
    hopeless = post_results(lead_api, world, RESULTS, django_capture_on_commit_callbacks)[0].json()
    fresh = post_results(lead_api, world, RESULTS, django_capture_on_commit_callbacks)[0].json()
    eleven_minutes_ago = timezone.now() - timedelta(minutes=11)
    ImportJob.objects.filter(pk__in=[lost["id"], hopeless["id"]]).update(created_at=eleven_minutes_ago)
    sent: list[int] = []
    monkeypatch.setattr(import_job_run_task, "delay", sent.append)

    with django_capture_on_commit_callbacks(execute=True):
        import_jobs_fail_stalled_task()
        import_jobs_fail_stalled_task()  # a second check at once sends nothing more

    assert sorted(sent) == sorted([lost["id"], hopeless["id"]])  # not the fresh one
    assert set(ImportJob.objects.values_list("status", flat=True)) == {"queued"}

    import_job_run(job_id=lost["id"])  # the task sent again reaches a worker
    assert ImportJob.objects.get(pk=lost["id"]).status == "done"

    # The other one's task was lost again: a stall time later it is failed, with the reason.
    ImportJob.objects.filter(pk=hopeless["id"]).update(requeued_at=eleven_minutes_ago)
    stored = Path(large) / ImportJob.objects.get(pk=hopeless["id"]).stored_path
    status = lead_api.get(hopeless["status_url"]).json()

    assert status["status"] == "failed" and status["finished_at"] is not None
    assert "never started: still queued 10 minutes after its task was sent again" in status["error"]
    assert "upload the file again" in status["error"]
    assert not stored.parent.exists()  # the stored upload is removed
    assert lead_api.get(fresh["status_url"]).json()["status"] == "queued"
    assert sorted(sent) == sorted([lost["id"], hopeless["id"]])  # never sent a second time


@pytest.fixture
def busy_broker():
    """One message that waits in the test run's Redis queue (no worker consumes it): the
    workers are busy with earlier work, e.g. a long judge job's chunks."""
    current_app.control.purge()
    current_app.send_task("annotation.fail_stalled_imports")
    assert broker_backlog() == 1
    yield
    current_app.control.purge()


def test_a_queued_job_waiting_behind_a_busy_queue_is_neither_sent_again_nor_failed(
    lead_api, world, large, settings, monkeypatch, busy_broker, django_capture_on_commit_callbacks
):
    """Imports share the queue with judge chunks: behind hours of them an import waits
    longer than two stall times, and its message is not lost while the queue holds work.
    A running job without progress is failed all the same: its worker took its task and died."""
    settings.QRELAY_IMPORT_STALL_MINUTES = 10
    unsent = post_results(lead_api, world, RESULTS, django_capture_on_commit_callbacks)[0].json()
    resent = post_results(lead_api, world, RESULTS, django_capture_on_commit_callbacks)[0].json()
    long_ago = timezone.now() - timedelta(minutes=25)
    ImportJob.objects.filter(pk__in=[unsent["id"], resent["id"]]).update(created_at=long_ago)
    ImportJob.objects.filter(pk=resent["id"]).update(requeued_at=timezone.now() - timedelta(minutes=11))
    dead = _running_job_silent_for(world, large, 11)
    sent: list[int] = []
    monkeypatch.setattr(import_job_run_task, "delay", sent.append)

    with django_capture_on_commit_callbacks(execute=True):
        import_jobs_fail_stalled_task()

    assert sent == []
    assert lead_api.get(unsent["status_url"]).json()["status"] == "queued"
    assert lead_api.get(resent["status_url"]).json()["status"] == "queued"
    assert ImportJob.objects.get(pk=dead.pk).status == "failed"

    # The queue drains and both are still queued: now their messages are lost.
    current_app.control.purge()
    with django_capture_on_commit_callbacks(execute=True):
        import_jobs_fail_stalled_task()

    assert sent == [unsent["id"]]
    assert ImportJob.objects.get(pk=unsent["id"]).status == "queued"
    status = lead_api.get(resent["status_url"]).json()
    assert status["status"] == "failed"
    assert "with no task left waiting in the queue" in status["error"]


def test_in_the_embedded_mode_the_broker_is_never_asked(
    lead_api, world, large, settings, monkeypatch, busy_broker, django_capture_on_commit_callbacks
):
    """Tasks run in-process there: no queue can hold a job's task, so an overdue queued job
    is sent again as before (the message waiting in Redis is not the embedded mode's)."""
    settings.QRELAY_IMPORT_STALL_MINUTES = 10
    job = post_results(lead_api, world, RESULTS, django_capture_on_commit_callbacks)[0].json()
    ImportJob.objects.filter(pk=job["id"]).update(created_at=timezone.now() - timedelta(minutes=11))
    settings.CELERY_TASK_ALWAYS_EAGER = True
    sent: list[int] = []
    monkeypatch.setattr(import_job_run_task, "delay", sent.append)

    assert broker_backlog() == 0
    with django_capture_on_commit_callbacks(execute=True):
        import_jobs_fail_stalled_task()

    assert sent == [job["id"]]


def test_starting_is_a_sign_of_life(lead_api, world, large, django_capture_on_commit_callbacks):
    """The worker touches the job when it starts (and, on its own connection, as it reads
    rows), so the stall time counts from the last progress, not from the upload."""
    SearchResult.objects.filter(run__name="bm25").delete()
    response, _, _ = post_results(lead_api, world, RESULTS, django_capture_on_commit_callbacks)
    job_id = response.json()["id"]
    assert ImportJob.objects.get(pk=job_id).touched_at is None

    import_job_run(job_id=job_id)

    job = ImportJob.objects.get(pk=job_id)
    assert job.touched_at is not None and timezone.now() - job.touched_at < timedelta(minutes=1)


def test_celery_beat_sends_the_import_stall_check():
    from config.celery import app

    app.loader.import_default_modules()

    assert app.conf.beat_schedule["import-watchdog"]["task"] == "annotation.fail_stalled_imports"
    assert "annotation.fail_stalled_imports" in app.tasks
