"""{% load review_queue %}: the review queue's figures for pages of other apps (the home
page's "Start reviewing (N)"), without annotation importing reviews."""

from django import template

from ..models import ReviewTask
from ..services.queue import queue_progress

register = template.Library()


@register.simple_tag
def reviews_left(project, user) -> str:
    """How many review tasks this user may still take in the project ("1,000+" when capped)."""
    return str(queue_progress(project=project, user=user, kind=ReviewTask.Kind.LABEL, reason=None))
