"""Fixtures for the review tests: a project with members, pairs with an LLM judgment
(Judgment + Label(source=llm)) written directly through the ORM, and a routing policy
without random audits unless a test asks for them."""

import itertools
import uuid
from dataclasses import dataclass

import pytest
from django.contrib.auth import get_user_model

from annotation.models import (
    Label,
    LabelSource,
    Membership,
    Pair,
    Product,
    Project,
    Query,
    Role,
    SearchResult,
    SearchRun,
)
from annotation.services import project_create
from judging.models import Judgment
from reviews.models import RoutingPolicy

# The judging fixtures that drive a job by hand, shared with the repeat tests.
from tests.judging.conftest import drive, fake_llm, no_broker  # noqa: F401 (re-exported fixtures)

# The repeat tests' search engine and schedule.
from tests.reviews.repeat_world import engine, schedule, sent  # noqa: F401 (re-exported fixtures)

# The shared assertions of the lead-action forms explain their failures like a test's own.
pytest.register_assert_rewrite("tests.reviews.lead_actions")

_serial = itertools.count(1)


@pytest.fixture
def project(db) -> Project:
    return project_create(name="fashion-reviews")  # scale 0 / 1 / 2


@pytest.fixture
def member(project):
    """member(name, role="annotator") → a user who belongs to the project."""

    def make(name: str, role: str = Role.ANNOTATOR, *, of: Project | None = None):
        user, _ = get_user_model().objects.get_or_create(username=name)
        Membership.objects.update_or_create(project=of or project, user=user, defaults={"role": role})
        return user

    return make


@pytest.fixture
def lead(member):
    return member("lea", Role.LEAD)


@pytest.fixture
def policy(project) -> RoutingPolicy:
    """Version 1 with the defaults except audits (random by pair id) switched off."""
    return RoutingPolicy.objects.create(project=project, version=1, audit_rate=0.0, note="tests")


@dataclass
class Judged:
    pair: Pair
    judgment: Judgment | None
    label: Label | None


@pytest.fixture
def make_pair(project):
    """make_pair(query_text=..., tags=..., traffic=...) → a fresh Pair (own query and product)."""

    def make(query_text: str = "red dress", *, tags=(), traffic: int = 0, of: Project | None = None) -> Pair:
        n = next(_serial)
        target = of or project
        query = Query.objects.create(
            project=target, external_id=f"q{n}", text=query_text, tags=list(tags), traffic=traffic
        )
        product = Product.objects.create(
            project=target, external_id=f"p{n}", title=f"Product {n}", content_hash=f"{n:064d}"
        )
        return Pair.objects.create(project=target, query=query, product=product)

    return make


@pytest.fixture
def judge(make_pair):
    """judge(value=2, confidence=0.9, samples=None, status="ok", pair=None, **pair_kwargs) →
    Judged: a pair with an LLM Judgment and (when valid) its Label(source=llm)."""

    def make(
        value: int | None = 2,
        confidence: float | None = 0.9,
        *,
        samples=None,
        status: str = Judgment.Status.OK,
        pair: Pair | None = None,
        **pair_kwargs,
    ) -> Judged:
        pair = pair or make_pair(**pair_kwargs)
        label = None
        if status == Judgment.Status.OK:
            label = Label.objects.create(
                project_id=pair.project_id,
                pair=pair,
                source=LabelSource.LLM,
                rater="fake-judge",
                value=value,
                confidence=confidence,
            )
        else:
            value, confidence = None, None
        judgment = Judgment.objects.create(
            cache_key=uuid.uuid4().hex,
            model="fake-judge",
            prompt_version="j1",
            project_id=pair.project_id,
            pair=pair,
            product_id=pair.product_id,
            label=label,
            backend="openai",
            mode="text",
            status=status,
            value=value,
            confidence=confidence,
            samples=list(samples) if samples is not None else ([value] if value is not None else []),
        )
        return Judged(pair=pair, judgment=judgment, label=label)

    return make


@pytest.fixture
def run_of(project):
    """run_of(name, pairs) → a SearchRun whose results are the given pairs."""

    def make(name: str, pairs) -> SearchRun:
        run = SearchRun.objects.create(project=project, name=name)
        SearchResult.objects.bulk_create(
            [
                SearchResult(run=run, query_id=p.query_id, product_id=p.product_id, pair=p, rank=i)
                for i, p in enumerate(pairs, 1)
            ]
        )
        return run

    return make
