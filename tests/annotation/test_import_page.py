"""The imports page: a lead uploads a file; a small one is imported at once (summary or
every problem), a large one becomes a job whose page polls its status with htmx."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from annotation.importers.jobs import import_job_run
from annotation.models import ImportJob, Query, SearchResult
from tests.builders import HTMX, build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(django_user_model):
    return build_world(django_user_model)


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page(world) -> str:
    return f"/projects/{world['project'].id}/imports/"


def test_a_small_file_is_imported_at_once_and_a_bad_one_lists_its_problems(world):
    lead = client_for(world["lead"])
    assert lead.get(page(world)).status_code == 200

    good = lead.post(
        page(world), {"kind": "queries", "file": SimpleUploadedFile("q.csv", b"query_id,query\nq7,hat\nq8,cap\n")}
    )
    assert good.status_code == 200
    assert "2 rows read; queries created 2" in good.content.decode()
    assert Query.objects.filter(external_id__in=["q7", "q8"]).count() == 2

    bad = lead.post(page(world), {"kind": "queries", "file": SimpleUploadedFile("q.csv", b"query_id,query\nq9,\n")})
    assert bad.status_code == 400
    assert "q.csv, line 2, column &#x27;query&#x27;: empty query text" in bad.content.decode()
    assert not Query.objects.filter(external_id="q9").exists()


def test_a_run_upload_needs_the_runs_name(world):
    response = client_for(world["lead"]).post(
        page(world), {"kind": "run", "file": SimpleUploadedFile("r.csv", b"query_id,product_id,rank\n")}
    )
    assert response.status_code == 400
    assert "Name the run the results belong to." in response.content.decode()


def test_a_large_file_becomes_a_job_whose_page_polls_until_it_is_done(
    world, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.QRELAY_IMPORT_ASYNC_BYTES = 10
    settings.MEDIA_ROOT = tmp_path
    lead = client_for(world["lead"])
    text = b"query_id,product_id,rank\nq1,p1,1\nq1,p2,2\n"
    with django_capture_on_commit_callbacks():
        response = lead.post(
            page(world), {"kind": "run", "run_name": "fresh", "file": SimpleUploadedFile("run.csv", text)}
        )
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"{page(world)}{job.pk}/"

    queued = lead.get(response["Location"]).content.decode()
    assert 'hx-trigger="every 2s"' in queued and "Queued" in queued

    import_job_run(job_id=job.pk)
    fragment = lead.get(response["Location"], **HTMX).content.decode()
    assert "<html" not in fragment  # the fragment alone, for htmx to swap in
    assert "hx-trigger" not in fragment  # finished: the polling stops
    assert "results created 2" in fragment
    assert SearchResult.objects.filter(run__name="fresh").count() == 2


def test_imports_are_for_leads(world):
    annotator = client_for(world["annotator"])
    assert annotator.get(page(world)).status_code == 403
    assert annotator.post(page(world), {"kind": "queries"}).status_code == 403


def test_the_job_page_shows_why_a_job_whose_worker_died_failed(world, settings):
    settings.QRELAY_IMPORT_STALL_MINUTES = 15
    job = ImportJob.objects.create(project=world["project"], kind="run", file_name="big.csv", status="running")
    ImportJob.objects.filter(pk=job.pk).update(touched_at=timezone.now() - timedelta(minutes=16))

    fragment = client_for(world["lead"]).get(f"{page(world)}{job.pk}/", **HTMX).content.decode()

    assert "Failed" in fragment
    assert "no progress for 15 minutes" in fragment
    assert "hx-trigger" not in fragment  # failed: the polling stops
