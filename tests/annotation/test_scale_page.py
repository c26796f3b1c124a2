"""The scale page: every level with its key and definition; a lead edits the definitions."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from annotation.models import Membership, Role, ScaleLevel
from annotation.scales import BUILTIN_SCALES
from annotation.services import project_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def project():
    return project_create(name="fashion-scale")


def client_for(project, role: str) -> Client:
    user = get_user_model().objects.create_user(username=role)
    Membership.objects.create(project=project, user=user, role=role)
    client = Client()
    client.force_login(user)
    return client


def definitions(project) -> dict[int, str]:
    return dict(ScaleLevel.objects.filter(project=project).values_list("value", "definition"))


def test_a_new_project_copies_the_built_in_definitions(project):
    assert definitions(project) == {level.value: level.definition for level in BUILTIN_SCALES["default"]}
    assert all(definitions(project).values())


def test_a_lead_edits_the_definitions(project):
    lead = client_for(project, Role.LEAD)
    url = reverse("scale_page", args=[project.id])
    page = lead.get(url)
    assert page.status_code == 200 and 'name="definition-0"' in page.content.decode()

    response = lead.post(
        url, {"definition-0": "  Wrong   product type. ", "definition-1": "", "definition-2": "Spot on."}
    )

    assert response.status_code == 302
    assert definitions(project) == {0: "Wrong product type.", 1: "", 2: "Spot on."}


def test_a_definition_longer_than_a_line_is_refused_and_nothing_changes(project):
    before = definitions(project)
    response = client_for(project, Role.LEAD).post(
        reverse("scale_page", args=[project.id]), {"definition-0": "x" * 201}
    )
    assert response.status_code == 400 and "At most 200 characters" in response.content.decode()
    assert definitions(project) == before


def test_an_annotator_reads_the_definitions_but_may_not_edit_them(project):
    annotator = client_for(project, Role.ANNOTATOR)
    url = reverse("scale_page", args=[project.id])
    page = annotator.get(url).content.decode()
    assert "What the shopper asked for" in page
    assert 'name="definition-0"' not in page
    assert annotator.post(url, {"definition-0": "mine"}).status_code == 403
    assert definitions(project)[0] != "mine"
