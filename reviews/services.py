"""The hybrid policy in action: policies, routing judged pairs, the reviewers' queue,
human labels and gold resolution, and the "evaluate run R" orchestration."""

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, Max, OuterRef, Q, Subquery
from django.utils import timezone

from annotation.access import require_lead
from annotation.models import (
    GoldProvenance,
    Label,
    LabelSource,
    Pair,
    Project,
    ScaleLevel,
    SearchRun,
)
from judging.jobs import judge_job_create
from judging.models import Guideline, JudgeJob, Judgment

from .models import Reason, ReviewTask, RoutingPolicy, TaskSkip
from .routing import Decision, PolicyView, Signals, decide

LEASE = timedelta(seconds=getattr(settings, "QRELAY_REVIEW_LEASE_SECONDS", 600))
# Gold set by people (or loaded from a file) is never replaced by routing.
SETTLED = (GoldProvenance.HUMAN, GoldProvenance.ADJUDICATED, GoldProvenance.IMPORTED)
POLICY_FIELDS = (
    "min_confidence",
    "route_sample_disagreement",
    "route_style_sensitive",
    "style_keywords",
    "route_invalid",
    "audit_rate",
    "humans_per_pair",
    "adjudicate_human_vs_llm",
    "route_segments",
    "target_alpha",
    "min_segment_n",
    "hourly_rate",
)


class ReviewError(Exception):
    """A state change that cannot happen (stale submit, not a lead, …): views map it to
    409 or 403."""

    def __init__(self, message: str, *, status: int = 409):
        super().__init__(message)
        self.status = status


# --- policies -----------------------------------------------------------------------


def policy_current(project: Project) -> RoutingPolicy:
    policy = RoutingPolicy.objects.filter(project=project).order_by("-version").first()
    if policy is None:
        policy, _ = RoutingPolicy.objects.get_or_create(project=project, version=1, defaults={"note": "default"})
    return policy


# Policy versions are never edited in place (a change is a new version), so a process
# may keep the ones it has read: gold resolution runs on every submit.
_POLICY_VERSIONS: dict[tuple[int, int], RoutingPolicy | None] = {}


def policy_version_of(project_id: int, version: int | None) -> RoutingPolicy | None:
    key = (project_id, version)
    if key not in _POLICY_VERSIONS:
        policy = RoutingPolicy.objects.filter(project_id=project_id, version=version).order_by().first()
        if policy is None:
            return None  # not cached: it may be created later
        if len(_POLICY_VERSIONS) > 1000:
            _POLICY_VERSIONS.clear()
        _POLICY_VERSIONS[key] = policy
    return _POLICY_VERSIONS[key]


@transaction.atomic
def policy_update(*, project: Project, user, note: str = "", **changes) -> RoutingPolicy:
    """Save changed thresholds as a new policy version."""
    require_lead(user, project)
    unknown = set(changes) - set(POLICY_FIELDS)
    if unknown:
        raise ValueError(f"unknown policy field(s): {', '.join(sorted(unknown))}")
    current = policy_current(project)
    values = {name: getattr(current, name) for name in POLICY_FIELDS}
    values.update(changes)
    latest = RoutingPolicy.objects.select_for_update().filter(project=project).aggregate(v=Max("version"))["v"] or 0
    return RoutingPolicy.objects.create(project=project, version=latest + 1, created_by=user, note=note, **values)


# --- routing ------------------------------------------------------------------------


def latest_judgments(pair_ids) -> dict[int, Judgment]:
    found: dict[int, Judgment] = {}
    for judgment in Judgment.objects.filter(pair_id__in=list(pair_ids)).order_by("pair_id", "-created_at", "-id"):
        found.setdefault(judgment.pair_id, judgment)
    return found


def _segments(pair: Pair, judgment: Judgment, category: str) -> tuple[tuple[str, str], ...]:
    # The same keys as the agreement slices (reviews.agreement.data.SEGMENTS): a segment
    # the dashboard measures is the segment a policy rule routes.
    tags = [t for t in (pair.query.tags or ()) if isinstance(t, str)] or [""]
    return (
        *(("tag", t) for t in tags),
        ("category", category or ""),
        ("locale", pair.query.locale or ""),
        ("model", judgment.model or ""),
        ("prompt", judgment.prompt_version or ""),
        ("mode", judgment.mode or ""),
    )


def signals_for(pairs: list[Pair], judgments: dict[int, Judgment]) -> dict[int, Signals]:
    signals = {}
    # One query for the categories rather than joining every caller's pairs to products.
    categories = dict(Pair.objects.filter(id__in=[p.id for p in pairs]).values_list("id", "product__category"))
    for pair in pairs:
        judgment = judgments.get(pair.id)
        if judgment is None:
            continue
        signals[pair.id] = Signals(
            pair_id=pair.id,
            invalid=judgment.status == Judgment.Status.INVALID,
            confidence=judgment.confidence,
            samples=tuple(judgment.samples or ()),
            query_text=pair.query.text,
            query_tags=tuple(pair.query.tags or ()),
            traffic=pair.query.traffic,
            segments=_segments(pair, judgment, categories.get(pair.id, "")),
        )
    return signals


@dataclass
class RoutingSummary:
    auto_accepted: int = 0
    to_humans: int = 0
    skipped: int = 0  # settled by people already, or already in review
    unjudged: int = 0
    reasons: Counter = field(default_factory=Counter)


def route_pairs(
    *, project: Project, pair_ids, policy: RoutingPolicy | None = None, view: PolicyView | None = None
) -> RoutingSummary:
    """Route judged pairs: gold = the LLM label (llm-auto), or review task(s). `view`
    overrides how `policy` decides (rerouting decides without the audit draw)."""
    policy = policy or policy_current(project)
    view = view or PolicyView.of(policy)
    summary = RoutingSummary()
    ids = list(pair_ids)
    for start in range(0, len(ids), 2000):
        _route_batch(project, ids[start : start + 2000], policy, view, summary)
    return summary


def _route_batch(project, ids, policy, view, summary) -> None:
    pairs = list(Pair.objects.filter(project=project, id__in=ids).select_related("query"))
    judgments = latest_judgments(ids)
    signals = signals_for(pairs, judgments)
    live = set(
        ReviewTask.objects.filter(pair_id__in=ids)
        .exclude(status=ReviewTask.Status.CANCELLED)
        .values_list("pair_id", flat=True)
    )
    now = timezone.now()
    accept: dict[int, list[int]] = {}
    tasks = []
    for pair in pairs:
        if pair.gold_provenance in SETTLED or pair.id in live:
            summary.skipped += 1
            continue
        if pair.id not in signals:
            summary.unjudged += 1
            continue
        decision: Decision = decide(signals[pair.id], view)
        if decision.to_humans:
            summary.to_humans += 1
            summary.reasons.update(decision.reasons)
            for slot in range(1, decision.humans + 1):
                tasks.append(
                    ReviewTask(
                        project=project,
                        pair=pair,
                        slot=slot,
                        reasons=list(decision.reasons),
                        reason=decision.reasons[0],
                        priority=decision.priority,
                        blind=decision.blind,
                        policy_version=policy.version,
                    )
                )
        elif not signals[pair.id].invalid:
            summary.auto_accepted += 1
            accept.setdefault(judgments[pair.id].value, []).append(pair.id)
    with transaction.atomic():
        ReviewTask.objects.bulk_create(tasks, ignore_conflicts=True)
        for value, pair_ids in accept.items():
            # Conditional: a pair settled by a person meanwhile keeps its gold.
            Pair.objects.filter(id__in=pair_ids).exclude(gold_provenance__in=SETTLED).update(
                gold_value=value,
                gold_provenance=GoldProvenance.LLM_AUTO,
                gold_policy_version=policy.version,
                gold_updated_at=now,
            )


def route_job(*, job_id: int) -> RoutingSummary:
    job = JudgeJob.objects.select_related("project").get(id=job_id)
    return route_pairs(project=job.project, pair_ids=job.pair_ids)


def unrouted_pair_ids(run: SearchRun) -> list[int]:
    """Pairs of the run that are judged but neither gold nor in review."""
    return list(
        Pair.objects.filter(results__run=run, judgments__isnull=False, gold_value__isnull=True)
        .exclude(review_tasks__status__in=[s for s in ReviewTask.Status if s != ReviewTask.Status.CANCELLED])
        .values_list("id", flat=True)
        .distinct()
    )


def run_evaluate(*, run: SearchRun, user=None) -> JudgeJob:
    """ "Evaluate run R": route what is judged already, judge the holes, route them when
    the job is done (the job calls reviews.route_job by task name)."""
    route_pairs(project=run.project, pair_ids=unrouted_pair_ids(run))
    return judge_job_create(project=run.project, run=run, holes_only=True, user=user, on_done="reviews.route_job")


def run_status(run: SearchRun) -> dict[str, int]:
    """Where the run's pairs stand: unjudged, in review, gold by provenance."""
    pairs = Pair.objects.filter(results__run=run).distinct()
    total = pairs.count()
    judged = pairs.filter(judgments__isnull=False).distinct().count()
    in_review = (
        pairs.filter(
            review_tasks__status__in=[ReviewTask.Status.OPEN, ReviewTask.Status.CLAIMED], gold_value__isnull=True
        )
        .distinct()
        .count()
    )
    gold = Counter(pairs.exclude(gold_value__isnull=True).values_list("gold_provenance", flat=True))
    return {
        "total": total,
        "judged": judged,
        "unjudged": total - judged,
        "in_review": in_review,
        **{f"gold_{k}": v for k, v in gold.items()},
    }


# --- the queue ----------------------------------------------------------------------


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
    *, project: Project, user, reason: str | None = None, kind: str = ReviewTask.Kind.LABEL
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


def task_submit(*, task: ReviewTask, user, value: int, time_spent_ms: int | None = None) -> Label:
    """Record the user's label. Conditional on still holding the task's lease: a stale
    or second submit raises ReviewError (409), never a double label.

    This is the reviewer's hot path (one call per card), so it keeps to few round trips:
    the scale check and the guideline version are one read, the task is not re-read."""
    valid, guideline_version = _submit_facts(task, value)
    if not valid:
        raise ReviewError(f"{value} is not a label of this project's scale", status=400)
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
            _gold_set(task.pair_id, value, GoldProvenance.ADJUDICATED, task.policy_version)
        else:
            gold_resolve(pair_id=task.pair_id)
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
            status=ReviewTask.Status.FLAGGED, flag_comment=comment.strip()[:2000], completed_at=timezone.now()
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
    fine after all, or its data was fixed); `drop` retires it (the pair cannot be
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


# --- gold ---------------------------------------------------------------------------


def _gold_set(pair_id: int, value: int, provenance: str, policy_version: int | None) -> None:
    Pair.objects.filter(id=pair_id).update(
        gold_value=value, gold_provenance=provenance, gold_policy_version=policy_version, gold_updated_at=timezone.now()
    )


def gold_resolve(*, pair_id: int) -> None:
    """After a human label: gold when every slot is done and the humans agree (and, if the
    policy says so, agree with a confident LLM); otherwise an adjudication task."""
    # The pair's row lock serialises the slots of one pair submitting at the same time.
    pair = Pair.objects.select_for_update().order_by().values("project_id", "gold_provenance").get(id=pair_id)
    if pair["gold_provenance"] == GoldProvenance.ADJUDICATED:
        return
    # Each slot with its label's value, in one read.
    tasks = list(
        ReviewTask.objects.filter(pair_id=pair_id, kind=ReviewTask.Kind.LABEL)
        .exclude(status=ReviewTask.Status.CANCELLED)
        .order_by()
        .values_list("status", "label__value", "policy_version", "priority")
    )
    if any(status in (ReviewTask.Status.OPEN, ReviewTask.Status.CLAIMED) for status, *_ in tasks):
        return  # other humans still to label
    done = [
        (value, version, priority)
        for status, value, version, priority in tasks
        if status == ReviewTask.Status.DONE and value is not None
    ]
    if not done:
        return
    values = [value for value, _, _ in done]
    policy_version = max(version for _, version, _ in done)
    policy = policy_version_of(pair["project_id"], policy_version)
    counts = Counter(values)
    top_value, _ = counts.most_common(1)[0]
    reasons = []
    if len(counts) > 1:
        reasons.append(Reason.HUMAN_DISAGREEMENT)
    elif policy is not None and policy.adjudicate_human_vs_llm:
        judgment = latest_judgments([pair_id]).get(pair_id)
        if (
            judgment is not None
            and judgment.status == Judgment.Status.OK
            and judgment.value != top_value
            and (judgment.confidence or 0) >= policy.min_confidence
        ):
            reasons.append(Reason.HUMAN_VS_LLM)
    if reasons:
        ReviewTask.objects.bulk_create(
            [
                ReviewTask(
                    project_id=pair["project_id"],
                    pair_id=pair_id,
                    kind=ReviewTask.Kind.ADJUDICATION,
                    reasons=reasons,
                    reason=reasons[0],
                    priority=max(priority for _, _, priority in done),
                    policy_version=policy_version,
                )
            ],
            ignore_conflicts=True,
        )
        return
    _gold_set(pair_id, top_value, GoldProvenance.HUMAN, policy_version)


# --- re-routing after a policy change ---------------------------------------------------


@dataclass
class ReroutePreview:
    to_humans: int = 0  # auto-accepted pairs the new policy sends to humans
    to_llm: int = 0  # open tasks the new policy would auto-accept
    reasons: Counter = field(default_factory=Counter)


def _llm_decided_pairs(project: Project):
    return Pair.objects.filter(project=project, gold_provenance=GoldProvenance.LLM_AUTO)


def _open_label_tasks(project: Project):
    # Audit tasks stay: they were drawn at random to measure agreement, not for a reason
    # a new threshold could remove.
    return ReviewTask.objects.filter(
        project=project, kind=ReviewTask.Kind.LABEL, status=ReviewTask.Status.OPEN, slot=1
    ).exclude(reason=Reason.AUDIT)


def _without_audit(policy: PolicyView) -> PolicyView:
    # The audit sample is drawn per policy version: re-drawing it for every new version
    # would send about audit_rate of all auto-accepted pairs to humans on any change,
    # even an unchanged one. Rerouting moves pairs for the other reasons only; pairs
    # routed from now on are sampled under the new version.
    return replace(policy, audit_rate=0.0)


def _touched(pair_ids) -> set[int]:
    """Pairs someone works on or worked on (a slot claimed, done or flagged): they stay
    with humans. Tasks cancelled by an earlier reroute do not count."""
    return set(
        ReviewTask.objects.filter(pair_id__in=pair_ids)
        .exclude(status__in=[ReviewTask.Status.OPEN, ReviewTask.Status.CANCELLED])
        .values_list("pair_id", flat=True)
    )


def reroute_preview(*, project: Project, policy: PolicyView) -> ReroutePreview:
    policy = _without_audit(policy)
    preview = ReroutePreview()
    auto = list(_llm_decided_pairs(project).select_related("query"))
    signals = signals_for(auto, latest_judgments([p.id for p in auto]))
    for s in signals.values():
        decision = decide(s, policy)
        if decision.to_humans:
            preview.to_humans += 1
            preview.reasons.update(decision.reasons)
    open_pairs = [t.pair for t in _open_label_tasks(project).select_related("pair__query")]
    signals = signals_for(open_pairs, latest_judgments([p.id for p in open_pairs]))
    touched = _touched(list(signals))
    for pair_id, s in signals.items():
        if pair_id not in touched and not decide(s, policy).to_humans and not s.invalid:
            preview.to_llm += 1
    return preview


@transaction.atomic
def reroute_apply(*, project: Project, user, policy: RoutingPolicy) -> ReroutePreview:
    """Move pairs to/from humans under `policy`. Pairs a human has labelled are never
    downgraded: only auto-accepted gold and untouched open tasks move."""
    require_lead(user, project)
    view = _without_audit(PolicyView.of(policy))
    result = ReroutePreview()
    auto = list(_llm_decided_pairs(project).select_related("query"))
    signals = signals_for(auto, latest_judgments([p.id for p in auto]))
    to_humans = [pid for pid, s in signals.items() if decide(s, view).to_humans]
    if to_humans:
        Pair.objects.filter(id__in=to_humans, gold_provenance=GoldProvenance.LLM_AUTO).update(
            gold_value=None, gold_provenance="", gold_policy_version=None, gold_updated_at=None
        )
        summary = route_pairs(project=project, pair_ids=to_humans, policy=policy)
        result.to_humans = summary.to_humans
        result.reasons = summary.reasons
    open_tasks = list(_open_label_tasks(project).select_related("pair__query"))
    signals = signals_for([t.pair for t in open_tasks], latest_judgments([t.pair_id for t in open_tasks]))
    back = [pid for pid, s in signals.items() if not s.invalid and not decide(s, view).to_humans]
    if back:
        touched = _touched(back)
        back = [pid for pid in back if pid not in touched]
        ReviewTask.objects.filter(pair_id__in=back, status=ReviewTask.Status.OPEN).update(
            status=ReviewTask.Status.CANCELLED
        )
        # The same audit-free decision as above and in the preview: a pair given back is
        # auto-accepted, not drawn for an audit under the new version.
        result.to_llm = route_pairs(project=project, pair_ids=back, policy=policy, view=view).auto_accepted
    return result
