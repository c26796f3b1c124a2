"""What a connector may send in its headers: plain headers a lead sets, and the one
secret header the operator bound to the connector's project and origin.

A secret (QRELAY_CONNECTOR_SECRET_*, read from the environment at request time) is sent
only when QRELAY_CONNECTOR_SECRETS binds it to the connector's project AND to the exact
origin of the request; the form checks this when a lead saves the connector and the
fetcher again on every request, redirects included. Without the binding, project B's
lead could name project A's key and aim it at A's engine, or at a server B runs.
"""

import os
import re
from dataclasses import dataclass

from django.conf import settings

from .endpoints import SECRET_ENV_PREFIX, FetchError, Origin

__all__ = ["SECRET_ENV_PREFIX", "HEADER_NAME", "Secret", "header_problem", "secret_problem", "bound_secret"]

HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
# Framing and routing headers the HTTP client sets itself, and method overrides (a GET
# with X-HTTP-Method-Override: DELETE is a DELETE to some servers).
FORBIDDEN = {
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "expect",
    "proxy-connection",
    "proxy-authorization",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
}


def header_problem(name: object, value: object) -> str | None:
    """Why a header cannot be sent, or None. Values are Latin-1 text without control characters."""
    if not isinstance(name, str) or not HEADER_NAME.match(name):
        return f"{name!r} is not a header name (letters, digits and !#$%&'*+.^_`|~-)"
    if name.lower() in FORBIDDEN:
        return f"{name} is set by qrelay itself and cannot be configured"
    if not isinstance(value, str):
        return f"the value of {name} is not text"
    if any(ord(c) > 255 or (ord(c) < 32 and c != "\t") or ord(c) == 127 for c in value):
        return f"the value of {name} holds control or non-Latin-1 characters"
    return None


@dataclass(frozen=True)
class Secret:
    header: str
    value: str
    origin: Origin  # the only origin it may be sent to


def _bound_to(binding: dict, project) -> bool:
    return any(p == project.name if isinstance(p, str) else p == project.id for p in binding["projects"])


def secret_problem(*, project, env: str, origin: Origin) -> str | None:
    """Why the connector of `project` may not send secret `env` to `origin`, or None."""
    if not env.startswith(SECRET_ENV_PREFIX):
        # Only the operator decides which secrets a connector may send (no DATABASE_URL, SECRET_KEY…).
        return f"the secret's environment variable must start with {SECRET_ENV_PREFIX}"
    binding = settings.QRELAY_CONNECTOR_SECRETS.get(env)
    if binding is None or not _bound_to(binding, project):
        return (
            f"{env} is not bound to project {project.name}: the operator must bind it to the project "
            "and its engine's origin in QRELAY_CONNECTOR_SECRETS"
        )
    try:
        bound = Origin.of(binding["origin"])
    except FetchError:
        return f"{env} is bound to a malformed origin; the operator must fix QRELAY_CONNECTOR_SECRETS"
    if bound != origin:
        return f"{env} may only be sent to {bound}, not to {origin} (bound by the operator in QRELAY_CONNECTOR_SECRETS)"
    return None


def bound_secret(*, project, header: str, env: str, origin: Origin) -> Secret:
    """The secret header to send, after every check; FetchError says why not."""
    problem = secret_problem(project=project, env=env, origin=origin) or header_problem(header, "")
    if problem:
        raise FetchError(problem)
    value = os.environ.get(env, "")
    if not value:
        raise FetchError(f"the environment variable {env!r} for header {header} is not set")
    if header_problem(header, value):
        # Never echo the value: it is the secret.
        raise FetchError(f"the value of {env} is not a valid header value (Latin-1, one line)")
    return Secret(header, value, origin)
