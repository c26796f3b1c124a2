"""{% load label_keys %}: `{{ value|label_of:labels }}` shows a stored label value as its
key and name (`<kbd>1</kbd> irrelevant`), with `labels` from annotation.label_keys."""

from django import template
from django.utils.html import format_html

from ..label_keys import ShownLabel

register = template.Library()


@register.filter
def label_of(value: int | None, labels: dict[int, ShownLabel]) -> str:
    if value is None:
        return ""
    shown = labels.get(value)
    if shown is None:
        # Not on the scale (the database refuses that on PostgreSQL): say so rather than
        # passing the stored value off as a key.
        return format_html('<span class="muted">not on the scale ({})</span>', value)
    return format_html("<kbd>{}</kbd> {}", shown.key, shown.name)
