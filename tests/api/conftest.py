"""The API tests' world: the judging tests' two projects (fashion-DE with a lead, an
annotator and run bm25 over three pairs; electronics-FR, foreign to both), plus labels
and gold on fashion-DE, and API clients that authenticate with real tokens."""

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.models import Label, Pair, Query
from tests.builders import build_world


def token_client(user) -> APIClient:
    client = APIClient(enforce_csrf_checks=True)
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def world(db, django_user_model):
    world = build_world(django_user_model)
    project, pairs = world["project"], world["pairs"]
    Query.objects.filter(external_id="q1", project=project).update(tags=["style-sensitive"])
    now = timezone.now()
    # The red dress: LLM says 2, a human agrees, gold by a human. The shirt: LLM 1, gold
    # auto-accepted. The boots: only an LLM label, no gold.
    Label.objects.create(project=project, pair=pairs[0], source="llm", rater="gpt-x", value=2, confidence=0.9)
    Label.objects.create(project=project, pair=pairs[0], source="human", rater="ann", user=world["annotator"], value=2)
    Label.objects.create(project=project, pair=pairs[1], source="llm", rater="gpt-x", value=1, confidence=0.8)
    Label.objects.create(project=project, pair=pairs[2], source="llm", rater="gpt-x", value=0, confidence=0.4)
    Pair.objects.filter(id=pairs[0].id).update(gold_value=2, gold_provenance="human", gold_updated_at=now)
    Pair.objects.filter(id=pairs[1].id).update(gold_value=1, gold_provenance="llm-auto", gold_updated_at=now)
    Label.objects.create(project=world["other"], pair=world["other_pair"], source="llm", rater="gpt-x", value=2)
    return world


@pytest.fixture
def lead_api(world) -> APIClient:
    return token_client(world["lead"])


@pytest.fixture
def annotator_api(world) -> APIClient:
    return token_client(world["annotator"])
