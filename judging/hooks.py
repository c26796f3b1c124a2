"""Hooks that judging offers the apps built on it, filled in by those apps.

Imports run one way (annotation ← judging ← reviews): judging never imports reviews and
never names one of its tasks. An app that wants to take over after judging registers
the Celery task here from its AppConfig.ready(); judging hands it to a job as
`JudgeJob.on_done`, which calls it with the job's id when the job is done.
"""

_registry = {"after_run_judged": ""}


def set_after_run_judged(task_name: str) -> None:
    """Register the task to call after the holes of a run's gold were judged (reviews
    routes the judged pairs: accepted as gold, or sent to review)."""
    _registry["after_run_judged"] = task_name


def after_run_judged() -> str:
    """The registered task's name; empty when no app registered one (nothing follows)."""
    return _registry["after_run_judged"]
