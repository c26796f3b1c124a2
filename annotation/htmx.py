"""What every htmx view asks of a request."""

from django.http import HttpRequest


def wants_fragment(request: HttpRequest) -> bool:
    """An htmx request gets the fragment it swaps in. A history restore after a cache miss
    is an htmx request too, but it replaces the whole page, so it gets the page."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request
