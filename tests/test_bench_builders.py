"""The benches' bulk-insert builders (bench/_build.py) against the migrated schema.

Benches give only the columns that vary; the builders fill the rest from the models. If a
model gains a NOT NULL column the builders cannot fill (no default, not blank), or the
database has one the model does not describe, these tests fail here rather than in the
next bench run."""

import pytest
from django.db import connection
from django.utils import timezone

from annotation.models import Label, Pair, Product, Query
from annotation.services import project_create
from bench import _build
from judging.models import Judgment
from reviews.models import ReviewTask

pytestmark = pytest.mark.django_db

# What a bench has to give per table: the NOT NULL columns without a default (and a
# judgment's value).
GIVEN = {
    "annotation.Query": {"project_id": "%(p)s", "external_id": "'q' || g", "text": "'query ' || g"},
    "annotation.Product": {
        "project_id": "%(p)s",
        "external_id": "'p' || g",
        "title": "'Product ' || g",
        "content_hash": "md5(g::text)",
    },
    "annotation.Pair": {"project_id": "%(p)s", "query_id": "q.id", "product_id": "pr.id"},
    "annotation.Label": {"project_id": "%(p)s", "pair_id": "pa.id", "source": "'llm'", "rater": "'m'", "value": "1"},
    "judging.Judgment": {
        "cache_key": "md5('t' || l.id)",
        "model": "'m'",
        "prompt_version": "'judgment-v1'",
        "project_id": "l.project_id",
        "pair_id": "l.pair_id",
        "product_id": "pa.product_id",
        "backend": "'openai'",
        "mode": "'text'",
        "status": "'ok'",
        "value": "l.value",  # nullable, but an ok judgment has one (a check constraint)
    },
    "reviews.ReviewTask": {
        "project_id": "%(p)s",
        "pair_id": "pa.id",
        "reason": "'audit'",
        "policy_version": "1",
    },
}


def required_columns(table: str) -> set[str]:
    """The table's NOT NULL columns the database does not fill (identity ids it does)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT column_name FROM information_schema.columns
               WHERE table_schema = current_schema() AND table_name = %s
                 AND is_nullable = 'NO' AND column_default IS NULL AND is_identity = 'NO'""",
            [table],
        )
        return {row[0] for row in cursor.fetchall()}


@pytest.mark.parametrize("label", sorted(GIVEN))
def test_every_required_column_is_filled(label):
    from django.apps import apps

    table = apps.get_model(label)._meta.db_table
    required = required_columns(table)
    assert required, f"{table} should have NOT NULL columns"
    columns = _build.select_list(label, GIVEN[label])
    assert required - set(columns) == set()
    # The bench gave only some of them: the rest came from the model.
    assert required - set(GIVEN[label])


def run(sql: str, params: dict) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def test_insert_select_builders_write_rows_with_the_model_defaults():
    project = project_create(name="bench-builders")
    p = {"p": project.id}
    assert run(_build.queries(GIVEN["annotation.Query"], "FROM generate_series(1, 3) g"), p) == 3
    assert run(_build.products(GIVEN["annotation.Product"], "FROM generate_series(1, 3) g"), p) == 3
    pairs_from = """FROM annotation_query q JOIN annotation_product pr
                    ON pr.project_id = q.project_id AND substr(pr.external_id, 2) = substr(q.external_id, 2)
                    WHERE q.project_id = %(p)s"""
    assert run(_build.pairs(GIVEN["annotation.Pair"], pairs_from), p) == 3
    pairs = "FROM annotation_pair pa WHERE pa.project_id = %(p)s"
    assert run(_build.labels(GIVEN["annotation.Label"], pairs), p) == 3
    labelled = "FROM annotation_label l JOIN annotation_pair pa ON pa.id = l.pair_id WHERE l.project_id = %(p)s"
    assert run(_build.judgments(GIVEN["judging.Judgment"], labelled), p) == 3
    assert run(_build.review_tasks(GIVEN["reviews.ReviewTask"], pairs), p) == 3

    query = Query.objects.get(project=project, external_id="q2")
    assert (query.tags, query.conditions, query.reference_hash, query.traffic) == ([], [], "", 0)
    assert query.created_at is not None
    product = Product.objects.get(project=project, external_id="p2")
    assert (product.brand, product.attributes) == ("", {})
    assert product.updated_at is not None
    pair = Pair.objects.get(project=project, query=query)
    assert pair.product_id == product.id and pair.gold_value is None and pair.gold_provenance == ""
    label = Label.objects.get(pair=pair)
    assert (label.value, label.confidence, label.rationale, label.applied_rules) == (1, None, "", [])
    judgment = Judgment.objects.get(pair=pair)
    assert (judgment.raw_response, judgment.samples, judgment.calls, judgment.error) == ([], [], 0, "")
    task = ReviewTask.objects.get(pair=pair)
    assert (task.kind, task.slot, task.status, task.reasons, task.blind) == ("label", 1, "open", [], False)


def test_copy_rows_fills_the_same_columns():
    project = project_create(name="bench-builders-copy")
    now = timezone.now()
    _build.copy_rows("annotation.Query", ["project", "external_id", "text"], [(project.id, "q1", "one")], now=now)
    _build.copy_rows(
        "annotation.Product", ["project", "external_id", "title", "content_hash"], [(project.id, "p1", "P", "x")]
    )
    query = Query.objects.get(project=project)
    product = Product.objects.get(project=project)
    _build.copy_rows("annotation.Pair", ["project", "query", "product"], [(project.id, query.id, product.id)], now=now)
    pair = Pair.objects.get(project=project)
    _build.copy_rows(
        "annotation.Label", ["project", "pair", "source", "rater", "value"], [(project.id, pair.id, "human", "a", 2)]
    )
    assert (query.created_at, query.tags, query.conditions, query.reference_hash) == (now, [], [], "")
    assert product.created_at == product.updated_at and product.attributes == {}
    assert pair.created_at == now and pair.gold_provenance == ""
    label = Label.objects.get(pair=pair)
    assert (label.value, label.rationale, label.applied_rules) == (2, "", [])


def test_a_required_column_left_out_is_named():
    values = dict(GIVEN["annotation.Label"])
    del values["value"]
    with pytest.raises(ValueError, match=r"annotation_label\.value is NOT NULL"):
        _build.labels(values, "FROM annotation_pair pa")
    with pytest.raises(ValueError, match=r"annotation_label\.value is NOT NULL"):
        _build.copy_rows("annotation.Label", ["project", "pair", "source", "rater"], [])


def test_an_unknown_column_is_refused():
    with pytest.raises(ValueError, match="annotation_query has no column colour"):
        _build.queries({**GIVEN["annotation.Query"], "colour": "'red'"}, "FROM generate_series(1, 1) g")
