"""Creating a judge job (its pair list and its configuration are fixed here) and
cancelling one."""

from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.utils import timezone

from annotation.models import Pair, Project, SearchResult, SearchRun
from annotation.rulebook import pairs_reached_by_rule_changes

from .. import prompts
from ..models import JudgeJob, Judgment, Mode
from ..services import judge_config_for, judge_config_record, models_for
from .endpoint import EndpointRefused, endpoint_check
from .finish import store_usage
from .sending import send_launch


class JobError(ValueError):
    """A job that cannot be created or changed as asked; `status` is the HTTP answer."""

    status = 400


class JobConflict(JobError):
    """The run has a queued or running job already."""

    status = 409


ONE_ACTIVE_PER_RUN = "judgejob_one_active_per_run"


def run_pair_ids(run: SearchRun) -> list[int]:
    return list(SearchResult.objects.filter(run=run).values_list("pair_id", flat=True).distinct())


def judged_pair_ids(*, project: Project, pair_ids: Iterable[int], mode: str) -> set[int]:
    """Pairs whose latest judgment from the project's current model, prompt and mode is
    valid and not older than a change of a rule in its scope. A pair whose latest one is
    invalid is a hole: a later job asks again (its invalid judgment sent it to a human
    meanwhile)."""
    config = judge_config_for(project)
    model = models_for(config)["judge"]
    found: set[int] = set()
    ids = list(pair_ids)
    for start in range(0, len(ids), 5000):
        latest: dict[int, tuple] = {}
        rows = (
            Judgment.objects.filter(
                pair_id__in=ids[start : start + 5000], model=model, mode=mode, prompt_version=prompts.JUDGMENT_VERSION
            )
            .order_by("pair_id", "-created_at", "-id")
            .values_list("pair_id", "status", "created_at")
        )
        for pair_id, status, created_at in rows:
            latest.setdefault(pair_id, (status, created_at))
        judged = {pair_id: at for pair_id, (status, at) in latest.items() if status == Judgment.Status.OK}
        # A rule edited (or retired) since the judgment, in the pair's scope, reopens it.
        found.update(set(judged) - pairs_reached_by_rule_changes(project.id, judged))
    return found


def judge_job_create(
    *,
    project: Project,
    run: SearchRun | None = None,
    pair_ids: Iterable[int] | None = None,
    holes_only: bool = True,
    mode: str | None = None,
    user=None,
    on_done: str = "",
) -> JudgeJob:
    """Create a job for a run's pairs (only those not judged yet with holes_only) or an
    explicit list of pairs (with a run: pairs of that run, and the job is the run's), and
    enqueue it once the transaction commits."""
    config = judge_config_for(project)
    mode = mode or config.mode
    if mode not in Mode.values:
        raise JobError(f"unknown mode {mode!r}; choose one of {', '.join(Mode.values)}")
    if run is not None and run.project_id != project.id:
        raise JobError("the run belongs to another project")
    if pair_ids is not None:
        wanted = set(pair_ids)
        pairs = Pair.objects.filter(project=project, id__in=list(wanted))
        if run is not None:
            pairs = pairs.filter(id__in=SearchResult.objects.filter(run=run).values("pair_id"))
        ids = list(pairs.values_list("id", flat=True))
        if len(ids) != len(wanted):
            owner = f"run {run.name}" if run is not None else f"project {project.name}"
            raise JobError(f"{len(wanted) - len(ids)} pair id(s) do not belong to {owner}")
        what = f"{len(ids)} pairs" + (f" of run {run.name}" if run is not None else "")
    elif run is not None:
        ids = run_pair_ids(run)
        what = f"run {run.name}"
    else:
        raise JobError("give a run or a list of pairs")
    if holes_only:
        ids = sorted(set(ids) - judged_pair_ids(project=project, pair_ids=ids, mode=mode))
        what = f"holes of {what}" if run is not None else what
    # Ordered by query so that a chunk's pairs share guidelines and prompt prefixes.
    ordered = (
        list(Pair.objects.filter(id__in=ids).order_by("query_id", "id").values_list("id", flat=True)) if ids else []
    )
    models = models_for(config)
    record = judge_config_record(config, mode=mode)
    if ordered:
        # Before anything is written: a request to an endpoint that cannot run the job
        # fails here, in seconds, instead of in every chunk after their retries.
        try:
            record.update(endpoint_check(record))
        except EndpointRefused as exc:
            raise JobError(str(exc)) from None
    try:
        # A savepoint: the caller's transaction stays usable when the insert is refused.
        with transaction.atomic():
            job = JudgeJob.objects.create(
                project=project,
                run=run,
                description=f"judge {what} ({mode})",
                backend=config.backend,
                mode=mode,
                model=models["judge"],
                # The chunks run with this record, not the live settings: a lead who
                # changes the model or mode meanwhile must not get a job mixing two.
                config=record,
                pair_ids=ordered,
                total=len(ordered),
                created_by=user if user is not None and user.is_authenticated else None,
                on_done=on_done,
            )
    except IntegrityError as exc:
        # The partial unique index, not a check-then-create, decides: of two requests
        # racing over the same run exactly one job is made, and the LLM is paid once.
        if run is None or not _one_active_per_run_refused(exc, run):
            raise
        active = JudgeJob.objects.filter(run=run, status__in=JudgeJob.ACTIVE).first()
        ident = f" {active.id}" if active is not None else ""
        raise JobConflict(f"Judging job{ident} of run {run.name} is still active; wait for it or cancel it.") from None
    send_launch(job.id)
    return job


def _one_active_per_run_refused(exc: IntegrityError, run: SearchRun) -> bool:
    """Whether the insert broke the one-active-job-per-run index. PostgreSQL names the
    constraint; SQLite only says "UNIQUE constraint failed: judging_judgejob.run_id", so
    there the run's active job is the evidence (the savepoint has rolled back: the query
    works)."""
    constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None)
    if constraint is not None:
        return constraint == ONE_ACTIVE_PER_RUN
    return (
        "judging_judgejob.run_id" in str(exc) or JudgeJob.objects.filter(run=run, status__in=JudgeJob.ACTIVE).exists()
    )


def judge_job_cancel(*, job: JudgeJob) -> bool:
    """Stop a queued or running job; chunks in flight finish and keep what they paid for."""
    changed = JudgeJob.objects.filter(id=job.id, status__in=JudgeJob.ACTIVE).update(
        status=JudgeJob.Status.CANCELLED, finished_at=timezone.now()
    )
    if changed == 1:
        store_usage(job.id)
    return changed == 1
