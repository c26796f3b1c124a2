"""From agreement to policy: a recommendation per segment against the lead's target,
accepting them as a new policy version, and the what-if figures of a draft policy
(human hours and cost, LLM cost, expected gold accuracy)."""

from dataclasses import dataclass, replace
from decimal import Decimal

from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Q, Sum

from annotation.access import require_lead
from annotation.models import GoldProvenance, Pair, Project
from judging.models import Judgment

from ..models import Reason, RerouteJob, ReviewTask, RoutingPolicy
from ..routing import SEGMENT_DIMENSIONS, PolicyView, decide, segment_set
from ..services.policies import policy_current
from ..services.reroute import ReroutePreview, policy_change
from ..services.route import SETTLED, latest_judgments, signals_for

LLM_ALONE = "llm"
TO_HUMANS = "humans"
NOT_ENOUGH = "not-enough-data"
RECOMMENDATION_NAMES = {LLM_ALONE: "LLM alone + audit", TO_HUMANS: "Route to humans", NOT_ENOUGH: "Not enough data"}
# Until reviews record times, an hour of review is estimated at this pace (stated as an assumption on the page).
ASSUMED_SECONDS_PER_LABEL = 30.0
# How long the policy-independent what-if figures are kept (any write they count changes the key anyway).
BASIS_SECONDS = 600


def recommend(figure: dict, *, target: float, min_n: int) -> str:
    """The recommendation for a segment from its measured α (LLM vs human gold): the LLM
    alone (with random audits) at or above target, humans below it, nothing below min_n
    compared pairs or when α is undefined."""
    if figure.get("value") is None or figure.get("n", 0) < min_n:
        return NOT_ENOUGH
    return LLM_ALONE if figure["value"] >= target else TO_HUMANS


def segment_recommendations(
    rows: list[dict], *, by: str, policy: RoutingPolicy, target: float, min_n: int
) -> list[dict]:
    """The dashboard's segment table: each row of agreement_by_segment with its measured
    α, the recommendation, and whether the current policy routes it already."""
    routed = segment_set(policy.route_segments)
    out = []
    for row in rows:
        figure = row["llm_vs_gold"]["alpha"]
        verdict = recommend(figure, target=target, min_n=min_n)
        out.append(
            {
                "segment": row["segment"],
                "key": row["key"],
                "alpha": figure,
                "accuracy": row["llm_vs_gold"]["accuracy"],
                "kappa": row["llm_vs_human"]["kappa"],
                "n_pairs": row["n_pairs"],
                "recommendation": verdict,
                "recommendation_name": RECOMMENDATION_NAMES[verdict],
                "routed": (by, row["key"]) in routed,
            }
        )
    return out


def rules_after_accepting(current_rules, *, by: str, recommendations: list[dict]) -> list[dict]:
    """The policy's segment rules once the recommendations for dimension `by` are
    accepted: segments recommended for humans are routed, those recommended to the LLM
    are no longer routed; segments without enough data keep what the policy says."""
    if by not in SEGMENT_DIMENSIONS:
        raise ValueError(f"segments of {by!r} cannot be routed; one of {', '.join(SEGMENT_DIMENSIONS)}")
    rules = set(segment_set(current_rules))
    for row in recommendations:
        if row["recommendation"] == TO_HUMANS:
            rules.add((by, row["key"]))
        elif row["recommendation"] == LLM_ALONE:
            rules.discard((by, row["key"]))
    return [{"by": b, "key": k} for b, k in sorted(rules)]


@dataclass
class Accepted:
    policy: RoutingPolicy
    created: bool
    moves: ReroutePreview | None = None
    in_background: bool = False  # a large project's rerouting runs in a worker: moves come later


def policy_accept_recommendations(
    *, project: Project, user, by: str, recommendations: list[dict], target: float, min_n: int
) -> Accepted:
    """Save the accepted recommendations (and the target they were measured against) as
    a new policy version and reroute under it (reroute.policy_change), in one transaction
    with the read of the current version they change."""
    require_lead(user, project)
    with transaction.atomic():
        current = policy_current(project)
        rules = rules_after_accepting(current.route_segments, by=by, recommendations=recommendations)
        changes: dict[str, object] = {}
        if segment_set(rules) != segment_set(current.route_segments):
            changes["route_segments"] = rules
        if target != current.target_alpha:
            changes["target_alpha"] = target
        if min_n != current.min_segment_n:
            changes["min_segment_n"] = min_n
        if not changes:
            return Accepted(policy=current, created=False)
        routed = sum(1 for row in recommendations if row["recommendation"] == TO_HUMANS)
        note = f"accepted recommendations by {by} (target α {target:g}, min n {min_n}): {routed} segment(s) to humans"
        change = policy_change(project=project, user=user, note=note[:300], **changes)
    running = change.job is not None and change.job.status == RerouteJob.Status.RUNNING
    return Accepted(policy=change.policy, created=True, moves=change.moves, in_background=running)


# --- what-if ------------------------------------------------------------------------------


def seconds_per_label(project: Project) -> tuple[float, int]:
    """The median time reviewers took per label (recorded by the browser) and how many
    labels it rests on; (ASSUMED_SECONDS_PER_LABEL, 0) when none is recorded."""
    # Portable SQL (the embedded SQLite runs this page too): count, then read the one or
    # two middle values in order, as percentile_cont(0.5) interpolates them.
    timed = ReviewTask.objects.filter(
        project=project, kind=ReviewTask.Kind.LABEL, status=ReviewTask.Status.DONE, time_spent_ms__isnull=False
    )
    n = timed.count()
    if not n:
        return ASSUMED_SECONDS_PER_LABEL, 0
    ordered = timed.order_by("time_spent_ms").values_list("time_spent_ms", flat=True)
    middle = [ms for ms in ordered[(n - 1) // 2 : n // 2 + 1] if ms is not None]  # none is: filtered above
    return sum(middle) / len(middle) / 1000, n


def llm_cost(project: Project) -> dict:
    """What the LLM judgments of the project cost so far (recorded per judgment)."""
    totals = Judgment.objects.filter(project=project).aggregate(cost=Sum("cost_eur"), n=Count("id"))
    cost = totals["cost"] or Decimal(0)
    n = totals["n"] or 0
    return {"total": cost, "judgments": n, "per_judgment": (cost / n) if n else None}


def audit_accuracy(project: Project, view: PolicyView) -> dict:
    """Of the audited pairs (blind random sample, a human label each) that `view` would
    leave to the LLM, the share whose LLM label the human confirmed: the accuracy of
    gold the LLM settles alone under `view`."""
    audits: dict[int, int] = {}  # pair → the first slot's human label
    for pair_id, value in (
        ReviewTask.objects.filter(
            project=project,
            kind=ReviewTask.Kind.LABEL,
            reason=Reason.AUDIT,
            status=ReviewTask.Status.DONE,
            label__isnull=False,
        )
        .order_by("pair_id", "slot")
        .values_list("pair_id", "label__value")
    ):
        audits.setdefault(pair_id, value)
    pairs = list(Pair.objects.filter(id__in=list(audits)).select_related("query"))
    judgments = latest_judgments(audits)
    view = replace(view, audit_rate=0.0)  # an audit draw is no reason the LLM would be wrong
    n = matched = 0
    for pair_id, signals in signals_for(pairs, judgments).items():
        if signals.invalid or decide(signals, view).to_humans:
            continue
        n += 1
        matched += judgments[pair_id].value == audits[pair_id]
    return {"n": n, "audits": len(audits), "value": matched / n if n else None}


def _basis_key(project: Project) -> str:
    """A key that changes with every write the policy-independent figures count: label
    writes (LabelWrites, by trigger), a new judgment, a new task, a new policy version
    (its rerouting moves gold and tasks). The project's creation time guards against
    reused ids (a recreated test database)."""
    from ..dashboard.snapshot import label_writes

    newest_judgment = Judgment.objects.filter(project=project).order_by("-id").values_list("id", flat=True).first()
    newest_task = ReviewTask.objects.filter(project=project).order_by("-id").values_list("id", flat=True).first()
    version = (
        RoutingPolicy.objects.filter(project=project).order_by("-version").values_list("version", flat=True).first()
    )
    born = int(project.created_at.timestamp() * 1e6)
    return (
        f"qrelay:whatif:{project.id}:{born}:{label_writes(project)}:{newest_judgment}:{newest_task}:{version}"
        f":{_touched(project)}"
    )


def _touched(project: Project) -> float:
    from ..dashboard.snapshot import _touch_key

    return cache.get(_touch_key(project)) or 0


def whatif_basis(project: Project) -> dict:
    """The what-if figures that no draft policy changes (open pairs, gold by provenance,
    audits, LLM cost, seconds per label): at 1M pairs they cost ~2 s of scans, and the
    page asks for them on every keystroke. Cached under _basis_key, so any write they
    count makes the next keystroke compute them again."""
    key = _basis_key(project)
    basis = cache.get(key)
    if basis is None:
        basis = _compute_basis(project)
        cache.set(key, basis, timeout=BASIS_SECONDS)
    return basis


def _compute_basis(project: Project) -> dict:
    open_pairs = (
        ReviewTask.objects.filter(
            project=project, kind=ReviewTask.Kind.LABEL, status__in=[ReviewTask.Status.OPEN, ReviewTask.Status.CLAIMED]
        )
        .values("pair_id")
        .distinct()
        .count()
    )
    gold = Pair.objects.filter(project=project).aggregate(
        auto=Count("id", filter=_provenance(GoldProvenance.LLM_AUTO)), people=Count("id", filter=_provenance(*SETTLED))
    )
    audited = (
        ReviewTask.objects.filter(project=project, kind=ReviewTask.Kind.LABEL, reason=Reason.AUDIT)
        .exclude(status=ReviewTask.Status.CANCELLED)
        .values("pair_id")
        .distinct()
        .count()
    )
    seconds, seconds_n = seconds_per_label(project)
    return {
        "open_pairs": open_pairs,
        "auto": gold["auto"],
        "people": gold["people"],
        "audited": audited,
        "seconds": seconds,
        "seconds_n": seconds_n,
        "llm_cost": llm_cost(project),
    }


def whatif_figures(*, project: Project, view: PolicyView, moves: ReroutePreview, hourly_rate: Decimal) -> dict:
    """What the draft policy `view` would cost and give, after the moves of its preview."""
    basis = whatif_basis(project)
    open_pairs = basis["open_pairs"]
    pairs_to_humans = max(open_pairs + moves.to_humans - moves.to_llm, 0)
    by_llm = max(basis["auto"] - moves.to_humans + moves.to_llm, 0)
    by_people = basis["people"] + pairs_to_humans
    # The audit rate costs hours too: audits drawn until `audit_rate` of the gold the LLM
    # settles (with the pairs audited already) has been audited.
    audited = basis["audited"]
    audit_pairs = max(round(view.audit_rate * (by_llm + audited)) - audited, 0)
    labels = (pairs_to_humans + audit_pairs) * view.humans_per_pair
    seconds, seconds_n = basis["seconds"], basis["seconds_n"]
    hours = labels * seconds / 3600
    human_cost = Decimal(str(round(hours, 6))) * hourly_rate
    audit = audit_accuracy(project, view)
    expected = None
    if audit["value"] is not None and by_llm + by_people:
        # Gold settled by people counts as right: the estimate is of the LLM's share.
        expected = (by_llm * audit["value"] + by_people) / (by_llm + by_people)
    return {
        "open_pairs": open_pairs,
        "pairs_to_humans": pairs_to_humans,
        "audit_pairs": audit_pairs,
        "audited": audited,
        "audit_rate": view.audit_rate,
        "humans_per_pair": view.humans_per_pair,
        "labels": labels,
        "seconds_per_label": seconds,
        "seconds_basis": seconds_n,
        "hours": hours,
        "hourly_rate": hourly_rate,
        "human_cost": human_cost,
        "llm_cost": basis["llm_cost"],
        "gold_by_llm": by_llm,
        "gold_by_people": by_people,
        "audit_accuracy": audit,
        "expected_gold_accuracy": expected,
    }


def _provenance(*values) -> Q:
    return Q(gold_provenance__in=[str(v) for v in values])
