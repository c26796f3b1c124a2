"""The judge-job REST API: create, list, detail, cancel, scoped to the caller's projects."""

from unittest import mock

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from judging.models import JudgeJob
from judging.offline import OFFLINE_MODEL
from judging.tasks import judge_job_launch_task
from tests.builders import build_world, enqueue_spy, finish_job, launch_job, start_job

pytestmark = pytest.mark.django_db

JOB_FIELDS = {
    "id",
    "description",
    "status",
    "run",
    "backend",
    "model",
    "mode",
    "total",
    "done",
    "failed",
    "cached",
    "calls",
    "tokens_in",
    "tokens_out",
    "cost_eur",
    "created_at",
    "started_at",
    "finished_at",
    "eta_seconds",
    "error",
    "failures",
}


@pytest.fixture
def world(django_user_model):
    return build_world(django_user_model)


def api_client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def lead_api(world):
    return api_client(world["lead"])


@pytest.fixture
def annotator_api(world):
    return api_client(world["annotator"])


def jobs_url(project) -> str:
    return reverse("judging_api:job_list", args=[project.id])


def job_url(job) -> str:
    return reverse("judging_api:job_detail", args=[job.project_id, job.id])


def cancel_url(job) -> str:
    return reverse("judging_api:job_cancel", args=[job.project_id, job.id])


def test_the_api_paths_are_under_api_projects():
    assert reverse("judging_api:job_list", args=[1]) == "/api/projects/1/judge-jobs/"
    assert reverse("judging_api:job_detail", args=[1, 2]) == "/api/projects/1/judge-jobs/2/"
    assert reverse("judging_api:job_cancel", args=[1, 2]) == "/api/projects/1/judge-jobs/2/cancel/"


# --- creating ---------------------------------------------------------------------------


def test_a_lead_creates_a_job_for_the_holes_of_a_run_by_name(lead_api, world):
    with mock.patch.object(judge_job_launch_task, "delay_on_commit") as launch:
        response = lead_api.post(jobs_url(world["project"]), {"run": "bm25"}, format="json")

    assert response.status_code == 201
    data = response.json()
    assert set(data) == JOB_FIELDS
    job = JudgeJob.objects.get(id=data["id"])
    launch.assert_called_once_with(job.id)
    assert (job.project, job.run, job.created_by, job.total) == (world["project"], world["run"], world["lead"], 3)
    assert data["status"] == "queued"
    assert (data["total"], data["done"], data["failed"], data["cached"], data["calls"]) == (3, 0, 0, 0, 0)
    assert (data["backend"], data["model"], data["mode"]) == ("offline", OFFLINE_MODEL, "text")
    assert data["cost_eur"] == "0.000000"
    assert data["run"] == {"id": world["run"].id, "name": "bm25"}
    assert data["description"] == "judge holes of run bm25 (text)"
    assert data["started_at"] is None and data["finished_at"] is None and data["eta_seconds"] is None


def test_it_creates_a_job_for_a_run_by_id_with_a_mode_and_every_pair(lead_api, world):
    finish_job(start_job(world["project"], run=world["run"]))

    with enqueue_spy():
        response = lead_api.post(
            jobs_url(world["project"]), {"run": world["run"].id, "mode": "caption", "holes_only": False}, format="json"
        )

    assert response.status_code == 201
    assert (response.json()["mode"], response.json()["total"]) == ("caption", 3)
    assert response.json()["description"] == "judge run bm25 (caption)"


def test_it_skips_judged_pairs_by_default(lead_api, world):
    finish_job(start_job(world["project"], pair_ids=[world["pairs"][0].id]))

    with enqueue_spy():
        response = lead_api.post(jobs_url(world["project"]), {"run": "bm25"}, format="json")

    assert response.json()["total"] == 2


def test_it_creates_a_job_for_a_list_of_pairs(lead_api, world):
    ids = [world["pairs"][0].id, world["pairs"][2].id]

    with enqueue_spy() as launch:
        response = lead_api.post(jobs_url(world["project"]), {"pair_ids": ids}, format="json")

    assert response.status_code == 201
    job = JudgeJob.objects.get(id=response.json()["id"])
    assert sorted(job.pair_ids) == sorted(ids)
    assert job.run is None and response.json()["run"] is None
    launch.assert_called_once_with(job.id)


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"run": "no-such-run"}, "run", "No run 'no-such-run' in project fashion-DE."),
        ({"run": 999999999}, "run", "No run 999999999 in project fashion-DE."),
        ({"run": True}, "run", "Give the run's name (a string) or its id (an integer)."),
        ({"run": "bm\x0025"}, "run", "Give the run's name (a string) or its id (an integer)."),  # found by schemathesis
        ({"run": "bm25", "mode": "telepathy"}, "mode", '"telepathy" is not a valid choice.'),
        ({}, "non_field_errors", "Give either a run or a list of pair_ids."),
        ({"run": "bm25", "pair_ids": [1]}, "non_field_errors", "Give either a run or a list of pair_ids."),
        ({"pair_ids": []}, "pair_ids", "This list may not be empty."),
        ({"pair_ids": "1,2"}, "pair_ids", 'Expected a list of items but got type "str".'),
        ({"pair_ids": [0]}, "pair_ids", "Ensure this value is greater than or equal to 1."),
        ({"run": "bm25", "holes_only": "perhaps"}, "holes_only", "Must be a valid boolean."),
    ],
)
def test_it_answers_400_for_bad_input(lead_api, world, body, field, message):
    with enqueue_spy() as launch:
        response = lead_api.post(jobs_url(world["project"]), body, format="json")

    assert response.status_code == 400
    errors = response.json()[field]
    flat = errors if isinstance(errors, list) else [m for ms in errors.values() for m in ms]
    assert message in flat
    launch.assert_not_called()
    assert not JudgeJob.objects.filter(project=world["project"]).exists()


def test_it_answers_400_for_a_run_of_another_project(lead_api, world):
    with enqueue_spy():
        by_name = lead_api.post(jobs_url(world["project"]), {"run": "secret-run"}, format="json")
        by_id = lead_api.post(jobs_url(world["project"]), {"run": world["other_run"].id}, format="json")

    assert by_name.status_code == by_id.status_code == 400
    assert not JudgeJob.objects.filter(project=world["project"]).exists()


def test_it_answers_400_for_pair_ids_of_another_project(lead_api, world):
    ids = [world["pairs"][0].id, world["other_pair"].id]

    with enqueue_spy() as launch:
        response = lead_api.post(jobs_url(world["project"]), {"pair_ids": ids}, format="json")

    assert response.status_code == 400
    assert response.json() == {"detail": "1 pair id(s) do not belong to project fashion-DE"}
    launch.assert_not_called()
    assert not JudgeJob.objects.filter(project=world["project"]).exists()


def test_an_annotator_gets_403_on_create_and_cancel(annotator_api, world):
    job = start_job(world["project"], run=world["run"])

    with enqueue_spy() as launch:
        created = annotator_api.post(jobs_url(world["project"]), {"run": "bm25"}, format="json")
    cancelled = annotator_api.post(cancel_url(job))

    job.refresh_from_db()
    assert created.status_code == cancelled.status_code == 403
    launch.assert_not_called()
    assert job.status == "queued"
    assert JudgeJob.objects.filter(project=world["project"]).count() == 1


def test_an_annotator_may_read_the_jobs(annotator_api, world):
    job = start_job(world["project"], run=world["run"])

    assert annotator_api.get(jobs_url(world["project"])).status_code == 200
    assert annotator_api.get(job_url(job)).json()["id"] == job.id


def test_it_answers_404_for_a_foreign_project_or_job(lead_api, world):
    other, other_job, own = world["other"], world["other_job"], world["project"]
    foreign_under_own = reverse("judging_api:job_detail", args=[own.id, other_job.id])
    cancel_under_own = reverse("judging_api:job_cancel", args=[own.id, other_job.id])

    with enqueue_spy():
        responses = [
            lead_api.get(jobs_url(other)),
            lead_api.post(jobs_url(other), {"run": "secret-run"}, format="json"),
            lead_api.get(job_url(other_job)),
            lead_api.post(cancel_url(other_job)),
            lead_api.get(foreign_under_own),
            lead_api.post(cancel_under_own),
        ]

    assert [r.status_code for r in responses] == [404] * len(responses)
    other_job.refresh_from_db()
    assert other_job.status == "queued"
    assert JudgeJob.objects.filter(project=other).count() == 1


def test_a_non_member_gets_404_even_with_a_valid_body(django_user_model, world):
    client = api_client(django_user_model.objects.create_user(username="olaf"))

    with enqueue_spy():
        response = client.post(jobs_url(world["project"]), {"run": "bm25"}, format="json")

    assert response.status_code == 404
    assert not JudgeJob.objects.filter(project=world["project"]).exists()


# --- reading ----------------------------------------------------------------------------


def test_it_lists_the_project_jobs_newest_first_with_pagination(lead_api, world):
    done = finish_job(start_job(world["project"], pair_ids=[world["pairs"][0].id]))
    queued = start_job(world["project"], run=world["run"])

    response = lead_api.get(jobs_url(world["project"]))

    assert response.status_code == 200
    data = response.json()
    assert data["count"] == 2 and data["next"] is None
    assert [job["id"] for job in data["results"]] == [queued.id, done.id]
    assert data["results"][1]["status"] == "done"
    assert data["results"][1]["finished_at"] is not None
    assert world["other_job"].id not in [job["id"] for job in data["results"]]


def test_it_shows_live_usage_and_eta_of_a_running_job(lead_api, world):
    job = launch_job(start_job(world["project"], run=world["run"]))
    JudgeJob.objects.filter(id=job.id).update(done=1)

    data = lead_api.get(job_url(job)).json()

    assert data["status"] == "running"
    assert data["started_at"] is not None
    assert isinstance(data["eta_seconds"], int) and data["eta_seconds"] >= 0


def test_it_shows_the_stored_totals_of_a_finished_job(lead_api, world):
    job = finish_job(start_job(world["project"], run=world["run"]))
    JudgeJob.objects.filter(id=job.id).update(calls=4, tokens_in=1000, tokens_out=20, cost_eur="0.001234")

    data = lead_api.get(job_url(job)).json()

    assert (data["status"], data["done"], data["total"]) == ("done", 3, 3)
    assert (data["calls"], data["tokens_in"], data["tokens_out"], data["cost_eur"]) == (4, 1000, 20, "0.001234")
    assert data["eta_seconds"] is None


def test_it_shows_why_pairs_failed(lead_api, world):
    job = finish_job(start_job(world["project"], run=world["run"]))
    JudgeJob.objects.filter(id=job.id).update(failed=2, failures={"judgment invalid: truncated": 2})

    data = lead_api.get(job_url(job)).json()

    assert data["failures"] == {"judgment invalid: truncated": 2}


# --- cancelling ---------------------------------------------------------------------------


def test_a_lead_cancels_a_job_once(lead_api, world):
    job = launch_job(start_job(world["project"], run=world["run"]))

    first = lead_api.post(cancel_url(job))
    second = lead_api.post(cancel_url(job))

    assert first.status_code == 200
    assert first.json()["status"] == "cancelled" and first.json()["finished_at"] is not None
    assert second.status_code == 409
    assert second.json() == {"detail": "The job is already cancelled."}


# --- authentication -------------------------------------------------------------------------


def test_it_accepts_a_token_without_csrf(world):
    token = Token.objects.create(user=world["lead"])
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")

    with enqueue_spy():
        response = client.post(jobs_url(world["project"]), {"run": "bm25"}, format="json")

    assert response.status_code == 201


def test_it_refuses_a_session_post_without_the_csrf_token(world):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(world["lead"])

    with enqueue_spy():
        listed = client.get(jobs_url(world["project"]))
        refused = client.post(jobs_url(world["project"]), {"run": "bm25"}, format="json")

    assert listed.status_code == 200
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    assert not JudgeJob.objects.filter(project=world["project"]).exists()


def test_it_refuses_anonymous_callers_and_basic_auth(world):
    client = APIClient()
    basic = APIClient()
    basic.credentials(HTTP_AUTHORIZATION="Basic bGVuYTpwdw==")

    assert client.get(jobs_url(world["project"])).status_code in (401, 403)
    assert basic.get(jobs_url(world["project"])).status_code in (401, 403)
