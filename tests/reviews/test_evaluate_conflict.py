"""'Evaluate run' from the page and the API: when two requests both pass the
active-job check, the database's one-active-job-per-run index refuses the second, and
both entry points answer 409 (not a 400), with nothing paid twice."""

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from judging.models import JudgeJob
from tests.builders import build_world, start_job

pytestmark = pytest.mark.django_db


def test_evaluate_answers_409_when_the_database_refuses_a_second_job(django_user_model, monkeypatch):
    import importlib

    import reviews.api

    # (reviews.views re-exports a view named `review`, which hides the module.)
    review_views = importlib.import_module("reviews.views.review")
    world = build_world(django_user_model)
    project, run = world["project"], world["run"]
    first = start_job(project, run=run)
    # The race: both checks saw no active job.
    monkeypatch.setattr(review_views, "run_has_active_job", lambda run: False)
    monkeypatch.setattr(reviews.api.RunEvaluate, "active_job", lambda self: None)

    client = Client()
    client.force_login(world["lead"])
    page = client.post(reverse("reviews:run_evaluate", args=[project.id, run.id]))
    api = APIClient()
    api.force_authenticate(world["lead"])
    answer = api.post(f"/api/projects/{project.id}/runs/{run.id}/evaluate/")

    assert page.status_code == 409 and "still active" in page.content.decode()
    assert answer.status_code == 409 and "still active" in answer.json()["detail"]
    assert list(JudgeJob.objects.filter(run=run).values_list("id", flat=True)) == [first.id]
