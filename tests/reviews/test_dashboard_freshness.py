"""The dashboard's snapshots know they are behind the labels, whoever wrote them: the
label write count kept by triggers on annotation_label (LabelWrites) against the count a
snapshot read before computing. Imports and judge chunks write labels without calling
dashboard_touch; a label committed while the figures are computed is never missed; and
concurrent writers of one project never wait on a shared counter row."""

import threading

import pytest
from django.db import connection, connections, transaction

from annotation.models import GoldProvenance, Label, LabelSource, Pair
from reviews.dashboard import snapshot
from reviews.dashboard.snapshot import dashboard_part, dashboard_refresh, label_writes
from reviews.tasks import dashboard_refresh_task
from tests.builders import held_transaction

pytestmark = pytest.mark.django_db

INSERT = (
    "INSERT INTO annotation_label (project_id, pair_id, source, rater, value, rationale, created_at) "
    "VALUES (%s, %s, 'human', %s, %s, '', now())"
)


@pytest.fixture
def settled(judge, member):
    """settled(llm, gold) → a pair the LLM labelled `llm` and a human `gold` (human gold)."""
    human = member("hugo")

    def make(llm: int, gold: int, **pair_kwargs):
        judged = judge(value=llm, **pair_kwargs)
        Label.objects.create(
            project_id=judged.pair.project_id,
            pair=judged.pair,
            source=LabelSource.HUMAN,
            rater="hugo",
            user=human,
            value=gold,
        )
        Pair.objects.filter(id=judged.pair.id).update(gold_value=gold, gold_provenance=GoldProvenance.HUMAN)
        return judged

    return make


@pytest.fixture
def queued(monkeypatch):
    """The refresh tasks the dashboard would send, captured instead of sent."""
    sent: list[tuple] = []
    monkeypatch.setattr(dashboard_refresh_task, "delay", lambda *args: sent.append(args))
    return sent


@pytest.mark.parametrize("how", ["bulk_create", "raw insert", "update", "delete"])
def test_a_label_write_by_any_path_makes_the_snapshot_stale_without_a_touch(
    project, policy, settled, how, queued, django_capture_on_commit_callbacks
):
    judged = settled(2, 2, tags=["brand"])
    settled(1, 1, tags=["brand"])
    before = dashboard_part(project, "core")
    assert not dashboard_part(project, "core")["stale"]

    if how == "bulk_create":  # as a judge chunk writes its labels
        Label.objects.bulk_create(
            [Label(project=project, pair=judged.pair, source=LabelSource.LLM, rater="m2", value=0)]
        )
    elif how == "raw insert":  # as an import writes them (INSERT … SELECT)
        with connection.cursor() as cursor:
            cursor.execute(INSERT, [project.id, judged.pair.id, "imported-rater", 1])
    elif how == "update":  # the admin correcting a value
        Label.objects.filter(id=judged.label.id).update(value=0)
    else:
        Label.objects.filter(id=judged.label.id).delete()

    with django_capture_on_commit_callbacks(execute=True):
        stale = dashboard_part(project, "core")
    assert stale["stale"] and stale["refreshing"] and stale["data"] == before["data"]
    assert queued == [(project.id, "core")]
    dashboard_refresh_task(*queued[0])
    fresh = dashboard_part(project, "core")
    assert not fresh["stale"] and fresh["data"] != before["data"]


def test_other_projects_label_writes_leave_the_snapshot_fresh(project, policy, settled, member):
    from annotation.services import project_create

    settled(2, 2)
    dashboard_part(project, "core")
    other = project_create(name="other")
    from tests.builders import labelled_run

    labelled_run(other, seed=3, queries=2)
    assert label_writes(other) > 0
    assert not dashboard_part(project, "core")["stale"]


@pytest.mark.django_db(transaction=True)
def test_a_label_committed_while_the_figures_are_computed_is_not_missed(project, policy, settled, monkeypatch):
    settled(2, 2)
    other = settled(0, 2)
    pair_id = other.pair.id
    compute = snapshot.compute_part

    def compute_while_a_reviewer_submits(*args, **kwargs):
        # The figures read the labels first; a human label for another pair commits
        # from another connection before the snapshot is stored.
        data = compute(*args, **kwargs)
        thread = threading.Thread(target=_insert_and_commit, args=(project.id, pair_id, "late-rater", 2))
        thread.start()
        thread.join(10)
        return data

    monkeypatch.setattr(snapshot, "compute_part", compute_while_a_reviewer_submits)
    first = dashboard_refresh(project=project, part="core")
    monkeypatch.setattr(snapshot, "compute_part", compute)
    assert snapshot._stale(project, first, snapshot.MAX_AGE)  # stored already behind
    figures = dashboard_refresh(project=project, part="core")["data"]["annotators"]
    raters = {row["rater"] for row in figures["annotators"]}
    assert "late-rater" in raters
    assert Label.objects.filter(rater="late-rater").count() == 1  # written once, counted once


def _insert_and_commit(project_id: int, pair_id: int, rater: str, value: int) -> None:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(INSERT, [project_id, pair_id, rater, value])
    finally:
        connections.close_all()


@pytest.mark.django_db(transaction=True)
def test_a_long_label_transaction_does_not_block_other_writers_of_the_project(project, policy, settled):
    # Two pairs: writers of one pair do wait for each other, on its CurrentLabel row.
    pair, other_pair = settled(2, 2).pair, settled(1, 1).pair
    started, finish = threading.Event(), threading.Event()

    def long_import():
        with connection.cursor() as cursor:
            cursor.execute(INSERT, [project.id, pair.id, "importer", 1])

    thread = threading.Thread(target=held_transaction, args=(long_import, started, finish))
    thread.start()
    assert started.wait(10)
    try:
        before = label_writes(project)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '2s'")  # a wait on the importer's row would fail here
            cursor.execute(INSERT, [project.id, other_pair.id, "reviewer", 2])
        assert label_writes(project) == before + 1  # the importer's label is not committed yet
    finally:
        finish.set()
        thread.join(10)
    assert label_writes(project) == before + 2
