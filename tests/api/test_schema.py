"""The OpenAPI schema, its docs page, and schemathesis over every operation: whatever it
sends, the API answers without a 5xx.

Schemathesis calls the real WSGI application in-process (no network), authenticated as
the lead, inside the test's transaction. Path ids are replaced with the ids of real
objects of the caller's project, so the generated query strings and bodies reach the
views instead of stopping at a 404; foreign ids are covered by test_scoping.py."""

import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error

from tests.builders import start_job

pytestmark = pytest.mark.django_db

# CI explores the same examples every run (derandomized), so a red run is a real
# regression, not the luck of the draw; QRELAY_FUZZ=1 explores new random examples
# (QRELAY_FUZZ_EXAMPLES per operation) to look for more.
FUZZ = os.environ.get("QRELAY_FUZZ") == "1"
EXAMPLES_PER_OPERATION = int(os.environ.get("QRELAY_FUZZ_EXAMPLES", "10"))


def test_the_schema_is_openapi_3_and_public(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert "/api/projects/{project_id}/judge-jobs/" in schema["paths"]
    assert "/api/projects/{project_id}/runs/{run_id}/results/upload/" in schema["paths"]
    assert schema["components"]["securitySchemes"]["tokenAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": 'Token-based authentication with required prefix "Token"',
    }
    assert "basicAuth" not in schema["components"]["securitySchemes"]


def test_the_docs_page_uses_vendored_assets_only(client):
    response = client.get("/api/docs/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower() and "https://" not in html


@pytest.fixture
def real_ids(world) -> dict[str, int]:
    project = world["project"]
    job = start_job(project, run=world["run"])
    return {
        "project_id": project.id,
        "run_id": world["run"].id,
        "query_id": world["pairs"][0].query_id,
        "product_id": world["pairs"][0].product_id,
        "pair_id": world["pairs"][0].id,
        "job_id": job.id,
    }


@pytest.fixture
def wsgi_in_test_transaction():
    # Django's handler closes "old" connections at each request's start and end, and a
    # connection inside the test's transaction looks old; Django's own test client
    # switches this off in the same way.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


# Loaded when the module is collected: the schema view needs no database.
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
# Wrong methods get 405 from DRF itself; probing each path with every method would
# double the run time and test nothing of ours.
schema.config.phases.coverage.unexpected_methods = set()


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=not FUZZ,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_answers_with_a_server_error(case, world, real_ids, wsgi_in_test_transaction):
    token, _ = Token.objects.get_or_create(user=world["lead"])
    if case.path_parameters:
        case.path_parameters = {name: real_ids.get(name, value) for name, value in case.path_parameters.items()}
    case.call_and_validate(headers={"Authorization": f"Token {token.key}"}, checks=[not_a_server_error])
