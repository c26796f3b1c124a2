"""Re-routing after a policy change: what a draft policy would move (preview), moving it
(a job of batches), and `policy_change`, the one call that saves a new version and
reroutes.

Only LLM-decided pairs move: auto-accepted gold may go to humans, untouched open tasks
may go back to the LLM; whatever a person labelled or is labelling stays with people.
On PostgreSQL both the preview and each batch decide and write in SQL (reroute_sql.py,
over routing_sql.py, the twin of routing.decide), so neither loops in Python over a
million auto-accepted pairs. The embedded SQLite decides per pair in Python (decide and
route_pairs), as before.

Applying is a RerouteJob over pair-id ranges: a batch's moves and its step of the job's
cursor commit together, under a lock of the job row, so a crashed or re-delivered task
resumes where the last batch committed and no pair is routed twice. A small project
reroutes in the request; a large one in a Celery worker, with progress on the policy
page."""

from collections import Counter
from dataclasses import dataclass, field, replace

from django.db import connection, transaction
from django.db.models import Max, Min
from django.utils import timezone

from annotation.access import require_lead
from annotation.models import GoldProvenance, Pair, Project

from ..dashboard.snapshot import dashboard_touch
from ..models import Reason, RerouteJob, ReviewTask, RoutingPolicy
from ..routing import Decision, PolicyView, Signals, decide
from . import reroute_sql
from .errors import ReviewError
from .policies import POLICY_FIELDS, policy_current, policy_update
from .route import latest_judgments, route_pairs, signals_for

# Pair ids per batch: a batch is one transaction, and one step of the progress bar. 100k
# was no faster at 1M pairs on the bench (docs/benchmarks.md): the time is in the writes.
BATCH_PAIRS = 25_000
# A project whose pair ids span no more than this is rerouted in the request.
INLINE_PAIRS = 25_000


@dataclass
class ReroutePreview:
    to_humans: int = 0  # auto-accepted pairs the new policy sends to humans
    to_llm: int = 0  # open tasks the new policy would auto-accept
    reasons: Counter = field(default_factory=Counter)


def _without_audit(policy: PolicyView) -> PolicyView:
    # The audit sample is drawn per policy version: re-drawing it for every new version
    # would send about audit_rate of all auto-accepted pairs to humans on any change,
    # even an unchanged one. Rerouting moves pairs for the other reasons only; pairs
    # routed from now on are sampled under the new version.
    return replace(policy, audit_rate=0.0)


def reroute_preview(*, project: Project, policy: PolicyView) -> ReroutePreview:
    """What applying `policy` would move: two SQL queries on PostgreSQL."""
    view = _without_audit(policy)
    if connection.vendor != "postgresql":
        return _preview_python(project, view)
    to_humans, to_llm, reasons = reroute_sql.preview_counts(project, view)
    return ReroutePreview(to_humans=to_humans, to_llm=to_llm, reasons=reasons)


def _reroute_range(project: Project, policy: RoutingPolicy, lo: int, hi: int) -> ReroutePreview:
    """Move the pairs with ids in [lo, hi) under `policy`. Pairs a human has labelled are
    never downgraded: only auto-accepted gold and untouched open tasks move."""
    view = _without_audit(PolicyView.of(policy))
    if connection.vendor == "postgresql":
        sent, given_back, reasons = reroute_sql.move_range(project, policy, view, lo, hi)
        return ReroutePreview(to_humans=sent, to_llm=given_back, reasons=reasons)
    to_humans, back = _moving_python(project, view, lo, hi)
    result = ReroutePreview()
    if to_humans:
        Pair.objects.filter(id__in=to_humans, gold_provenance=GoldProvenance.LLM_AUTO).update(
            gold_value=None, gold_provenance="", gold_policy_version=None, gold_updated_at=None
        )
        summary = route_pairs(project=project, pair_ids=to_humans, policy=policy)
        result.to_humans = summary.to_humans
        result.reasons = summary.reasons
    if back:
        ReviewTask.objects.filter(pair_id__in=back, status=ReviewTask.Status.OPEN).update(
            status=ReviewTask.Status.CANCELLED
        )
        # The same audit-free decision as above and in the preview: a pair given back is
        # auto-accepted, not drawn for an audit under the new version.
        result.to_llm = route_pairs(project=project, pair_ids=back, policy=policy, view=view).auto_accepted
    return result


# --- without PostgreSQL (the embedded SQLite): routing.decide per pair in Python --------


def _touched(pair_ids) -> set[int]:
    return set(
        ReviewTask.objects.filter(pair_id__in=pair_ids)
        .exclude(status__in=[ReviewTask.Status.OPEN, ReviewTask.Status.CANCELLED])
        .values_list("pair_id", flat=True)
    )


def _auto_pairs(project: Project, lo: int | None = None, hi: int | None = None) -> list[Pair]:
    pairs = Pair.objects.filter(project=project, gold_provenance=GoldProvenance.LLM_AUTO)
    if lo is not None:
        pairs = pairs.filter(id__gte=lo, id__lt=hi)
    return list(pairs.select_related("query"))


def _open_pairs(project: Project, lo: int | None = None, hi: int | None = None) -> list[Pair]:
    tasks = ReviewTask.objects.filter(
        project=project, kind=ReviewTask.Kind.LABEL, status=ReviewTask.Status.OPEN, slot=1
    ).exclude(reason=Reason.AUDIT)
    if lo is not None:
        tasks = tasks.filter(pair_id__gte=lo, pair_id__lt=hi)
    return [t.pair for t in tasks.select_related("pair__query")]


def _decided(pairs: list[Pair], view: PolicyView) -> list[tuple[Signals, Decision]]:
    signals = signals_for(pairs, latest_judgments([p.id for p in pairs]))
    return [(s, decide(s, view)) for s in signals.values()]


def _preview_python(project: Project, view: PolicyView) -> ReroutePreview:
    preview = ReroutePreview()
    for _, decision in _decided(_auto_pairs(project), view):
        if decision.to_humans:
            preview.to_humans += 1
            preview.reasons.update(decision.reasons)
    back = [s.pair_id for s, d in _decided(_open_pairs(project), view) if not d.to_humans and not s.invalid]
    preview.to_llm = len(set(back) - _touched(back))
    return preview


def _moving_python(project: Project, view: PolicyView, lo: int, hi: int) -> tuple[list[int], list[int]]:
    to_humans = [s.pair_id for s, d in _decided(_auto_pairs(project, lo, hi), view) if d.to_humans]
    back = [s.pair_id for s, d in _decided(_open_pairs(project, lo, hi), view) if not d.to_humans and not s.invalid]
    touched = _touched(back)
    return to_humans, [pid for pid in back if pid not in touched]


# --- the job ------------------------------------------------------------------------------


def reroute_job_start(*, project: Project, user, policy: RoutingPolicy) -> RerouteJob:
    """A job over the project's pairs as they are now; a running job of an older version
    stops (its moves stay: the new job decides every pair again)."""
    span = Pair.objects.filter(project=project).aggregate(lo=Min("id"), hi=Max("id"))
    first = span["lo"] or 0
    last = span["hi"] if span["hi"] is not None else first - 1
    RerouteJob.objects.filter(project=project, status=RerouteJob.Status.RUNNING).update(
        status=RerouteJob.Status.SUPERSEDED, finished_at=timezone.now()
    )
    return RerouteJob.objects.create(
        project=project,
        policy=policy,
        created_by=user if getattr(user, "is_authenticated", False) else None,
        first_pair_id=first,
        last_pair_id=last,
        cursor=first,
        batch_size=BATCH_PAIRS,
    )


def reroute_step(job_id: int) -> RerouteJob:
    """One batch of the job, in its own transaction with the job row locked: two workers
    given the same job take turns, and each range is done once."""
    with transaction.atomic():
        job = RerouteJob.objects.select_for_update().select_related("project", "policy").get(id=job_id)
        if job.status != RerouteJob.Status.RUNNING:
            return job
        if job.cursor <= job.last_pair_id:
            hi = min(job.cursor + job.batch_size, job.last_pair_id + 1)
            moves = _reroute_range(job.project, job.policy, job.cursor, hi)
            job.cursor = hi
            job.batches_done += 1
            job.to_humans += moves.to_humans
            job.to_llm += moves.to_llm
            job.reasons = dict(Counter(job.reasons) + Counter({str(r): n for r, n in moves.reasons.items()}))
        if job.cursor > job.last_pair_id:
            job.status = RerouteJob.Status.DONE
            job.finished_at = timezone.now()
            project = job.project
            # Rerouting moved gold and tasks, which the figures count: stale once committed.
            transaction.on_commit(lambda: dashboard_touch(project=project))
        job.save()
    return job


def reroute_run(job_id: int, *, max_batches: int | None = None) -> RerouteJob:
    """Run the job's batches until it is done (or stopped, or `max_batches` ran)."""
    job = RerouteJob.objects.get(id=job_id)
    ran = 0
    while job.status == RerouteJob.Status.RUNNING and (max_batches is None or ran < max_batches):
        job = reroute_step(job_id)
        ran += 1
    return job


def reroute_enqueue(job: RerouteJob) -> None:
    """Hand the job to a worker once the transaction that made it commits (in the embedded
    mode's eager Celery, it runs then, in-process)."""
    from ..tasks import reroute_job_task  # tasks import the services: import here, not at the top

    transaction.on_commit(lambda: reroute_job_task.delay(job.id))


def job_moves(job: RerouteJob) -> ReroutePreview:
    return ReroutePreview(
        to_humans=job.to_humans, to_llm=job.to_llm, reasons=Counter({Reason(r): n for r, n in job.reasons.items()})
    )


@transaction.atomic
def reroute_apply(*, project: Project, user, policy: RoutingPolicy) -> ReroutePreview:
    """Move pairs to/from humans under `policy`, every batch now, in this transaction."""
    require_lead(user, project)
    job = reroute_job_start(project=project, user=user, policy=policy)
    return job_moves(reroute_run(job.id))


@dataclass
class PolicyChange:
    policy: RoutingPolicy  # the new version
    moves: ReroutePreview  # what rerouting under it moved (so far, when it runs in a worker)
    job: RerouteJob | None = None


@transaction.atomic
def policy_change(*, project: Project, user, note: str = "", **changes) -> PolicyChange:
    """Save `changes` as a new policy version and reroute under it: in this transaction
    for a small project (a version is never saved without its rerouting), else by a job
    recorded in this transaction and run by a worker after it commits."""
    policy = policy_update(project=project, user=user, note=note, **changes)
    job = reroute_job_start(project=project, user=user, policy=policy)
    if job.last_pair_id - job.first_pair_id < INLINE_PAIRS:
        job = reroute_run(job.id)
    else:
        reroute_enqueue(job)
    return PolicyChange(policy=policy, moves=job_moves(job), job=job)


def reroute_latest(project: Project) -> RerouteJob | None:
    return RerouteJob.objects.filter(project=project).select_related("policy").order_by("-created_at", "-id").first()


def policy_revert(*, project: Project, user, version: int) -> PolicyChange | None:
    """Save version `version`'s thresholds as a new version and reroute under it (None
    when they are the current ones already). Versions are immutable: a revert is a new
    version whose note says where it came from."""
    require_lead(user, project)
    with transaction.atomic():
        current = policy_current(project)
        old = RoutingPolicy.objects.filter(project=project, version=version).first()
        if old is None:
            raise ReviewError(f"version {version} does not exist", status=404)
        changes = {name: getattr(old, name) for name in POLICY_FIELDS if getattr(old, name) != getattr(current, name)}
        if not changes:
            return None
        return policy_change(project=project, user=user, note=f"revert to version {version}", **changes)
