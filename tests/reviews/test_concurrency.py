"""Many annotators at once, on real threads with their own database connections: SKIP
LOCKED claims and conditional submits must hand out each task once and lose none."""

import threading
import time
from collections import Counter

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from annotation.models import (
    GoldProvenance,
    Label,
    LabelSource,
    Membership,
    Pair,
    Product,
    Query,
)
from annotation.services import project_create
from reviews.models import Reason, ReviewTask, RoutingPolicy
from reviews.services.errors import ReviewError
from reviews.services.queue import task_claim_next, task_submit

pytestmark = pytest.mark.django_db(transaction=True)


def make_queue(project, size: int, *, slots: int = 1) -> list[int]:
    now = timezone.now()
    queries = Query.objects.bulk_create(
        [
            Query(project=project, external_id=f"q{i}", text=f"query {i}", traffic=i % 17, created_at=now)
            for i in range(size)
        ]
    )
    products = Product.objects.bulk_create(
        [
            Product(project=project, external_id=f"p{i}", title=f"Product {i}", content_hash=f"{i:064d}")
            for i in range(size)
        ]
    )
    pairs = Pair.objects.bulk_create([Pair(project=project, query=q, product=p) for q, p in zip(queries, products)])
    tasks = ReviewTask.objects.bulk_create(
        [
            ReviewTask(
                project=project,
                pair=pair,
                slot=slot,
                reasons=[Reason.LOW_CONFIDENCE],
                reason=Reason.LOW_CONFIDENCE,
                priority=3.0 * (1 + i % 17),
                policy_version=1,
            )
            for i, pair in enumerate(pairs)
            for slot in range(1, slots + 1)
        ]
    )
    return [t.id for t in tasks]


def annotators(project, count: int) -> list:
    users = get_user_model().objects.bulk_create([get_user_model()(username=f"annotator{i:02d}") for i in range(count)])
    Membership.objects.bulk_create([Membership(project=project, user=u) for u in users])
    return users


def run_threads(target, args_list, timeout: float = 300):
    """Start every thread behind one barrier, join them, return their exceptions."""
    barrier = threading.Barrier(len(args_list))
    errors: list[BaseException] = []

    def wrapped(*args):
        try:
            barrier.wait()
            target(*args)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=wrapped, args=args, daemon=True) for args in args_list]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0))
    assert not any(t.is_alive() for t in threads), "threads hung (deadlock or lock wait)"
    return errors


def test_twenty_annotators_finish_a_queue_of_two_thousand_tasks_each_exactly_once():
    project = project_create(name="crowd")
    RoutingPolicy.objects.create(project=project, version=1, audit_rate=0, humans_per_pair=1)
    task_ids = make_queue(project, 2000)
    users = annotators(project, 20)
    done_by: dict[str, list[int]] = {u.username: [] for u in users}

    def work(user):
        while True:
            task = task_claim_next(project=project, user=user)
            if task is None:
                return
            assert task.claimed_by_id == user.id
            label = task_submit(task=task, user=user, value=task.id % 3)
            assert label.user_id == user.id
            done_by[user.username].append(task.id)

    errors = run_threads(work, [(u,) for u in users])

    assert errors == []
    handed_out = [task_id for ids in done_by.values() for task_id in ids]
    assert len(handed_out) == len(set(handed_out)) == 2000  # none twice, none lost
    assert set(handed_out) == set(task_ids)
    assert ReviewTask.objects.filter(status=ReviewTask.Status.DONE).count() == 2000
    assert not ReviewTask.objects.exclude(status=ReviewTask.Status.DONE).exists()
    # one human label per task, written by the annotator who was handed the task
    labels = Label.objects.filter(project=project, source=LabelSource.HUMAN)
    assert labels.count() == 2000
    assert not labels.values("pair_id").annotate(n=Count("id")).filter(n__gt=1).exists()
    for task_id, label_user, task_user, value in ReviewTask.objects.values_list(
        "id", "label__user", "claimed_by", "label__value"
    ):
        assert label_user == task_user and value == task_id % 3
    owner = {task_id: name for name, ids in done_by.items() for task_id in ids}
    assert Counter(owner[t] for t in ReviewTask.objects.values_list("id", flat=True)) == Counter(
        {name: len(ids) for name, ids in done_by.items() if ids}
    )
    assert Pair.objects.filter(project=project, gold_provenance=GoldProvenance.HUMAN).count() == 2000


def test_two_humans_per_pair_never_puts_one_annotator_on_both_slots():
    project = project_create(name="pairs-of-two")
    RoutingPolicy.objects.create(project=project, version=1, audit_rate=0, humans_per_pair=2)
    make_queue(project, 100, slots=2)
    users = annotators(project, 8)

    def work(user):
        while (task := task_claim_next(project=project, user=user)) is not None:
            task_submit(task=task, user=user, value=1)

    errors = run_threads(work, [(u,) for u in users])

    assert errors == []
    assert ReviewTask.objects.filter(status=ReviewTask.Status.DONE).count() == 200
    per_pair = (
        Label.objects.filter(source=LabelSource.HUMAN)
        .values("pair_id")
        .annotate(n=Count("id"), raters=Count("user", distinct=True))
    )
    assert len(per_pair) == 100
    assert all(row["n"] == 2 and row["raters"] == 2 for row in per_pair)
    assert Pair.objects.filter(project=project, gold_provenance=GoldProvenance.HUMAN, gold_value=1).count() == 100


def test_a_single_task_goes_to_exactly_one_of_many_simultaneous_claimers():
    project = project_create(name="one-task")
    RoutingPolicy.objects.create(project=project, version=1, audit_rate=0)
    [task_id] = make_queue(project, 1)
    users = annotators(project, 10)
    got: list[int | None] = []

    def claim(user):
        task = task_claim_next(project=project, user=user)
        got.append(task.id if task else None)

    errors = run_threads(claim, [(u,) for u in users])

    assert errors == []
    assert sorted(got, key=lambda x: x is None) == [task_id] + [None] * 9


def test_a_double_submit_at_the_same_moment_writes_one_label():
    project = project_create(name="double-click")
    RoutingPolicy.objects.create(project=project, version=1, audit_rate=0)
    make_queue(project, 1)
    [user] = annotators(project, 1)
    task = task_claim_next(project=project, user=user)
    outcomes: list[str] = []

    def submit(value):
        try:
            task_submit(task=ReviewTask.objects.get(id=task.id), user=user, value=value)
            outcomes.append("ok")
        except ReviewError as refused:
            outcomes.append(str(refused.status))

    errors = run_threads(submit, [(v,) for v in (0, 1, 2, 0, 1, 2)])

    assert errors == []
    assert sorted(outcomes) == ["409"] * 5 + ["ok"]
    assert Label.objects.filter(source=LabelSource.HUMAN).count() == 1
    connection.close()
