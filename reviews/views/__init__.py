"""Review pages, by topic: the queue, review card, policy and run status (`review`),
the lead's agreement dashboard and hard disagreements (`dashboard`), and flagged tasks
(`flags`)."""

from .dashboard import dashboard, dashboard_accept, disagreement_tag, disagreements
from .flags import flag_resolve, flagged
from .review import (
    flag,
    policy,
    policy_preview,
    queue,
    review,
    run_evaluate_start,
    run_status_page,
    skip,
    submit,
    undo,
)

__all__ = [
    "dashboard",
    "dashboard_accept",
    "disagreement_tag",
    "disagreements",
    "flag",
    "flag_resolve",
    "flagged",
    "policy",
    "policy_preview",
    "queue",
    "review",
    "run_evaluate_start",
    "run_status_page",
    "skip",
    "submit",
    "undo",
]
