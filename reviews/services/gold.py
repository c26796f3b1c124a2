"""Gold from people: set by a lead's adjudication, or resolved from a pair's human labels
once every slot is done; humans who disagree (with each other, or with a confident LLM
where the policy asks) get an adjudication task instead."""

from collections import Counter

from django.utils import timezone

from annotation.models import GoldProvenance, Pair
from judging.models import Judgment

from ..models import Reason, ReviewTask
from .policies import policy_version_of
from .route import latest_judgments


def gold_set(*, pair_id: int, value: int, provenance: str, policy_version: int | None) -> None:
    """The pair's gold, unconditionally: callers have decided it may be replaced."""
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
    gold_set(pair_id=pair_id, value=top_value, provenance=GoldProvenance.HUMAN, policy_version=policy_version)
