"""Review pages, by topic: the queue, review card and run status (`review`), the
routing policy (`policy`), the lead's agreement dashboard and hard disagreements
(`dashboard`), judge against humans (`calibration`), and flagged tasks (`flags`)."""

from .calibration import calibration
from .dashboard import dashboard, dashboard_accept, disagreement_action, disagreement_tag, disagreements
from .flags import flag_action, flag_resolve, flagged
from .policy import policy, policy_preview, policy_revert_view, reroute_progress, reroute_resume
from .review import (
    flag,
    queue,
    review,
    run_evaluate_start,
    run_status_page,
    skip,
    submit,
    undo,
)

__all__ = [
    "calibration",
    "dashboard",
    "dashboard_accept",
    "disagreement_action",
    "disagreement_tag",
    "disagreements",
    "flag",
    "flag_action",
    "flag_resolve",
    "flagged",
    "policy",
    "policy_preview",
    "policy_revert_view",
    "queue",
    "reroute_progress",
    "reroute_resume",
    "review",
    "run_evaluate_start",
    "run_status_page",
    "skip",
    "submit",
    "undo",
]
