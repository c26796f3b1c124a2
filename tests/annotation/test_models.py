import pytest
from django.db import IntegrityError, transaction

from annotation.models import Label, Pair, Product, Project, Query, ScaleLevel


@pytest.fixture
def project(db):
    project = Project.objects.create(name="p")
    ScaleLevel.objects.bulk_create(
        [ScaleLevel(project=project, value=v, name=n, gain=v) for v, n in [(0, "bad"), (1, "good")]]
    )
    return project


@pytest.fixture
def pair(project):
    query = Query.objects.create(project=project, external_id="q1", text="red shoes")
    product = Product.objects.create(project=project, external_id="p1", title="Red shoe", content_hash="x")
    return Pair.objects.create(project=project, query=query, product=product)


def test_it_rejects_a_label_value_outside_the_project_scale(pair):
    with pytest.raises(IntegrityError), transaction.atomic():
        Label.objects.create(project=pair.project, pair=pair, source="human", rater="ann", value=7)
        # The composite foreign key is deferred: it fires at commit, forced here.
        with transaction.get_connection().cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def test_it_accepts_a_label_value_inside_the_scale(pair):
    with transaction.atomic():
        Label.objects.create(project=pair.project, pair=pair, source="human", rater="ann", value=1)
        with transaction.get_connection().cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert Label.objects.filter(pair=pair).count() == 1


def test_it_rejects_gold_without_provenance(pair):
    pair.gold_value = 1
    with pytest.raises(IntegrityError), transaction.atomic():
        pair.save()


def test_it_rejects_a_duplicate_pair(pair):
    with pytest.raises(IntegrityError), transaction.atomic():
        Pair.objects.create(project=pair.project, query=pair.query, product=pair.product)


def test_it_rejects_confidence_outside_unit_interval(pair):
    with pytest.raises(IntegrityError), transaction.atomic():
        Label.objects.create(project=pair.project, pair=pair, source="llm", rater="m", value=1, confidence=1.5)
