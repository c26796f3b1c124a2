"""A lead's actions on a flagged task beyond "back to queue" and "drop": the same two the
hard-disagreements page offers, through the same services (reviews/dashboard/disagreements.py),
and the flag is closed with them.

- `adjudicate`: an adjudication task settles the pair; the flagged label task is retired
  (dropped), so the pair leaves the annotators' queue and is not routed to them again.
- `override`: the lead sets gold (their own human label, provenance adjudicated); the
  flagged task counts as done with that label."""

from django.db import transaction
from django.utils import timezone

from annotation.access import require_lead

from ..dashboard.disagreements import gold_set_message, override_gold, send_to_adjudication
from ..models import ReviewTask
from .errors import ReviewError

ACTIONS = ("adjudicate", "override")


def flag_settle(*, task: ReviewTask, user, action: str, value: int | None = None) -> str:
    """Apply `action` to a flagged task and close the flag; returns what happened, for the page."""
    project = task.project
    require_lead(user, project)
    if action not in ACTIONS:
        raise ReviewError(f"unknown action {action!r}: adjudicate or override", status=400)
    if action == "override" and value is None:
        raise ReviewError("choose the gold label", status=400)
    with transaction.atomic():
        # Conditional, first: of two leads answering the same flag, one wins and the other hears so.
        closed = ReviewTask.objects.filter(id=task.id, status=ReviewTask.Status.FLAGGED)
        if action == "adjudicate":
            if closed.update(status=ReviewTask.Status.DROPPED) != 1:
                raise ReviewError("this flag was already handled")
            send_to_adjudication(project=project, pair=task.pair, user=user)
            message = "Sent to adjudication: it waits in the adjudication queue."
        else:
            assert value is not None
            if closed.update(status=ReviewTask.Status.DONE, completed_at=timezone.now()) != 1:
                raise ReviewError("this flag was already handled")
            label = override_gold(project=project, pair=task.pair, user=user, value=value)
            ReviewTask.objects.filter(id=task.id).update(label=label)
            message = gold_set_message(project, value)
    task.refresh_from_db()
    return message
