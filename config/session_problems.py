"""What an htmx request hears when the session behind it is gone.

Two ways a reviewer loses a keypress: the session expired (login_required answers with a
redirect to the login page, which htmx would follow and swap the login form into the
card; logging in there then redirected to the POST-only submit URL: HTTP 405), or the
user logged in again in another tab and the CSRF token rotated (a bare 403).

Both become a small fragment the card shows in place of its content ("Your session
ended — log in again"), with a 401 or 403 status, a marker header the page's JS looks
for (static/js/app.js) and HX-Reswap so the card element itself stays. The login link's
`next` is the page the request came from (HX-Current-URL, a GET page), never the
POST-only URL the request went to.
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import resolve_url
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode

from .security import GetResponse

PROBLEM_HEADER = "X-Qrelay-Session"


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def return_path(request: HttpRequest) -> str:
    """A GET page of this site to come back to: the page the htmx request came from, or
    the referring page of a plain form post; the home page when neither is safe."""
    for candidate in (request.headers.get("HX-Current-URL", ""), request.headers.get("Referer", "")):
        if candidate and url_has_allowed_host_and_scheme(
            candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            parts = urlsplit(candidate)
            login = resolve_url(settings.LOGIN_URL)
            if parts.path and parts.path != login:
                return parts.path + (f"?{parts.query}" if parts.query else "")
    return resolve_url("home")


def login_link(request: HttpRequest) -> str:
    return f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': return_path(request)})}"


def _fragment(request: HttpRequest, *, kind: str, status: int) -> HttpResponseBase:
    body = render_to_string(
        "session_problem.html",
        {"kind": kind, "login_url": login_link(request), "return_url": return_path(request)},
        request=request,
    )
    response = HttpResponse(body, status=status)
    response[PROBLEM_HEADER] = kind
    response["HX-Reswap"] = "innerHTML"
    return response


class SessionProblemMiddleware:
    """Turns login_required's redirect into the fragment for htmx requests, and for a
    plain POST points the login page's `next` back at the page the form was on."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if response.status_code != 302 or not _to_login(response):
            return response
        if _is_htmx(request):
            return _fragment(request, kind="expired", status=401)
        if request.method not in ("GET", "HEAD"):
            response["Location"] = login_link(request)
        return response


def _to_login(response: HttpResponseBase) -> bool:
    """login_required's redirect: to the login page with a `next` (a logout's has none)."""
    location = urlsplit(response.get("Location", ""))
    return location.path == resolve_url(settings.LOGIN_URL) and "next=" in location.query


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponseBase:
    """settings.CSRF_FAILURE_VIEW: the token this page holds is older than the session
    (a login in another tab rotated it). htmx gets the fragment; a plain form the 403 page
    saying the same."""
    if _is_htmx(request):
        return _fragment(request, kind="csrf", status=403)
    ctx = {
        "title": "Your session changed",
        "message": "This page was opened before your last login (perhaps in another tab), "
        "so it could not send that form. Go back, reload the page and try again.",
        "return_url": return_path(request),
    }
    return TemplateResponse(request, "403.html", ctx, status=403)
