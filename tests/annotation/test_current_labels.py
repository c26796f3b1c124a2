"""CurrentLabel (kept by triggers on annotation_label) against the reference it replaces:
the newest label per pair and source, looked up by a correlated subquery over the labels
themselves. Run metrics from LLM, human or "any" labels must give the same numbers as
before, also when labels are written, corrected or deleted in between, and when two
transactions write labels of the same pair at once."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from annotation.metrics import run_metrics, unjudged_pairs
from annotation.metrics.sql import newest_label_value
from annotation.models import CurrentLabel, Label, Pair, Project
from annotation.services import project_create
from tests.builders import held_transaction, labelled_run

pytestmark = pytest.mark.django_db
SOURCES = ("llm", "human", "any")


def reference(project) -> dict[tuple[int, str], int]:
    """{(pair id, source): value} by the old correlated subquery."""
    found = {}
    for source in SOURCES:
        rows = (
            Pair.objects.filter(project=project)
            .annotate(v=newest_label_value(source, pair_id="id"))
            .filter(v__isnull=False)
            .values_list("id", "v")
        )
        found.update({(pair_id, source): value for pair_id, value in rows})
    return found


def current(project) -> dict[tuple[int, str], int]:
    rows = CurrentLabel.objects.filter(pair__project=project).values_list("pair_id", "source", "value", "label_id")
    newest = {}
    for pair_id, source, value, label_id in rows:
        label = Label.objects.get(id=label_id)  # the row points at a real label with its value
        assert (label.pair_id, label.value) == (pair_id, value) and source in (label.source, "any")
        newest[(pair_id, source)] = value
    return newest


def metrics_by_reference(run, source: str, k: int) -> dict:
    """run_metrics as the old path computed it: the reference values written as gold of a
    copy of the figures' input (gold is read directly, never through CurrentLabel)."""
    with transaction.atomic():
        for pair in Pair.objects.filter(project=run.project).annotate(v=newest_label_value(source, pair_id="id")):
            pair.gold_value, pair.gold_provenance = (pair.v, "imported") if pair.v is not None else (None, "")
            pair.save(update_fields=["gold_value", "gold_provenance"])
        figures = run_metrics(run, k=k).to_dict()
        holes = sorted(unjudged_pairs(run, k=k))
        transaction.set_rollback(True)
    return {**figures, "holes_list": holes}


def metrics_now(run, source: str, k: int) -> dict:
    figures = run_metrics(run, k=k, label_source=source).to_dict()
    return {**figures, "holes_list": sorted(unjudged_pairs(run, k=k, label_source=source))}


def same_figures(new: dict, old: dict) -> None:
    for key in ("provisional", "label_source", "notes"):  # gold vs provisional: by design
        new.pop(key), old.pop(key)
    assert new == old


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_current_labels_are_the_newest_label_of_each_pair_per_source_as_the_old_subquery_found(seed):
    project = project_create(name=f"cur-{seed}")
    labelled_run(project, seed=seed)
    assert current(project) == reference(project)
    assert len(reference(project)) > 20


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("k", [1, 5, 10])
def test_run_metrics_from_labels_give_the_same_numbers_as_the_old_path(source, k):
    project = project_create(name="cur-metrics")
    run = labelled_run(project, seed=7)
    same_figures(metrics_now(run, source, k), metrics_by_reference(run, source, k))


def test_corrections_and_deletions_of_labels_are_followed():
    project = project_create(name="cur-edit")
    run = labelled_run(project, seed=11)
    labels = list(Label.objects.filter(project=project).order_by("id"))
    newest = max(labels, key=lambda label: (label.created_at, label.id))
    # A newer label, then the newest label deleted (the admin), then a value corrected.
    Label.objects.create(project=project, pair=newest.pair, source="llm", rater="m", value=1)
    Label.objects.filter(id=labels[0].id).delete()
    Label.objects.filter(id=labels[1].id).update(value=2 - labels[1].value)
    Label.objects.filter(id=labels[2].id).update(created_at=timezone.now() + timedelta(days=1))
    assert current(project) == reference(project)
    # All labels of a pair deleted: it has no current label left.
    Label.objects.filter(pair=labels[3].pair).delete()
    assert not CurrentLabel.objects.filter(pair=labels[3].pair).exists()
    assert current(project) == reference(project)
    for source in SOURCES:
        same_figures(metrics_now(run, source, 5), metrics_by_reference(run, source, 5))


def test_deleting_a_project_through_the_orm_leaves_no_current_labels():
    project = project_create(name="cur-gone")
    labelled_run(project, seed=5)
    pair_ids = list(Pair.objects.filter(project=project).values_list("id", flat=True))
    Project.objects.filter(id=project.id).delete()
    assert not CurrentLabel.objects.filter(pair_id__in=pair_ids).exists()


def _write_label(pair_id: int, value: int, created_at, written: threading.Event, go: threading.Event) -> None:
    """In its own connection: insert a label, say so, and commit only when told."""

    def insert() -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO annotation_label (project_id, pair_id, source, rater, value, rationale, created_at) "
                "SELECT project_id, id, 'llm', 'm', %s, '', %s FROM annotation_pair WHERE id = %s",
                [value, created_at, pair_id],
            )

    held_transaction(insert, written, go)


@pytest.mark.django_db(transaction=True)
def test_two_transactions_writing_labels_of_one_pair_end_with_the_newest_whichever_commits_last():
    project = project_create(name="cur-race")
    run = labelled_run(project, seed=13, queries=3)
    pair = Pair.objects.filter(project=project, results__run=run).first()
    later = timezone.now() + timedelta(hours=2)
    for newer_commits_first in (True, False):
        events = [(threading.Event(), threading.Event()) for _ in range(2)]
        values = (2, 0) if newer_commits_first else (0, 2)
        dates = (later, later - timedelta(minutes=1)) if newer_commits_first else (later, later + timedelta(minutes=1))
        threads = [
            threading.Thread(target=_write_label, args=(pair.id, values[i], dates[i], *events[i])) for i in range(2)
        ]
        threads[0].start()
        assert events[0][0].wait(10)
        threads[1].start()  # its upsert waits on the first transaction's row
        events[0][1].set()
        threads[0].join(10)
        assert events[1][0].wait(10)
        events[1][1].set()
        threads[1].join(10)
        expected = 2  # the label dated newest has value 2 in both orders
        assert CurrentLabel.objects.get(pair=pair, source="llm").value == expected
        assert current(project) == reference(project)
        later += timedelta(hours=1)


@pytest.mark.django_db(transaction=True)
def test_a_label_written_between_two_reads_of_the_metrics_is_in_the_second_and_counted_once():
    project = project_create(name="cur-between")
    run = labelled_run(project, seed=17, queries=4)
    before = metrics_now(run, "llm", 10)
    unlabelled = Pair.objects.filter(project=project, results__run=run, labels__isnull=True).first()
    assert unlabelled is not None
    written, go = threading.Event(), threading.Event()
    go.set()
    writer = threading.Thread(target=_write_label, args=(unlabelled.id, 2, timezone.now(), written, go))
    writer.start()
    writer.join(10)
    after = metrics_now(run, "llm", 10)
    assert sum(r["judged_at_k"] for r in after["per_query"]) == sum(r["judged_at_k"] for r in before["per_query"]) + 1
    assert unlabelled.id in before["holes_list"] and unlabelled.id not in after["holes_list"]
    same_figures(after, metrics_by_reference(run, "llm", 10))
