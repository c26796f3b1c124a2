"""Query-string parameters of the annotation pages: these pages only display, so a bad
value falls back to a default instead of failing."""

from typing import TypeVar

_Default = TypeVar("_Default", int, None)


def page_number(request) -> int:
    # Out-of-range numbers are clamped by Paginator.get_page; junk means the first page.
    try:
        return int(request.GET.get("page", 1))
    except ValueError:
        return 1


def int_param(request, name: str, *, default: _Default, low: int, high: int | None = None) -> int | _Default:
    try:
        value = int(request.GET[name])
    except (KeyError, ValueError):
        return default
    if value < low or (high is not None and value > high):
        return default
    return value
