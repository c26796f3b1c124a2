"""A NUL byte in a query string or form field (PostgreSQL refuses to even compare
strings holding one) gets a 4xx or is ignored on every page that passes user text to a
query, never a 500. Schemathesis found the first such case in the API."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from annotation.services import project_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def lead_client():
    user = get_user_model().objects.create_superuser(username="root", password="pw-root-123")
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    "tail",
    [
        "?q=red%00dress",
        "compare/?b=a%00b",
        "review/?reason=audit%00",
        "review/next/?reason=%00",
        "agreement/disagreements/?gap=%00",
        "downloads/?x=%00",
    ],
)
def test_nul_bytes_in_query_strings_never_make_a_500(lead_client, tail):
    project = project_create(name="nul-bytes")

    response = lead_client.get(f"/projects/{project.id}/{tail}")

    assert response.status_code < 500
