"""Reads behind the review pages. Every entry point starts from a project the user may
see (annotation.access.project_for_user), so a foreign id is a 404."""

import math
from dataclasses import dataclass
from datetime import datetime, time
from typing import Self

from django.db.models import Count, Q
from django.shortcuts import get_object_or_404
from django.utils import timezone

from annotation.label_keys import ShownLabel, keyed_levels, keyed_scale
from annotation.models import (
    Label,
    LabelSource,
    Pair,
    ProductImage,
    Project,
)
from judging.models import Guideline, Judgment
from judging.offline import OFFLINE_MODEL

from .card_rules import card_rules
from .models import Reason, ReviewTask, RoutingPolicy
from .services.queue import earlier_label, next_image_id, queue_progress

REASON_NAMES = dict(Reason.choices)


def task_of_project(project: Project, task_id: int) -> ReviewTask:
    """A task of a project the caller resolved through project_for_user: a task id of
    any other project is a 404."""
    return get_object_or_404(ReviewTask.objects.select_related("project"), pk=task_id, project=project)


def _waiting(project: Project, kind: str):
    # Open, or claimed by someone whose lease ran out: both are handed out again.
    return ReviewTask.objects.filter(project=project, kind=kind).filter(
        Q(status=ReviewTask.Status.OPEN) | Q(status=ReviewTask.Status.CLAIMED, lease_expires_at__lt=timezone.now())
    )


@dataclass(frozen=True)
class ReasonCount:
    reason: str
    name: str
    count: int


def queue_counts(project: Project, kind: str = ReviewTask.Kind.LABEL) -> tuple[int, list[ReasonCount]]:
    """Waiting tasks of a kind: the total, and one row per reason, largest first."""
    rows = _waiting(project, kind).order_by().values("reason").annotate(n=Count("id"))
    counts = {row["reason"]: row["n"] for row in rows}
    per_reason = [ReasonCount(reason, REASON_NAMES.get(reason, reason), n) for reason, n in counts.items()]
    per_reason.sort(key=lambda r: (-r.count, r.reason))
    return sum(counts.values()), per_reason


# The card shows the queue's size on every step; counting 200,000 waiting tasks took 50 ms,
# more than the rest of the step together, so the count stops here.
QUEUE_COUNT_CAP = 1_000


class QueueSize(int):
    """A count that stopped at QUEUE_COUNT_CAP when `capped`; it prints as "1,000+"."""

    capped: bool

    def __new__(cls, count: int, *, capped: bool = False) -> Self:
        size = super().__new__(cls, count)
        size.capped = capped
        return size

    def __str__(self) -> str:
        return f"{int(self):,}+" if self.capped else f"{int(self):,}"


def queue_size(project: Project, kind: str = ReviewTask.Kind.LABEL, reason: str | None = None) -> QueueSize:
    tasks = _waiting(project, kind)
    if reason:
        tasks = tasks.filter(reason=reason)
    count = tasks.order_by().values("id")[: QUEUE_COUNT_CAP + 1].count()
    return QueueSize(min(count, QUEUE_COUNT_CAP), capped=count > QUEUE_COUNT_CAP)


def flagged_tasks(project: Project):
    """Flagged tasks of a project, newest flag first, with what the page shows."""
    return (
        ReviewTask.objects.filter(project=project, status=ReviewTask.Status.FLAGGED)
        .select_related("pair__query", "pair__product", "claimed_by", "flagged_by")
        .order_by("-completed_at", "-id")
    )


def flagged_count(project: Project) -> int:
    return ReviewTask.objects.filter(project=project, status=ReviewTask.Status.FLAGGED).count()


def labels_today(user, project: Project) -> int:
    """The user's human labels in this project since local midnight: the session counter."""
    midnight = timezone.make_aware(datetime.combine(timezone.localdate(), time.min))
    return Label.objects.filter(project=project, user=user, source=LabelSource.HUMAN, created_at__gte=midnight).count()


def undoable_task(user, project: Project) -> ReviewTask | None:
    """The user's most recent submit that task_undo would still reopen."""
    return (
        ReviewTask.objects.filter(
            project=project,
            kind=ReviewTask.Kind.LABEL,
            status=ReviewTask.Status.DONE,
            claimed_by=user,
            lease_expires_at__gt=timezone.now(),
        )
        .order_by("-completed_at", "-id")
        .first()
    )


def _unit(value) -> float:
    # Requirements come from an LLM: anything that is not a number in [0, 1] is clamped.
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    if math.isnan(number):
        return 0.0
    return min(max(number, 0.0), 1.0)


def requirement_rows(requirements) -> list[dict]:
    rows = []
    for item in requirements or ():
        if not isinstance(item, dict):
            continue
        importance = _unit(item.get("importance"))
        rows.append(
            {
                "attribute": str(item.get("attribute", "")),
                "value": str(item.get("value", "")),
                "importance": importance,
                "percent": round(importance * 100),
                "negated": bool(item.get("negated")),
            }
        )
    return rows


def attribute_rows(attributes) -> list[tuple[str, str]]:
    if not isinstance(attributes, dict):
        return []
    rows = []
    for key, value in attributes.items():
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        rows.append((str(key), str(value)))
    return rows


def _shown_dict(shown: dict[int, ShownLabel], value: int | None) -> dict:
    """{"key": …, "name": …} of a stored value for the card ("" and None when it has none)."""
    label = shown.get(value) if value is not None else None
    return {"key": label.key if label else None, "name": label.name if label else ""}


def card_context(task: ReviewTask) -> dict:
    """Everything one review card shows. The LLM's label and rationale are included
    only when the task is not blind: a blind card's context never holds them."""
    pair = Pair.objects.select_related("query", "product").get(id=task.pair_id)
    query, product = pair.query, pair.product
    levels = keyed_scale(task.project)
    # The reviewer presses key n for the n-th level: every label on the card is shown
    # with that key, never with its stored value (key 1 is value 0 on the default scale).
    shown = keyed_levels((level.value, level.name) for _, level in levels)
    guideline = Guideline.objects.filter(query=query).order_by("-version").first()
    ctx = {
        "task": task,
        "pair": pair,
        "query": query,
        "product": product,
        "images": list(product.images.filter(status=ProductImage.Status.STORED).order_by("position")),
        "attributes": attribute_rows(product.attributes),
        "guideline": guideline,
        "requirements": requirement_rows(guideline.requirements) if guideline else [],
        "reasons": [(r, REASON_NAMES.get(r, r)) for r in (task.reasons or [task.reason])],
        "levels": levels,
        "llm": None,
        "human_labels": [],
        "earlier": None,
    }
    earlier = earlier_label(task)
    if earlier is not None:
        ctx["earlier"] = _shown_dict(shown, earlier.value)
    if not task.blind:
        judgment = Judgment.objects.filter(pair_id=pair.id).order_by("-created_at", "-id").first()
        if judgment is not None:
            ctx["llm"] = {
                "invalid": judgment.status == Judgment.Status.INVALID,
                "value": judgment.value,
                **_shown_dict(shown, judgment.value),
                "confidence": judgment.confidence,
                "rationale": judgment.rationale,
                "model": judgment.model,
                "offline": judgment.model == OFFLINE_MODEL,
                "applied_rules": judgment.applied_rules,
            }
    ctx["card_rules"] = card_rules(pair, ctx["llm"])  # reviews/_card_rules.html
    if task.kind == ReviewTask.Kind.ADJUDICATION:
        # Labels are append-only and a correction (undo, resubmit) is a new row: each
        # rater's latest label is their current opinion.
        latest: dict[str, Label] = {}
        for label in Label.objects.filter(pair_id=pair.id, source=LabelSource.HUMAN).order_by("created_at", "id"):
            latest[label.rater] = label
        ctx["human_labels"] = [
            {
                "rater": label.rater,
                "value": label.value,
                **_shown_dict(shown, label.value),
            }
            for label in latest.values()
        ]
    return ctx


def policy_versions(project: Project):
    return RoutingPolicy.objects.filter(project=project).select_related("created_by").order_by("-version")


def empty_reasons(project: Project, user, kind: str, reason: str | None) -> list[str]:
    """Why a user's queue is empty, in sentences: nothing routed yet, a reason filter that
    others do not share, pairs held by other reviewers, pairs this user already did."""
    tasks = ReviewTask.objects.filter(project=project, kind=kind)
    if not tasks.exists():
        return ["Nothing has been routed to reviewers yet: pairs arrive here when a lead evaluates a run."]
    sentences = []
    if reason:
        others = _waiting(project, kind).exclude(reason=reason).count()
        if others:
            sentences.append(f"The filter “{REASON_NAMES.get(reason, reason)}” hides {others} waiting task(s).")
    held = (
        tasks.filter(status=ReviewTask.Status.CLAIMED, lease_expires_at__gte=timezone.now())
        .exclude(claimed_by=user)
        .count()
    )
    if held:
        sentences.append(f"{held} pair(s) are being labelled by other reviewers right now.")
    if not sentences and not _waiting(project, kind).exists():
        sentences.append("Every pair routed to reviewers has its labels.")
    return sentences


def progress_context(project: Project, user, kind: str, reason: str | None, task: ReviewTask | None) -> dict:
    """The card's progress line, the image to preload and, on an empty card, why."""
    return {
        "progress": queue_progress(project=project, user=user, kind=kind, reason=reason),
        "next_image_id": (
            next_image_id(project=project, user=user, kind=kind, reason=reason, current=task)
            if task is not None
            else None
        ),
        "empty_reasons": empty_reasons(project, user, kind, reason) if task is None else [],
    }
