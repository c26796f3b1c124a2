"""Routing judged pairs under a policy: each pair's signals from its latest judgment,
then gold from the LLM label (llm-auto) or review task(s), as `routing.decide` says."""

from collections import Counter
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from annotation.models import GoldProvenance, Pair, Project
from judging.models import JudgeJob, Judgment

from ..models import ReviewTask, RoutingPolicy
from ..routing import Decision, PolicyView, Signals, decide
from .policies import policy_current

# Gold set by people (or loaded from a file) is never replaced by routing.
SETTLED = (GoldProvenance.HUMAN, GoldProvenance.ADJUDICATED, GoldProvenance.IMPORTED)


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
            value = judgments[pair.id].value
            assert value is not None  # a valid judgment has one (constraint judgment_ok_has_value)
            summary.auto_accepted += 1
            accept.setdefault(value, []).append(pair.id)
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
