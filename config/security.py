"""Response headers and request logging that every page gets."""

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

GetResponse = Callable[[HttpRequest], HttpResponseBase]

log = logging.getLogger("qrelay.requests")


class ContentSecurityPolicyMiddleware:
    """Content-Security-Policy from settings.QRELAY_CSP on every response that has none:
    what an injected script could do is limited to what this origin serves."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self.policy = settings.QRELAY_CSP

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if self.policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = self.policy
        return response


class RequestLogMiddleware:
    """One line per request: method, path (no query string: it may carry search terms or
    tokens), status, duration and user id."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        started = time.monotonic()
        response = self.get_response(request)
        user = getattr(request, "user", None)
        log.info(
            "%s %s %s %.1fms user=%s",
            request.method,
            request.path,
            response.status_code,
            (time.monotonic() - started) * 1000,
            user.pk if user is not None and user.is_authenticated else "-",
        )
        return response
