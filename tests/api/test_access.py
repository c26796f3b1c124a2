"""Who may call the API: tokens, no anonymous or Basic callers, every object scoped to
the caller's projects (a foreign id is a 404), leads-only writes 403 for annotators."""

import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.models import SearchRun
from judging.models import JudgeJob
from tests.builders import enqueue_spy

from .conftest import token_client

pytestmark = pytest.mark.django_db


def project_urls(world, project=None) -> list[str]:
    """One URL per readable endpoint of a project, with ids of that project's objects."""
    p = (project or world["project"]).id
    run, pair = (world["run"], world["pairs"][0]) if project is None else (world["other_run"], world["other_pair"])
    job = world["other_job"].id if project is not None else None
    urls = [
        f"/api/projects/{p}/",
        f"/api/projects/{p}/queries/",
        f"/api/projects/{p}/queries/{pair.query_id}/",
        f"/api/projects/{p}/products/",
        f"/api/projects/{p}/products/{pair.product_id}/",
        f"/api/projects/{p}/pairs/",
        f"/api/projects/{p}/pairs/{pair.id}/",
        f"/api/projects/{p}/labels/",
        f"/api/projects/{p}/runs/",
        f"/api/projects/{p}/runs/{run.id}/",
        f"/api/projects/{p}/runs/{run.id}/results/",
        f"/api/projects/{p}/runs/{run.id}/metrics/",
        f"/api/projects/{p}/runs/{run.id}/compare/?baseline={run.id}",
        f"/api/projects/{p}/runs/{run.id}/status/",
        f"/api/projects/{p}/runs/{run.id}/export/",
        f"/api/projects/{p}/exports/gold/",
        f"/api/projects/{p}/exports/labels/",
        f"/api/projects/{p}/review-stats/",
        f"/api/projects/{p}/agreement/?boot=0",
        f"/api/projects/{p}/agreement/segments/?by=tag&boot=0",
        f"/api/projects/{p}/judge-jobs/",
    ]
    if job:
        urls.append(f"/api/projects/{p}/judge-jobs/{job}/")
    return urls


def test_every_endpoint_answers_a_member_with_a_token(lead_api, world):
    statuses = {url: lead_api.get(url).status_code for url in project_urls(world)}

    assert statuses == dict.fromkeys(statuses, 200)


def test_an_anonymous_caller_gets_401_with_the_token_challenge(world):
    client = APIClient()

    responses = [client.get(url) for url in ["/api/projects/", *project_urls(world)]]

    assert {r.status_code for r in responses} == {401}
    assert responses[0]["WWW-Authenticate"] == "Token"


def test_a_wrong_token_or_basic_auth_is_refused(world):
    wrong, basic = APIClient(), APIClient()
    wrong.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    basic.credentials(HTTP_AUTHORIZATION="Basic bGVuYTpwdw==")

    assert wrong.get("/api/projects/").status_code == 401
    assert basic.get("/api/projects/").status_code == 401


def test_drf_create_token_makes_a_working_token(world, capsys):
    call_command("drf_create_token", "lena")
    key = capsys.readouterr().out.split()[2]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")

    assert Token.objects.get(user=world["lead"]).key == key
    assert [p["name"] for p in client.get("/api/projects/").json()["results"]] == ["fashion-DE"]


def test_the_project_list_holds_only_the_callers_projects_with_their_role(annotator_api, world):
    data = annotator_api.get("/api/projects/").json()

    assert data["count"] == 1
    assert [(p["name"], p["role"]) for p in data["results"]] == [("fashion-DE", "annotator")]


def test_a_foreign_project_is_404_on_every_endpoint(lead_api, world):
    statuses = {url: lead_api.get(url).status_code for url in project_urls(world, world["other"])}

    assert statuses == dict.fromkeys(statuses, 404)


def test_foreign_objects_under_the_callers_project_are_404(lead_api, world):
    p, other_run, other_pair = world["project"].id, world["other_run"], world["other_pair"]
    urls = [
        f"/api/projects/{p}/queries/{other_pair.query_id}/",
        f"/api/projects/{p}/products/{other_pair.product_id}/",
        f"/api/projects/{p}/pairs/{other_pair.id}/",
        f"/api/projects/{p}/runs/{other_run.id}/",
        f"/api/projects/{p}/runs/{other_run.id}/results/",
        f"/api/projects/{p}/runs/{other_run.id}/metrics/",
        f"/api/projects/{p}/runs/{other_run.id}/status/",
        f"/api/projects/{p}/runs/{other_run.id}/export/",
    ]

    assert {url: lead_api.get(url).status_code for url in urls} == dict.fromkeys(urls, 404)


def test_a_foreign_id_in_a_filter_is_a_400_not_a_leak(lead_api, world):
    p = world["project"].id

    response = lead_api.get(f"/api/projects/{p}/pairs/?run={world['other_run'].id}")
    compare = lead_api.get(f"/api/projects/{p}/runs/{world['run'].id}/compare/?baseline={world['other_run'].id}")

    assert response.status_code == 400
    assert response.json() == {"run": [f"No run {world['other_run'].id} in this project."]}
    assert compare.status_code == 400 and "baseline" in compare.json()


def test_foreign_writes_are_404_and_change_nothing(lead_api, world):
    other, other_run = world["other"], world["other_run"]

    with enqueue_spy():
        responses = [
            lead_api.post(f"/api/projects/{other.id}/runs/", {"name": "x"}, format="json"),
            lead_api.post(f"/api/projects/{other.id}/runs/{other_run.id}/evaluate/"),
            lead_api.post(f"/api/projects/{world['project'].id}/runs/{other_run.id}/evaluate/"),
            lead_api.post(f"/api/projects/{world['project'].id}/runs/{other_run.id}/results/upload/", {}),
        ]

    assert [r.status_code for r in responses] == [404] * 4
    assert SearchRun.objects.filter(project=other).count() == 1
    assert JudgeJob.objects.filter(project=other).count() == 1


def test_an_annotator_gets_403_on_every_leads_only_action(annotator_api, world):
    p, run = world["project"].id, world["run"]

    with enqueue_spy() as launch:
        responses = {
            "create run": annotator_api.post(f"/api/projects/{p}/runs/", {"name": "new"}, format="json"),
            "upload results": annotator_api.post(f"/api/projects/{p}/runs/{run.id}/results/upload/", {}),
            "upload queries": annotator_api.post(f"/api/projects/{p}/queries/upload/", {}),
            "upload products": annotator_api.post(f"/api/projects/{p}/products/upload/", {}),
            "upload labels": annotator_api.post(f"/api/projects/{p}/labels/upload/", {}),
            "evaluate": annotator_api.post(f"/api/projects/{p}/runs/{run.id}/evaluate/"),
            "judge": annotator_api.post(f"/api/projects/{p}/judge-jobs/", {"run": "bm25"}, format="json"),
            "per annotator": annotator_api.get(f"/api/projects/{p}/agreement/annotators/?boot=0"),
        }

    assert {name: r.status_code for name, r in responses.items()} == dict.fromkeys(responses, 403)
    assert "lead" in responses["create run"].json()["detail"]
    launch.assert_not_called()
    assert list(SearchRun.objects.filter(project_id=p).values_list("name", flat=True)) == ["bm25"]


def test_a_session_write_needs_the_csrf_token_but_a_token_write_does_not(world):
    session = APIClient(enforce_csrf_checks=True)
    session.force_login(world["lead"])
    url = f"/api/projects/{world['project'].id}/runs/"

    refused = session.post(url, {"name": "by-session"}, format="json")
    accepted = token_client(world["lead"]).post(url, {"name": "by-token"}, format="json")

    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert accepted.status_code == 201
    assert not SearchRun.objects.filter(name="by-session").exists()


@pytest.mark.parametrize("labels", ["llm", "human", "any"])
def test_annotators_get_no_metrics_from_other_raters_labels_which_would_reveal_blind_labels(
    annotator_api, lead_api, world, labels
):
    # The security audit recovered every blind LLM label from per-query metrics at k and k-1.
    p, run = world["project"].id, world["run"]
    for path in (
        f"runs/{run.id}/metrics/?labels={labels}&per_query=true&k=1",
        f"runs/{run.id}/compare/?baseline={run.id}&labels={labels}",
    ):
        refused = annotator_api.get(f"/api/projects/{p}/{path}")
        assert refused.status_code == 403 and "gold" in refused.json()["detail"]
        assert lead_api.get(f"/api/projects/{p}/{path}").status_code == 200
    assert annotator_api.get(f"/api/projects/{p}/runs/{run.id}/metrics/?labels=gold&per_query=true").status_code == 200


def test_only_leads_choose_agreement_options_that_force_a_recomputation(annotator_api, lead_api, world):
    p = world["project"].id
    for options in ("boot=7", "seed=3", "level=nominal"):
        assert annotator_api.get(f"/api/projects/{p}/agreement/?{options}").status_code == 403
        assert lead_api.get(f"/api/projects/{p}/agreement/?{options}").status_code == 200
    assert annotator_api.get(f"/api/projects/{p}/agreement/").status_code == 200
