"""Where a connector may go, as the operator configured it: origins, the allow-list of
private endpoints (QRELAY_CONNECTOR_ALLOWED_HOSTS) and the secret bindings
(QRELAY_CONNECTOR_SECRETS).

Pure Python, no Django models: config/settings.py parses both settings with these
functions at start-up (a bad value stops it), and the fetcher re-reads the normalised
entries on every request (tests and operators may change settings at run time).
"""

import ipaddress
import json
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

HOST_NAME = re.compile(r"(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*")
# An allow-list entry without a port opens only the web ports; any other port is listed.
DEFAULT_PORTS = (80, 443)
SECRET_ENV_PREFIX = "QRELAY_CONNECTOR_SECRET_"
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")


class FetchError(Exception):
    """A request refused or failed; the message is meant for the user."""


class EndpointError(ValueError):
    """A malformed setting; the message names the entry."""


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str  # lower case, without brackets
    port: int

    @classmethod
    def of(cls, url: str) -> "Origin":
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise FetchError(f"not a valid URL: {exc}") from None
        if parts.scheme not in ("http", "https"):
            raise FetchError(f"only http and https URLs are fetched, not {parts.scheme or 'a relative URL'!r}")
        if not parts.hostname:
            raise FetchError("the URL has no host")
        if parts.username is not None or parts.password is not None:
            raise FetchError("credentials in the URL are not allowed; use the secret header")
        return cls(parts.scheme, parts.hostname.lower(), port or (443 if parts.scheme == "https" else 80))

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def strict_origin(url: str) -> Origin:
    """scheme://host[:port] and nothing else (a trailing / is tolerated)."""
    origin = Origin.of(url.strip())
    rest = url.strip().split("://", 1)[1].rstrip("/")
    if "/" in rest or "?" in rest or "#" in rest:
        raise FetchError("only scheme://host[:port], without a path")
    return origin


# --- QRELAY_CONNECTOR_ALLOWED_HOSTS ---------------------------------------------------------


@dataclass(frozen=True)
class AllowedEntry:
    host: str | None  # a host name, or None for an address/network entry
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None
    port: int | None  # None: 80 and 443 only

    @property
    def text(self) -> str:
        network = self.network
        if self.host is not None:
            where = self.host
        else:
            assert network is not None
            where = str(network.network_address) if network.num_addresses == 1 else str(network)
        if self.port is None:
            return where
        return f"[{where}]:{self.port}" if ":" in where else f"{where}:{self.port}"

    def allows(self, host: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int) -> bool:
        if port != self.port and not (self.port is None and port in DEFAULT_PORTS):
            return False
        if self.host is not None:
            return self.host == host
        assert self.network is not None
        return address.version == self.network.version and address in self.network


def _port(text: str, entry: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise EndpointError(f"{entry!r}: the port must be a number from 1 to 65535")
    return int(text)


def parse_allowed_entry(raw: str) -> AllowedEntry:
    """`host`, `host:port`, an address or network (`10.0.0.0/8`, `10.0.0.0/8:9200`), IPv6
    bare without a port (`::1`, `fd00::/8`) or in brackets with one (`[fd00::/8]:9200`)."""
    entry = raw.strip().lower()
    port: int | None = None
    if entry.startswith("["):
        where, bracket, rest = entry[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise EndpointError(f"{raw!r}: write an IPv6 entry as [address] or [address]:port")
        port = _port(rest[1:], raw) if rest else None
        if ":" not in where:
            raise EndpointError(f"{raw!r}: only IPv6 addresses go in brackets")
    elif entry.count(":") == 1:
        where, _, port_text = entry.partition(":")
        port = _port(port_text, raw)
    else:
        where = entry
    try:
        return AllowedEntry(None, ipaddress.ip_network(where, strict=False), port)
    except ValueError:
        pass
    if "/" in where or not HOST_NAME.fullmatch(where):
        raise EndpointError(
            f"{raw!r} is not a host name, IP address or network with an optional :port (no scheme, no path)"
        )
    return AllowedEntry(where, None, port)


# --- QRELAY_CONNECTOR_SECRETS ------------------------------------------------------------------


def parse_secret_bindings(raw: str) -> dict[str, dict]:
    """{"QRELAY_CONNECTOR_SECRET_X": {"origin": "https://h:9200", "projects": ["name", 7]}}
    → the same with each origin normalised to scheme://host:port. Projects are named by
    name (a JSON string) or id (a JSON integer)."""
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise EndpointError("not valid JSON") from None
    if not isinstance(data, dict):
        raise EndpointError("a JSON object of variable names to {origin, projects}")
    bindings: dict[str, dict] = {}
    for name, binding in data.items():
        if not ENV_NAME.match(name) or not name.startswith(SECRET_ENV_PREFIX):
            raise EndpointError(f"{name!r}: a secret is an environment variable named {SECRET_ENV_PREFIX}…")
        if not isinstance(binding, dict) or set(binding) != {"origin", "projects"}:
            raise EndpointError(f"{name}: give exactly origin and projects")
        origin, projects = binding["origin"], binding["projects"]
        try:
            normal = str(strict_origin(origin)) if isinstance(origin, str) else None
        except FetchError as exc:
            raise EndpointError(f"{name}: origin {origin!r}: {exc}") from None
        if normal is None:
            raise EndpointError(f"{name}: the origin is a string scheme://host:port")
        if (
            not isinstance(projects, list)
            or not projects
            or not all(
                (isinstance(p, str) and p.strip()) or (isinstance(p, int) and not isinstance(p, bool) and p > 0)
                for p in projects
            )
        ):
            raise EndpointError(f"{name}: projects is a non-empty list of project names or ids")
        bindings[name] = {"origin": normal, "projects": projects}
    return bindings
