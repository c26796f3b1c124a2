"""The reviewers' queue: claiming the next task under a lease, and what a reviewer does
with it (submit, skip, flag, undo), plus a lead's answer to a flag.

Every state change is conditional on the task still being the user's (claimed, lease
running); a stale one raises ReviewError (409) and changes nothing."""

import statistics
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, Max, OuterRef, Q, Subquery
from django.utils import timezone

from annotation.access import require_lead
from annotation.models import GoldProvenance, Label, LabelSource, Pair, ProductImage, Project, ScaleLevel
from judging.models import Guideline

from ..card_rules import ticked_rules
from ..dashboard.snapshot import dashboard_touch
from ..models import ReviewTask, TaskSkip
from .errors import ReviewError
from .gold import gold_resolve, gold_set

LEASE = timedelta(seconds=getattr(settings, "QRELAY_REVIEW_LEASE_SECONDS", 600))


def _claimable(project: Project, user, kind: str):
    now = timezone.now()
    # NOT EXISTS, correlated on the pair: PostgreSQL probes only the few candidates the
    # queue index yields (by pair_id), where NOT IN (…) read the user's whole history
    # (every label and task they ever did) on each claim.
    labelled = Label.objects.filter(pair_id=OuterRef("pair_id"), user=user, source=LabelSource.HUMAN)
    other_slot = ReviewTask.objects.filter(pair_id=OuterRef("pair_id"), claimed_by=user).exclude(
        status__in=[ReviewTask.Status.OPEN, ReviewTask.Status.CANCELLED]
    )
    # Per pair, not per task: a skipped pair is not offered again in its other slots.
    skipped = TaskSkip.objects.filter(user=user, task__pair_id=OuterRef("pair_id"))
    return (
        ReviewTask.objects.filter(project=project, kind=kind)
        .filter(Q(status=ReviewTask.Status.OPEN) | Q(status=ReviewTask.Status.CLAIMED, lease_expires_at__lt=now))
        .exclude(Exists(labelled))
        .exclude(Exists(other_slot))
        .exclude(Exists(skipped))
    )


def task_claim_next(
    *, project: Project, user, reason: str | None = None, kind: str = ReviewTask.Kind.LABEL, tag: str | None = None
) -> ReviewTask | None:
    """Give the user their claimed task if the lease holds, else claim the next one.

    SKIP LOCKED lets many annotators claim at once without waiting on each other or
    being handed the same task; the lease expires by itself if they walk away."""
    now = timezone.now()
    current = (
        ReviewTask.objects.filter(
            project=project, kind=kind, status=ReviewTask.Status.CLAIMED, claimed_by=user, lease_expires_at__gt=now
        )
        .order_by("lease_expires_at")
        .first()
    )
    if current is not None:
        return current
    if kind == ReviewTask.Kind.ADJUDICATION:
        require_lead(user, project)
    with transaction.atomic():
        candidates = _claimable(project, user, kind)
        if reason:
            candidates = candidates.filter(reason=reason)
        if tag:  # a query intent or required attribute (judging/intents.py)
            candidates = candidates.filter(pair__query__tags__contains=[tag])
        task = candidates.select_for_update(skip_locked=True).order_by("-priority", "id").first()
        if task is None:
            return None
        task.status = ReviewTask.Status.CLAIMED
        task.claimed_by = user
        task.lease_expires_at = now + LEASE
        task.save(update_fields=["status", "claimed_by", "lease_expires_at"])
    return task


def _owned(task_id: int, user):
    return ReviewTask.objects.filter(
        id=task_id, status=ReviewTask.Status.CLAIMED, claimed_by=user, lease_expires_at__gt=timezone.now()
    )


def task_submit(
    *, task: ReviewTask, user, value: int, time_spent_ms: int | None = None, applied_rules: list[str] | None = None
) -> Label:
    """Record the user's label. Conditional on still holding the task's lease: a stale
    or second submit raises ReviewError (409), never a double label.

    This is the reviewer's hot path (one call per card), so it keeps to few round trips:
    the scale check and the guideline version are one read, the task is not re-read."""
    valid, guideline_version = _submit_facts(task, value)
    if not valid:
        raise ReviewError(f"{value} is not a label of this project's scale", status=400)
    # The rules the reviewer ticked (reviews/_card_rules.html); a read only when some were.
    rules = ticked_rules(task.project_id, applied_rules) if applied_rules else []
    with transaction.atomic():
        now = timezone.now()
        label = Label.objects.create(
            project_id=task.project_id,
            pair_id=task.pair_id,
            source=LabelSource.HUMAN,
            rater=user.get_username(),
            user=user,
            value=value,
            guideline_version=guideline_version,
            applied_rules=rules,
        )
        updated = _owned(task.id, user).update(
            status=ReviewTask.Status.DONE, label=label, completed_at=now, time_spent_ms=time_spent_ms
        )
        if updated != 1:
            transaction.set_rollback(True)
            raise ReviewError("this task is no longer yours (lease expired or already submitted)")
        task.status, task.label, task.completed_at, task.time_spent_ms = (
            ReviewTask.Status.DONE,
            label,
            now,
            time_spent_ms,
        )
        if task.kind == ReviewTask.Kind.ADJUDICATION:
            gold_set(
                pair_id=task.pair_id,
                value=value,
                provenance=GoldProvenance.ADJUDICATED,
                policy_version=task.policy_version,
            )
        else:
            gold_resolve(pair_id=task.pair_id)
        # The agreement figures are now behind this label: the next view refreshes them.
        # After commit, so a refresh that starts meanwhile cannot miss the label and
        # still count as fresh.
        transaction.on_commit(lambda: dashboard_touch(project=task.project))
    return label


def _submit_facts(task: ReviewTask, value: int) -> tuple[bool, int | None]:
    """(is value on the project's scale, the query's newest guideline version), in one read.
    order_by(): Pair's default ordering would join project, query and product."""
    levels = ScaleLevel.objects.filter(project_id=task.project_id, value=value)
    guideline = (
        Guideline.objects.filter(query_id=OuterRef("query_id"))
        .order_by()
        .values("query_id")
        .annotate(v=Max("version"))
        .values("v")
    )
    facts = Pair.objects.filter(id=task.pair_id).order_by().values_list(Exists(levels), Subquery(guideline)).first()
    return facts if facts is not None else (False, None)


def task_skip(*, task: ReviewTask, user) -> None:
    """Hand the task back to the queue; this user will not be offered it again."""
    with transaction.atomic():
        locked = _owned(task.id, user).select_for_update().first()
        if locked is None:
            raise ReviewError("this task is no longer yours")
        TaskSkip.objects.get_or_create(task=locked, user=user)
        locked.status = ReviewTask.Status.OPEN
        locked.claimed_by = None
        locked.lease_expires_at = None
        locked.save(update_fields=["status", "claimed_by", "lease_expires_at"])


def task_flag(*, task: ReviewTask, user, comment: str) -> None:
    """Take the task out of the queue for a lead to look at (bad product data, unclear query…)."""
    if not comment.strip():
        raise ReviewError("a flag needs a comment saying what is wrong", status=400)
    if (
        _owned(task.id, user).update(
            status=ReviewTask.Status.FLAGGED,
            flag_comment=comment.strip()[:2000],
            flagged_by=user,
            completed_at=timezone.now(),
        )
        != 1
    ):
        raise ReviewError("this task is no longer yours")


def task_undo(*, task: ReviewTask, user) -> ReviewTask:
    """Reopen the user's last submit while its lease still runs; the label stays in the
    history (append-only) and the next submit supersedes it."""
    now = timezone.now()
    with transaction.atomic():
        updated = ReviewTask.objects.filter(
            id=task.id,
            status=ReviewTask.Status.DONE,
            claimed_by=user,
            lease_expires_at__gt=now,
            kind=ReviewTask.Kind.LABEL,
        ).update(status=ReviewTask.Status.CLAIMED, completed_at=None)
        if updated != 1:
            raise ReviewError("nothing to undo (the lease has expired)")
        pair = Pair.objects.select_for_update().get(id=task.pair_id)
        if pair.gold_provenance == GoldProvenance.HUMAN:
            # Gold resting on the undone label is withdrawn until the new submit.
            Pair.objects.filter(id=pair.id).update(
                gold_value=None, gold_provenance="", gold_policy_version=None, gold_updated_at=None
            )
        # An adjudication the undone label caused (humans disagreeing, or a human against
        # the LLM) is moot until the new submit, which resolves the pair again; a lead's
        # decision already made stays final.
        ReviewTask.objects.filter(
            pair_id=task.pair_id,
            kind=ReviewTask.Kind.ADJUDICATION,
            status__in=[ReviewTask.Status.OPEN, ReviewTask.Status.CLAIMED],
        ).update(status=ReviewTask.Status.CANCELLED, claimed_by=None, lease_expires_at=None)
    task.refresh_from_db()
    return task


def task_flag_resolve(*, task: ReviewTask, user, action: str) -> ReviewTask:
    """A lead's answer to a flag: `reopen` puts the task back in the queue (the pair is
    fine after all, or its data was fixed), keeping who flagged it and the comment for the
    next reviewer (reviews/_flag_note.html); `drop` retires it (the pair cannot be
    labelled, e.g. the product is gone): the pair stays without gold, and routing never
    sends it to humans again."""
    require_lead(user, task.project)
    if action == "reopen":
        changes = {"status": ReviewTask.Status.OPEN, "claimed_by": None, "lease_expires_at": None, "completed_at": None}
    elif action == "drop":
        changes = {"status": ReviewTask.Status.DROPPED}
    else:
        raise ReviewError(f"unknown action {action!r}: reopen or drop", status=400)
    # Conditional: two leads answering the same flag, one wins and the other hears so.
    if ReviewTask.objects.filter(id=task.id, status=ReviewTask.Status.FLAGGED).update(**changes) != 1:
        raise ReviewError("this flag was already handled")
    task.refresh_from_db()
    return task


# --- the annotator's progress ---------------------------------------------------------------

# Each candidate costs three anti-join probes (labelled, held, skipped), so counting what is
# left for the user stops sooner than the queue size does; shown as "200+".
PROGRESS_CAP = 200
PACE_SAMPLE = 20  # the user's latest timed submits that set "your pace"


@dataclass(frozen=True)
class Progress:
    left: int  # tasks this user may still take, the one in hand included
    capped: bool
    minutes: int | None  # at the user's median time per card; None before any timed card

    def __str__(self) -> str:
        return f"{self.left:,}+" if self.capped else f"{self.left:,}"


def queue_progress(*, project: Project, user, kind: str, reason: str | None) -> Progress:
    """What is left for this user (not the whole queue: pairs they labelled, skipped or
    that others hold are not theirs to take) and about how long it takes at their pace.
    Goes down by one on a submit and back up on an undo, which reopens the task in hand."""
    candidates = _claimable(project, user, kind)
    # The tasks in hand: the card's, and one an undo reopened while the next was claimed.
    held = ReviewTask.objects.filter(
        project=project,
        kind=kind,
        status=ReviewTask.Status.CLAIMED,
        claimed_by=user,
        lease_expires_at__gt=timezone.now(),
    )
    if reason:
        candidates, held = candidates.filter(reason=reason), held.filter(reason=reason)
    count = candidates.order_by().values("id")[: PROGRESS_CAP + 1].count()
    capped = count > PROGRESS_CAP
    left = min(count, PROGRESS_CAP) + held.count()
    recent = (
        ReviewTask.objects.filter(project=project, claimed_by=user, time_spent_ms__isnull=False)
        .order_by(F("completed_at").desc(nulls_last=True))
        .values_list("time_spent_ms", flat=True)[:PACE_SAMPLE]
    )
    times = [ms for ms in recent if ms is not None]
    minutes = None
    if times:
        median_ms = statistics.median(times)
        minutes = max(1, round(left * median_ms / 60_000)) if left else 0
    return Progress(left=left, capped=capped, minutes=minutes)


def next_image_id(*, project: Project, user, kind: str, reason: str | None, current: ReviewTask | None) -> int | None:
    """The first stored image of the pair the user would be offered next, for the page to
    preload while they judge this one."""
    candidates = _claimable(project, user, kind)
    if reason:
        candidates = candidates.filter(reason=reason)
    if current is not None:
        candidates = candidates.exclude(id=current.id)
    product = candidates.order_by("-priority", "id").values("pair__product_id")[:1]
    return (
        ProductImage.objects.filter(product_id=Subquery(product), status=ProductImage.Status.STORED)
        .order_by("position")
        .values_list("id", flat=True)
        .first()
    )


def earlier_label(task: ReviewTask) -> Label | None:
    """The label the task's holder gave before an undo reopened it (None on a fresh card)."""
    if task.claimed_by_id is None or task.kind != ReviewTask.Kind.LABEL:
        return None
    return (
        Label.objects.filter(pair_id=task.pair_id, user_id=task.claimed_by_id, source=LabelSource.HUMAN)
        .order_by("-created_at", "-id")
        .first()
    )
