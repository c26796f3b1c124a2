""" "Repeat": a schedule re-runs a connector for the top-N queries by traffic, judges the
new pairs ("evaluate run R") and records the run's metrics as a MetricSnapshot, flagged
as a regression when nDCG@k fell by more than the schedule's margin and the two snapshots
are comparable (judged coverage@k not lower than the previous one's, less COVERAGE_TOLERANCE).

A cycle is a MetricSnapshot row from its start, so it is never lost, and moves
fetching → judging → done (or failed, with the error) by conditional updates:
- `schedule_start` opens it (a partial unique index allows one unfinished cycle per
  schedule, so two beats, or a beat and "Run now", never start two);
- `repeat_fetch` (a task) fetches the run and moves to judging in the transaction that
  stores the run, then starts `run_evaluate` and records its judge job (outside any
  lock or transaction, kept to one job by a committed claim: `_evaluate`); the fetch has
  a deadline well under the task time limit, so a schedule too big for one task fails
  its cycle with a clear error instead of being killed (and re-sent, and killed, for a day);
- `snapshot_finalize` closes it once the job has ended: it is tried right away (the
  embedded mode has judged everything by then) and on every beat (`repeat_due`), which
  also starts the due schedules and re-sends cycles whose task was lost.
"""

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from annotation.access import require_lead
from annotation.connectors import ConnectorError, FetchReport, connector_fetch_run
from annotation.metrics import run_metrics
from annotation.models import MetricSnapshot, Query, RepeatSchedule
from judging.jobs import JobError, judge_job_cancel
from judging.models import JudgeJob

from ..services.errors import ReviewError
from ..services.evaluate import run_evaluate, unrouted_pair_ids
from ..services.route import route_pairs

logger = logging.getLogger(__name__)
DUE_BATCH = 100
# Coverage@k a snapshot may lose against the previous one and still be compared: with
# gold labels, new pairs waiting for humans count as irrelevant, so nDCG "falls" when
# only the coverage did.
COVERAGE_TOLERANCE = 0.02


class _AlreadyFetched(Exception):
    """Another delivery of the same cycle stored its run first: roll this one back."""


class _OutOfTime(Exception):
    """The fetch used up its budget with queries left."""


def fetch_budget(timeout_seconds: float) -> float:
    """Seconds a cycle's fetch may go on: the task time limit less room for the request
    in flight (up to the connector's timeout) and for storing the run, and never less
    than a quarter of the limit."""
    limit = settings.CELERY_TASK_TIME_LIMIT
    return max(0.25 * limit, 0.75 * limit - timeout_seconds)


def top_queries(project, n: int) -> list[Query]:
    return list(Query.objects.filter(project=project).order_by("-traffic", "external_id")[:n])


def _enqueue_fetch(snapshot_id: int) -> None:
    from ..tasks import repeat_fetch_task  # tasks import this module

    repeat_fetch_task.delay(snapshot_id)


def schedule_start(*, schedule: RepeatSchedule, now=None) -> MetricSnapshot | None:
    """Open a cycle of the schedule and enqueue its fetch; None if one is unfinished."""
    now = now or timezone.now()
    try:
        with transaction.atomic():
            snapshot = MetricSnapshot.objects.create(
                schedule=schedule, k=schedule.k, label_source=schedule.label_source, sent_at=now
            )
            RepeatSchedule.objects.filter(id=schedule.id).update(
                last_run_at=now, next_run_at=now + timedelta(minutes=schedule.interval_minutes)
            )
    except IntegrityError:
        return None
    transaction.on_commit(lambda: _enqueue_fetch(snapshot.id))
    return snapshot


def repeat_now(*, schedule: RepeatSchedule, user) -> MetricSnapshot:
    require_lead(user, schedule.connector.project)
    snapshot = schedule_start(schedule=schedule)
    if snapshot is None:
        raise ReviewError("a cycle of this schedule is still running; wait for it to finish")
    return snapshot


def _fail(snapshot_id: int, error: str) -> None:
    MetricSnapshot.objects.filter(id=snapshot_id, status__in=MetricSnapshot.UNFINISHED).update(
        status=MetricSnapshot.Status.FAILED, error=error[:2000], finished_at=timezone.now()
    )


def repeat_fetch(*, snapshot_id: int) -> MetricSnapshot:
    """Fetch the cycle's run, start judging it, and close the cycle if judging is done.
    Safe to deliver twice: each step is conditional on the step before."""
    snapshot = MetricSnapshot.objects.select_related("schedule__connector__project").get(id=snapshot_id)
    schedule, connector = snapshot.schedule, snapshot.schedule.connector
    if snapshot.status == MetricSnapshot.Status.FETCHING:

        def written(report: FetchReport) -> None:
            assert report.run is not None  # on_written runs once the run is stored
            moved = MetricSnapshot.objects.filter(id=snapshot.id, status=MetricSnapshot.Status.FETCHING).update(
                run=report.run,
                run_name=report.run.name,
                status=MetricSnapshot.Status.JUDGING,
                fetch_report=report.to_dict(),
            )
            if moved != 1:
                raise _AlreadyFetched

        budget = fetch_budget(connector.timeout_seconds)
        deadline = time.monotonic() + budget

        def in_time(done: int, total: int, query, error: str) -> None:
            # Queries are fetched one after another: stopping here, between two, keeps
            # the task under its time limit, where the worker would kill it mid-way.
            if done < total and time.monotonic() > deadline:
                raise _OutOfTime(
                    f"fetching {total} queries took longer than {budget:.0f} s ({done} fetched); "
                    f"lower top_n or the connector's timeout ({connector.timeout_seconds} s)"
                )

        name = f"{connector.name} {timezone.localtime(snapshot.created_at):%Y-%m-%d %H:%M} #{snapshot.id}"
        try:
            connector_fetch_run(
                connector=connector,
                queries=top_queries(connector.project, schedule.top_n),
                name=name,
                k=snapshot.k,
                description=f"fetched by the repeat schedule {schedule.id} (top {schedule.top_n} queries by traffic)",
                progress=in_time,
                on_written=written,
            )
        except _AlreadyFetched:
            pass
        except (ConnectorError, _OutOfTime) as exc:
            _fail(snapshot.id, f"fetch: {exc}")
            return MetricSnapshot.objects.get(id=snapshot.id)
        except Exception as exc:
            # Anything else (a bug, malformed data the checks missed, the database
            # refusing a value) must not leave the cycle "fetching" until it goes stale:
            # it fails now, with the reason. Nothing of the run was stored (one transaction).
            logger.exception("repeat cycle %s: the fetch failed", snapshot.id)
            _fail(snapshot.id, f"fetch: unexpected error ({exc.__class__.__name__}); see the worker's log")
            return MetricSnapshot.objects.get(id=snapshot.id)
    _evaluate(snapshot.id)
    snapshot_finalize(snapshot_id=snapshot.id)
    return MetricSnapshot.objects.get(id=snapshot.id)


def _evaluate(snapshot_id: int) -> None:
    """Start judging the cycle's run and record the job on the cycle.

    The job is created outside any transaction and lock: creating it asks the endpoint
    over HTTP (/v1/models, up to its timeout) and enqueues the job's launch, and neither
    belongs under a row lock (held for a network round trip) or in a transaction that
    may still roll back (work enqueued for a job that does not exist). A claim keeps the
    cycle to one job instead: a conditional update, committed before the job is made,
    that one delivery of the task wins; the others (a re-delivery, a re-send) pass."""
    now = timezone.now()
    # A claim older than the task time limit is a dead delivery's: the worker kills a
    # task by then. Its cycle is re-sent by the beat (repeat_due) and taken over.
    claimable = Q(judging_claimed_at__isnull=True) | Q(
        judging_claimed_at__lt=now - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    )
    open_cycle = Q(id=snapshot_id, status=MetricSnapshot.Status.JUDGING, judge_job_id__isnull=True)
    if not MetricSnapshot.objects.filter(open_cycle, claimable).update(judging_claimed_at=now):
        return
    snapshot = MetricSnapshot.objects.select_related("run").get(id=snapshot_id)
    if snapshot.run is None:
        _fail(snapshot.id, "the run was deleted before it was judged")
        return
    try:
        job = run_evaluate(run=snapshot.run)
    except JobError as exc:
        # E.g. a lead started judging the new run first, or the endpoint is unreachable.
        # Left in judging without a job, the cycle would be re-sent (and refused) until
        # it went stale.
        _fail(snapshot.id, f"judging: {exc}")
        return
    except BaseException:
        # No job was made: give the claim back, so that the next delivery tries again
        # instead of waiting for the claim to age.
        MetricSnapshot.objects.filter(id=snapshot.id, judging_claimed_at=now).update(judging_claimed_at=None)
        raise
    if not MetricSnapshot.objects.filter(open_cycle).update(judge_job_id=job.id):
        # The cycle was closed meanwhile (failed as stale): nobody would read this job.
        logger.warning("repeat cycle %s closed while its judge job %s was made: job cancelled", snapshot.id, job.id)
        judge_job_cancel(job=job)


def snapshot_finalize(*, snapshot_id: int, now=None) -> bool:
    """Record the metrics of a cycle whose judging has ended. True when it closed now."""
    now = now or timezone.now()
    with transaction.atomic():
        snapshot = (
            MetricSnapshot.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("schedule", "run")
            .filter(id=snapshot_id, status=MetricSnapshot.Status.JUDGING)
            .first()
        )
        if snapshot is None or snapshot.judge_job_id is None:
            return False
        job = JudgeJob.objects.filter(id=snapshot.judge_job_id).first()
        if job is not None and job.status in JudgeJob.ACTIVE:
            if snapshot.created_at < now - timedelta(hours=settings.QRELAY_REPEAT_STALE_HOURS):
                _fail(snapshot.id, f"judging job {job.id} did not finish within {settings.QRELAY_REPEAT_STALE_HOURS} h")
                return True
            return False
        run = snapshot.run
        if run is None:
            _fail(snapshot.id, "the run was deleted before its metrics were recorded")
            return True
        # Routing normally follows the job (reviews.route_job); repeated here, idempotent,
        # in case that task was lost.
        route_pairs(project=run.project, pair_ids=unrouted_pair_ids(run))
        metrics = run_metrics(run, k=snapshot.k, label_source=snapshot.label_source)
        ndcg = metrics.means["ndcg"].value
        previous = (
            MetricSnapshot.objects.filter(
                schedule=snapshot.schedule, status=MetricSnapshot.Status.DONE, ndcg__isnull=False
            )
            .exclude(id=snapshot.id)
            .order_by("-created_at", "-id")
            .first()
        )
        previous_ndcg = previous.ndcg if previous else None
        fell = previous_ndcg is not None and ndcg is not None and previous_ndcg - ndcg > snapshot.schedule.margin
        lower_coverage = (
            previous is not None
            and previous.coverage is not None
            and (metrics.coverage or 0.0) < previous.coverage - COVERAGE_TOLERANCE
        )
        regression = fell and not lower_coverage
        notes = (
            []
            if job is None or job.status == JudgeJob.Status.DONE
            else [f"judging ended {job.status}: {job.error}".strip()]
        )
        if fell and lower_coverage:
            assert previous is not None  # lower_coverage compared with it
            notes.append(
                f"not comparable (lower coverage): nDCG@{snapshot.k} fell from {previous_ndcg:.4f} to {ndcg:.4f} "
                f"with coverage@{snapshot.k} {metrics.coverage or 0.0:.2f} against {previous.coverage:.2f}; "
                "label the pairs in review, then compare"
            )
        note = "; ".join(notes)
        MetricSnapshot.objects.filter(id=snapshot.id, status=MetricSnapshot.Status.JUDGING).update(
            status=MetricSnapshot.Status.DONE,
            ndcg=ndcg,
            previous_ndcg=previous_ndcg,
            regression=regression,
            means={name: {"value": mean.value, "queries": mean.queries} for name, mean in metrics.means.items()},
            coverage=metrics.coverage,
            queries=len(metrics.queries),
            error=note[:2000],
            finished_at=now,
        )
    if regression:
        logger.warning(
            "repeat schedule %s: nDCG@%s fell from %.4f to %.4f (run %s)",
            snapshot.schedule_id,
            snapshot.k,
            previous_ndcg,
            ndcg,
            run.name,
        )
    return True


def repeat_due(*, now=None) -> dict[str, list[int]]:
    """The beat's work: start due schedules, close cycles whose judging ended, re-send
    cycles whose fetch task was lost, and fail cycles stuck for too long."""
    now = now or timezone.now()
    unfinished = MetricSnapshot.objects.filter(schedule=OuterRef("pk"), status__in=MetricSnapshot.UNFINISHED)
    started = []
    with transaction.atomic():
        # SKIP LOCKED: a second beat (or a slow first one) passes over schedules being started.
        due = (
            RepeatSchedule.objects.select_for_update(skip_locked=True)
            .filter(Q(next_run_at__isnull=True) | Q(next_run_at__lte=now), enabled=True)
            .exclude(Exists(unfinished))
            .order_by("next_run_at", "id")[:DUE_BATCH]
        )
        for schedule in due:
            snapshot = schedule_start(schedule=schedule, now=now)
            if snapshot is not None:
                started.append(snapshot.id)
    judging = MetricSnapshot.objects.filter(status=MetricSnapshot.Status.JUDGING, judge_job_id__isnull=False)
    finalized = [sid for sid in judging.values_list("id", flat=True) if snapshot_finalize(snapshot_id=sid, now=now)]

    # A fetch runs at most the task time limit; older, its task was lost (or killed).
    lost_before = now - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    stale_before = now - timedelta(hours=settings.QRELAY_REPEAT_STALE_HOURS)
    stuck = MetricSnapshot.objects.filter(
        Q(status=MetricSnapshot.Status.FETCHING) | Q(status=MetricSnapshot.Status.JUDGING, judge_job_id__isnull=True),
        sent_at__lt=lost_before,
    )
    failed = list(stuck.filter(created_at__lt=stale_before).values_list("id", flat=True))
    for sid in failed:
        _fail(sid, f"the cycle did not get past fetching within {settings.QRELAY_REPEAT_STALE_HOURS} h")
    resent = []
    for sid in stuck.filter(created_at__gte=stale_before).values_list("id", flat=True):
        # Conditional, so two beats never both hand the same cycle over again.
        if MetricSnapshot.objects.filter(id=sid, sent_at__lt=lost_before).update(sent_at=now) == 1:
            resent.append(sid)
            _enqueue_fetch(sid)
    return {"started": started, "finalized": finalized, "resent": resent, "failed": failed}
