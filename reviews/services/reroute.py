"""Re-routing after a policy change: what a draft policy would move (preview), moving
it (apply), and `policy_change`, the one call that saves a new version and reroutes.

Only LLM-decided pairs move: auto-accepted gold may go to humans, untouched open tasks
may go back to the LLM; whatever a person labelled or is labelling stays with people."""

from collections import Counter
from dataclasses import dataclass, field, replace

from django.db import transaction

from annotation.access import require_lead
from annotation.models import GoldProvenance, Pair, Project

from ..dashboard.snapshot import dashboard_touch
from ..models import Reason, ReviewTask, RoutingPolicy
from ..routing import PolicyView, decide
from .policies import policy_update
from .route import latest_judgments, route_pairs, signals_for


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


@dataclass
class PolicyChange:
    policy: RoutingPolicy  # the new version
    moves: ReroutePreview  # what rerouting under it moved


@transaction.atomic
def policy_change(*, project: Project, user, note: str = "", **changes) -> PolicyChange:
    """Save `changes` as a new policy version and reroute under it, in one transaction:
    a version is never saved without its rerouting."""
    policy = policy_update(project=project, user=user, note=note, **changes)
    moves = reroute_apply(project=project, user=user, policy=policy)
    # Rerouting moves gold and tasks, which the figures count (segments by reason, by
    # label): mark them stale once this is committed, not before.
    transaction.on_commit(lambda: dashboard_touch(project=project))
    return PolicyChange(policy=policy, moves=moves)
