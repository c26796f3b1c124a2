"""{% load review_queue %}: the review queue's figures for pages of other apps (the home
page's "Start reviewing (N)"), without annotation importing reviews."""

from django import template
from django.utils import timezone

from ..models import ReviewTask
from ..services.queue import queue_progress

register = template.Library()


@register.simple_tag
def reviews_left(project, user) -> str:
    """How many review tasks this user may still take in the project ("1,000+" when capped)."""
    current = (
        ReviewTask.objects.filter(
            project=project, kind=ReviewTask.Kind.LABEL, status=ReviewTask.Status.CLAIMED,
            claimed_by=user,
            lease_expires_at__gt=timezone.now(),
        )
        .order_by("lease_expires_at")
        .first()
    )
    return str(queue_progress(project=project, user=user, kind=ReviewTask.Kind.LABEL, reason=None, current=current))
