"""A large upload imported by a real `celery worker` process (Redis, the test database):
the API answers 202 at once, the job's status URL shows it finished, with its summary."""

import time

import pytest
import redis
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.importers.jobs import _ProgressWriter
from annotation.models import ImportJob, Query
from tests.builders import broker_beside_the_runs, build_world, celery_worker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_worker_imports_a_large_upload_and_the_status_url_shows_it(django_user_model, settings, tmp_path):
    broker = broker_beside_the_runs(2)
    redis.Redis.from_url(broker).flushdb()
    settings.QRELAY_IMPORT_ASYNC_BYTES = 10
    settings.MEDIA_ROOT = tmp_path / "media"
    world = build_world(django_user_model)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=world['lead']).key}")
    text = "query_id,query\n" + "".join(f"w{i},query {i}\n" for i in range(500))

    with celery_worker(name="imports", broker=broker, directory=tmp_path, media_root=settings.MEDIA_ROOT):
        response = client.post(
            f"/api/projects/{world['project'].id}/queries/upload/",
            {"file": SimpleUploadedFile("queries.csv", text.encode())},
        )
        assert response.status_code == 202
        deadline = time.monotonic() + 60
        status = response.json()
        while status["status"] in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.2)
            status = client.get(response.json()["status_url"]).json()

    assert (status["status"], status["rows_done"], status["error"]) == ("done", 500, "")
    assert status["summary"]["counts"] == {"queries created": 500, "updated": 0, "unchanged": 0}
    assert Query.objects.filter(project=world["project"], external_id__startswith="w").count() == 500


def test_progress_is_written_outside_the_imports_transaction(django_user_model):
    world = build_world(django_user_model)
    job = ImportJob.objects.create(project=world["project"], kind="run", file_name="run.csv")
    writer = _ProgressWriter(job.pk)
    with pytest.raises(RuntimeError), transaction.atomic():
        writer(1234)
        raise RuntimeError("the import failed and rolled back")
    writer.close()

    assert ImportJob.objects.get(pk=job.pk).rows_done == 1234
