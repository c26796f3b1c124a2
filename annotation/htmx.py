"""What every htmx view asks of a request."""

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


def wants_fragment(request: HttpRequest) -> bool:
    """An htmx request gets the fragment it swaps in. A history restore after a cache miss
    is an htmx request too, but it replaces the whole page, so it gets the page."""
    # Set by HtmxMiddleware; a request that did not pass through it has none.
    htmx: HtmxDetails | None = getattr(request, "htmx", None)
    return htmx is not None and bool(htmx) and not htmx.history_restore_request
