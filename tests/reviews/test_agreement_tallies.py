"""The incrementally kept agreement tallies (reviews/agreement/tallies.py) against the
full recompute from every label, on random data with relabels, deletes, gold changes,
adjudications and a write committed while a delta pass runs."""

import itertools
import threading
import uuid
from datetime import timedelta

import numpy as np
import pytest
from django.db import connection

from annotation.models import GoldProvenance, Label, LabelSource, Pair, Product, Project, Query
from annotation.services import project_create
from reviews.agreement import annotator_agreement, data, human_pairwise_agreement, project_agreement_summary
from reviews.agreement.tallies import refresh_tallies
from reviews.agreement.timeline import agreement_over_time, label_distribution
from reviews.models import ReviewTask
from tests.builders import held_transaction

_serial = itertools.count(1)
RATERS = ["anna", "ben", "chloe", "dan"]


def make_pairs(project: Project, count: int) -> list[Pair]:
    pairs = []
    for _ in range(count):
        n = next(_serial)
        query = Query.objects.create(project=project, external_id=f"tq{n}", text=f"query {n}")
        product = Product.objects.create(
            project=project, external_id=f"tp{n}", title=f"product {n}", content_hash=f"{n:064d}"
        )
        pairs.append(Pair.objects.create(project=project, query=query, product=product))
    return pairs


def figures(project: Project) -> dict:
    return {
        "summary": project_agreement_summary(project, n_boot=30),
        "humans": human_pairwise_agreement(project, n_boot=30),
        "annotators": annotator_agreement(project, n_boot=30, bucket_size=2),  # full path both times
        "annotators_default": annotator_agreement(project, n_boot=30),
        "over_time": agreement_over_time(project),
        "distribution": label_distribution(project),
    }


def assert_tallies_match_full(project: Project, monkeypatch) -> None:
    tallied = figures(project)
    with monkeypatch.context() as m:
        m.setattr(data, "USE_TALLIES", False)
        full = figures(project)
    assert tallied == full


def random_writes(project: Project, pairs: list[Pair], rng: np.random.Generator, lead, round_: int) -> None:
    """One round of what judging, reviews, imports and the admin write."""
    chosen = rng.choice(len(pairs), size=len(pairs) // 2, replace=False)
    Label.objects.bulk_create(
        [
            Label(project=project, pair=pairs[i], source=LabelSource.LLM, rater="gpt", value=int(rng.integers(0, 4)))
            for i in chosen[: len(chosen) // 2]
        ]
        + [
            Label(
                project=project,
                pair=pairs[i],
                source=LabelSource.HUMAN,
                rater=str(rng.choice(RATERS)),
                value=int(rng.integers(0, 4)),
            )
            for i in chosen[len(chosen) // 3 :]
        ]
    )
    # Deletes (the admin, a cancelled import) and an in-place edit.
    victims = list(Label.objects.filter(project=project).order_by("?").values_list("id", flat=True)[:3])
    Label.objects.filter(id__in=victims[:2]).delete()
    Label.objects.filter(id__in=victims[2:]).update(value=int(rng.integers(0, 4)))
    # A human label moved earlier in its day (an import with its own times): the rater's
    # later labels that day move one position up.
    moved = Label.objects.filter(project=project, source=LabelSource.HUMAN).order_by("?").first()
    if moved is not None:
        Label.objects.filter(id=moved.id).update(
            created_at=moved.created_at - timedelta(minutes=int(rng.integers(1, 600)))
        )
    # Gold settled by people, by the LLM, and taken back.
    for i in rng.choice(len(pairs), size=4, replace=False):
        provenance = rng.choice([GoldProvenance.HUMAN, GoldProvenance.ADJUDICATED, GoldProvenance.LLM_AUTO])
        Pair.objects.filter(id=pairs[i].id).update(gold_value=int(rng.integers(0, 4)), gold_provenance=provenance)
    Pair.objects.filter(id=pairs[int(rng.integers(len(pairs)))].id).update(gold_value=None, gold_provenance="")
    # A lead's adjudication: the label first, the task pointing at it afterwards.
    pair = pairs[round_]  # one adjudication per pair
    label = Label.objects.create(project=project, pair=pair, source=LabelSource.HUMAN, rater="lead", value=2)
    ReviewTask.objects.create(
        project=project,
        pair=pair,
        kind=ReviewTask.Kind.ADJUDICATION,
        reason="human-disagreement",
        policy_version=1,
        status=ReviewTask.Status.DONE,
        claimed_by=lead,
        label=label,
    )


@pytest.mark.django_db
def test_tallied_figures_equal_the_full_recompute_through_relabels_deletes_and_gold(monkeypatch, django_user_model):
    project = project_create(name=f"tallies-{uuid.uuid4().hex[:8]}", scale="esci")
    pairs = make_pairs(project, 40)
    lead = django_user_model.objects.create(username="lead")
    rng = np.random.default_rng(7)
    assert_tallies_match_full(project, monkeypatch)  # empty: the first build
    for round_ in range(5):
        random_writes(project, pairs, rng, lead, round_)
        assert_tallies_match_full(project, monkeypatch)
    summary = project_agreement_summary(project, n_boot=0)
    assert summary["counts"]["human_raters"] >= 3 and summary["human_vs_human"]["rater_pairs"] >= 3


@pytest.mark.django_db
def test_a_delta_pass_recomputes_only_the_pairs_written(django_user_model):
    project = project_create(name=f"tallies-{uuid.uuid4().hex[:8]}", scale="esci")
    pairs = make_pairs(project, 20)
    Label.objects.bulk_create(
        [Label(project=project, pair=p, source=LabelSource.HUMAN, rater="anna", value=1) for p in pairs]
    )
    assert refresh_tallies(project) == 20  # the first pass builds every pair
    assert refresh_tallies(project) == 0
    Label.objects.bulk_create(
        [Label(project=project, pair=p, source=LabelSource.HUMAN, rater="ben", value=2) for p in pairs[:3]]
    )
    assert refresh_tallies(project) == 3
    summary = project_agreement_summary(project, n_boot=0)
    assert summary["human_vs_human"]["rater_pairs"] == 1
    assert summary["human_vs_human"]["agreement"]["n"] == 3


@pytest.mark.django_db(transaction=True)
def test_a_write_committed_during_a_delta_pass_is_counted_by_the_next(monkeypatch):
    project = project_create(name=f"tallies-{uuid.uuid4().hex[:8]}", scale="esci")
    pairs = make_pairs(project, 10)
    Label.objects.bulk_create(
        [Label(project=project, pair=p, source=LabelSource.LLM, rater="gpt", value=2) for p in pairs]
    )
    refresh_tallies(project)
    written, release = threading.Event(), threading.Event()

    def writer():
        Label.objects.bulk_create(
            [Label(project=project, pair=p, source=LabelSource.HUMAN, rater="anna", value=2) for p in pairs]
        )

    thread = threading.Thread(target=held_transaction, args=(writer, written, release))
    thread.start()
    assert written.wait(10)
    # The writer's labels are not committed: this pass cannot see them, nor their dirty rows.
    assert refresh_tallies(project) == 0
    assert project_agreement_summary(project, n_boot=0)["counts"]["human_labels"] == 0
    release.set()
    thread.join()
    summary = project_agreement_summary(project, n_boot=0)
    assert summary["counts"]["human_labels"] == 10
    assert_tallies_match_full(project, monkeypatch)


@pytest.mark.django_db
def test_fatigue_buckets_follow_a_backdated_label_and_a_delete(monkeypatch):
    project = project_create(name=f"tallies-{uuid.uuid4().hex[:8]}", scale="esci")
    pairs = make_pairs(project, 60)
    Label.objects.bulk_create(
        [Label(project=project, pair=p, source=LabelSource.LLM, rater="gpt", value=i % 4) for i, p in enumerate(pairs)]
    )
    labels = Label.objects.bulk_create(
        [
            Label(project=project, pair=p, source=LabelSource.HUMAN, rater="anna", value=(i // 7) % 4)
            for i, p in enumerate(pairs)
        ]
    )
    start = Label.objects.filter(id=labels[0].id).values_list("created_at", flat=True).get()
    for i, label in enumerate(labels):  # one label a minute, within one day
        Label.objects.filter(id=label.id).update(created_at=start.replace(hour=9, minute=0) + timedelta(minutes=i))

    def buckets() -> list[int]:
        return [row["labels"] for row in annotator_agreement(project, n_boot=0)["all"]["by_position"]]

    assert buckets() == [50, 10]
    assert_tallies_match_full(project, monkeypatch)
    # The 55th label moved before the first: the 50th becomes the 51st.
    Label.objects.filter(id=labels[54].id).update(created_at=start.replace(hour=8))
    assert_tallies_match_full(project, monkeypatch)
    Label.objects.filter(id__in=[labels[0].id, labels[1].id]).delete()
    assert buckets() == [50, 8]
    assert_tallies_match_full(project, monkeypatch)


@pytest.mark.django_db
def test_a_core_refresh_stores_point_figures_before_the_intervals():
    from reviews.dashboard.snapshot import dashboard_part, dashboard_refresh

    project = project_create(name=f"tallies-{uuid.uuid4().hex[:8]}", scale="esci")
    pairs = make_pairs(project, 6)
    for rater, values in (("anna", [0, 1, 2, 3, 3, 1]), ("ben", [0, 1, 2, 2, 3, 0])):
        Label.objects.bulk_create(
            [
                Label(project=project, pair=p, source=LabelSource.HUMAN, rater=rater, value=v)
                for p, v in zip(pairs, values)
            ]
        )
    first = dashboard_refresh(project=project, part="core")  # no snapshot yet: one store, with CIs
    assert first["intervals"] and first["data"]["summary"]["bootstrap"]["replicates"] > 0
    Label.objects.create(project=project, pair=pairs[0], source=LabelSource.HUMAN, rater="chloe", value=0)
    assert dashboard_part(project, "core")["stale"]
    seen = []
    entry = dashboard_refresh(project=project, part="core", on_points=seen.append)
    (points,) = seen
    assert not points["intervals"] and points["data"]["summary"]["bootstrap"]["replicates"] == 0
    assert points["data"]["summary"]["counts"]["human_labels"] == 13
    assert points["data"]["summary"]["alpha_humans"]["ci"] is None
    assert entry["intervals"] and entry["data"]["summary"]["alpha_humans"]["ci"] is not None
    assert entry["data"]["summary"]["alpha_humans"]["value"] == points["data"]["summary"]["alpha_humans"]["value"]


def tally_rows(project_id: int) -> dict[str, int]:
    """Rows of each tallies table that belong to the project."""
    with connection.cursor() as cursor:
        counts = {}
        for table in ("part", "total", "built", "dirty"):
            cursor.execute(f"SELECT count(*) FROM reviews_agreement_{table} WHERE project_id = %s", [project_id])
            counts[table] = cursor.fetchone()[0]
        return counts


@pytest.mark.django_db
def test_a_deleted_projects_tallies_go_with_it_and_other_projects_keep_theirs():
    doomed, kept = (project_create(name=f"tallies-{uuid.uuid4().hex[:8]}", scale="esci") for _ in range(2))
    for project in (doomed, kept):
        pairs = make_pairs(project, 5)
        Label.objects.bulk_create(
            [Label(project=project, pair=p, source=LabelSource.HUMAN, rater="anna", value=1) for p in pairs]
        )
        refresh_tallies(project)
        # Written since the last pass: dirty rows wait for the next one.
        Label.objects.create(project=project, pair=pairs[0], source=LabelSource.HUMAN, rater="ben", value=2)
    before = tally_rows(kept.id)
    assert all(tally_rows(doomed.id).values()) and all(before.values())  # every table has rows of both

    doomed_id = doomed.id
    Project.objects.filter(id=doomed_id).delete()

    assert tally_rows(doomed_id) == {"part": 0, "total": 0, "built": 0, "dirty": 0}
    assert tally_rows(kept.id) == before
    # A pass that was waiting for the project when it was deleted writes nothing back.
    assert refresh_tallies(doomed) == 0
    assert tally_rows(doomed_id) == {"part": 0, "total": 0, "built": 0, "dirty": 0}
