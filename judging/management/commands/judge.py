"""`python manage.py judge --project P [--run NAME] ...`: judge pairs and show progress."""

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from annotation.management.commands._base import project_by_name_or_id
from annotation.models import Pair, SearchRun
from annotation.selectors import human_labelled_pairs
from judging.jobs import JobError, job_eta, judge_job_create
from judging.models import Backend, JudgeJob, Mode
from judging.services import judge_config_for

# A job whose progress has not moved for this long (seconds) makes the command ask the
# broker whether any worker answers; Celery's ping waits this long for replies.
NO_WORKER_AFTER = 10.0
PING_TIMEOUT = 1.0
POLL_SECONDS = 1.0


def workers_answering(timeout: float = PING_TIMEOUT) -> int:
    """How many Celery workers answer a ping on the configured broker within timeout."""
    from config.celery import app

    return len(app.control.ping(timeout=timeout) or [])


class Progress:
    """The progress bar: carriage-return frames on a terminal; elsewhere (a log, CI, a
    pipe) one line per 10% and per status change, not thousands of frames."""

    width = 30

    def __init__(self, out, *, terminal: bool):
        self.out = out
        self.terminal = terminal
        self.last: tuple[int, str] | None = None  # (tenths done, status) of the last line

    def show(self, job: JudgeJob) -> None:
        filled = int(self.width * job.progress)
        eta = job_eta(job)
        eta_text = f" ETA {int(eta.total_seconds())}s" if eta else ""
        bar = "#" * filled + "-" * (self.width - filled)
        text = f"[{bar}] {job.processed}/{job.total} ({job.status}){eta_text}"
        if self.terminal:
            self.out.write(f"\r{text}   ", ending="")
            self.out.flush()
            return
        step = (int(job.progress * 10), job.status)
        if step != self.last:
            self.last = step
            self.out.write(f"{text} {int(job.progress * 100)}%")

    def end(self) -> None:
        if self.terminal:
            self.out.write("")


class Command(BaseCommand):
    help = """Judge a project's pairs with the LLM (or the offline baseline).

By default only the holes are judged: pairs without a judgment from the project's
current model, prompt version and mode. Cached guidelines, image descriptions and
judgments are reused, so a second run only pays for its new pairs. With a Celery
broker configured the work runs on the workers and this command shows progress until
the job ends (Ctrl-C stops watching, not the job); without one it runs in-process.

Which pairs: every run's by default (one job per run); --run NAME for one run; --pairs
labelled for the pairs people labelled (imported or reviewed: measuring the judge against
them needs no run, see `calibrate`); --pairs all for every pair of the project. A project
without runs judges all its pairs."""

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument("--run", help="judge this run's pairs (default: all runs of the project)")
        parser.add_argument(
            "--pairs",
            choices=("runs", "labelled", "all"),
            help="runs (default when the project has runs), labelled (pairs with human labels) or all",
        )
        parser.add_argument("--mode", choices=Mode.values, help="text, caption (two-stage) or vision")
        parser.add_argument("--backend", choices=Backend.values, help="offline or openai; saved on the project")
        parser.add_argument("--all", action="store_true", help="judge every pair again, not only the holes")
        parser.add_argument("--no-wait", action="store_true", help="start the job and return")

    def handle(self, *args, **options):
        project = project_by_name_or_id(options["project"])
        config = judge_config_for(project)
        if options["backend"] and options["backend"] != config.backend:
            config.backend = options["backend"]
            config.save(update_fields=["backend"])
        runs, pair_ids = self.chosen_pairs(project, options)
        if pair_ids is not None:
            self._start(project, options, pair_ids=pair_ids)
        for run in runs:
            self._start(project, options, run=run)

    def chosen_pairs(self, project, options) -> tuple[list[SearchRun], list[int] | None]:
        """What --run / --pairs name: the runs to take one by one, or (no runs, labelled or
        all) a list of pair ids. `evaluate` chooses its pairs the same way."""
        runs = list(project.runs.order_by("name"))
        scope = options["pairs"] or ("runs" if runs or options["run"] else "all")
        if scope != "runs":
            if options["run"]:
                raise CommandError("--run and --pairs labelled/all exclude each other")
            pairs = human_labelled_pairs(project) if scope == "labelled" else Pair.objects.filter(project=project)
            pair_ids = list(pairs.values_list("id", flat=True).distinct())
            if not pair_ids:
                what = "pairs with human labels" if scope == "labelled" else "pairs"
                raise CommandError(
                    f"project {project.name} has no {what}; import some with import_labels or import_run"
                )
            return [], pair_ids
        if options["run"]:
            runs = [r for r in runs if r.name == options["run"]]
            if not runs:
                raise CommandError(
                    f"no run {options['run']!r} in {project.name}; runs: {', '.join(r.name for r in project.runs.all()) or 'none'}"
                )
        if not runs:
            raise CommandError(f"project {project.name} has no runs; import one with import_run or use --pairs")
        return runs, None

    def _start(self, project, options, *, run: SearchRun | None = None, pair_ids: list[int] | None = None):
        try:
            job = judge_job_create(
                project=project, run=run, pair_ids=pair_ids, holes_only=not options["all"], mode=options["mode"]
            )
        except JobError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"job {job.id}: {job.description}, {job.total} pair(s), backend {job.backend}, model {job.model}"
        )
        if options["no_wait"] and not settings.CELERY_TASK_ALWAYS_EAGER:
            return
        try:
            self._watch(job.id)
        except KeyboardInterrupt:
            self.stdout.write("\nstopped watching; the job goes on")

    def _watch(self, job_id: int):
        progress = Progress(self.stdout, terminal=self.stdout.isatty())
        seen, since, warned = None, time.monotonic(), False
        while True:
            job = JudgeJob.objects.get(id=job_id)
            progress.show(job)
            if job.status not in JudgeJob.ACTIVE:
                break
            if (job.processed, job.status, job.prep_done) != seen:
                seen, since = (job.processed, job.status, job.prep_done), time.monotonic()
            elif not warned and time.monotonic() - since >= NO_WORKER_AFTER:
                warned = True  # ask once: the ping itself takes PING_TIMEOUT
                self._warn_without_workers()
            time.sleep(POLL_SECONDS)
        progress.end()
        line = (
            f"job {job.id} {job.status}: {job.done} judged ({job.cached} cached), {job.failed} failed, "
            f"{job.calls} LLM calls, {job.tokens_in} tokens in / {job.tokens_out} out, €{job.cost_eur:.4f}"
        )
        reasons = "".join(f"\n  {count} × {reason}" for reason, count in (job.failures or {}).items())
        if reasons:
            reasons = f"\nfailed pairs by reason:{reasons}"
        if job.status == JudgeJob.Status.DONE:
            self.stdout.write(self.style.SUCCESS(line))
            if reasons:
                self.stdout.write(self.style.WARNING(reasons.lstrip("\n")))
        else:
            raise CommandError(f"{line}\n{job.error}{reasons}")

    def _warn_without_workers(self) -> None:
        """No progress for a while: say so when no worker answers, and how to start one
        (a broker with no worker keeps the job queued forever)."""
        if settings.CELERY_TASK_ALWAYS_EAGER or workers_answering():
            return
        self.stdout.write("")
        self.stdout.write(
            self.style.WARNING(
                f"no progress for {NO_WORKER_AFTER:.0f} s and no Celery worker answers on the broker: "
                f"nothing consumes the queue '{settings.CELERY_TASK_DEFAULT_QUEUE}'. "
                f"Start one in another shell with `make worker` (celery -A config worker "
                f"-Q {settings.CELERY_TASK_DEFAULT_QUEUE}); the job goes on once it runs. Ctrl-C stops watching."
            )
        )
