"""The guarded fetcher: the only way a connector talks to a search engine.

What a search engine (or whoever controls its DNS) can make us do is bounded:
- http(s) only, to the connector's own origin: a redirect to another host, scheme or
  port is refused;
- the host is resolved here and every address checked: private, loopback, link-local,
  shared and reserved addresses are refused unless the operator listed the host (or its
  network) with the port in QRELAY_CONNECTOR_ALLOWED_HOSTS (annotation/connectors/
  endpoints.py: no port means 80 and 443 only); the request then goes to the address that
  was checked (the name is kept for Host and TLS SNI), so DNS cannot change its answer
  between the check and the connection, and every redirect is checked again;
- a secret header goes only to the origin the operator bound it to, checked on every hop;
- a connector's `check` (presets.check_search_target) sees every hop's method and path,
  so a same-origin redirect cannot turn a search into another call;
- connect, read and overall timeouts; the body is streamed and dropped past a size cap;
- only JSON answers are accepted, and an error answer is reported by its status alone
  (its body may hold another tenant's data or a secret); proxies from the environment
  are ignored (they would connect on our behalf to addresses never checked).
"""

import ipaddress
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
from django.conf import settings

from .endpoints import EndpointError, FetchError, Origin, parse_allowed_entry
from .headers import Secret
from .presets import loads_strict

__all__ = ["FetchError", "Origin", "Answer", "fetch", "fetch_json", "fetch_image", "new_client", "resolve_checked"]

REDIRECTS = {301, 302, 303, 307, 308}
JSON_TYPES = ("application/json",)


def _allowed_by_operator(host: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int) -> bool:
    for text in settings.QRELAY_CONNECTOR_ALLOWED_HOSTS:
        try:
            entry = parse_allowed_entry(text)
        except EndpointError:
            continue  # refused at start-up; only a setting changed at run time gets here
        if entry.allows(host, address, port):
            return True
    return False


# IPv6 ranges that carry an IPv4 address a gateway may forward to (NAT64, 6to4, Teredo,
# IPv4-compatible): Python counts some of them as global, so a name whose AAAA record is
# 64:ff9b::a00:1 would reach 10.0.0.1 on a NAT64 network. They are refused outright.
_IPV4_CARRIERS = [
    ipaddress.ip_network(net) for net in ("64:ff9b::/96", "64:ff9b:1::/48", "2002::/16", "2001::/32", "::/96")
]


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        elif any(address in net for net in _IPV4_CARRIERS):
            return False
    return address.is_global and not address.is_multicast


def resolve_checked(host: str, port: int) -> str:
    """The address to connect to for host, after checking every address it resolves to."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"cannot resolve {host}: {exc}") from None
    addresses = []
    for info in infos:
        host_address = info[4][0]
        assert isinstance(host_address, str)  # an AF_INET or AF_INET6 address: (host, port, …)
        address = ipaddress.ip_address(host_address.split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise FetchError(f"cannot resolve {host}")
    # Every address, not only the first: a name resolving to one public and one internal
    # address must not reach the internal one on a retry.
    for address in addresses:
        if not _public(address) and not _allowed_by_operator(host, address, port):
            raise FetchError(
                f"{host} resolves to {address}, a private, loopback or link-local address; "
                f"an operator may allow it with QRELAY_CONNECTOR_ALLOWED_HOSTS (as host:port for port {port}"
                f"{'' if port in (80, 443) else ', which a host without a port does not open'})"
            )
    return str(addresses[0])


def new_client(timeout: float) -> httpx.Client:
    return httpx.Client(
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        trust_env=False,
        # Uncompressed, so the size cap counts what is decoded (no decompression bombs).
        headers={"Accept": "application/json", "Accept-Encoding": "identity"},
    )


def _read_capped(response: httpx.Response, max_bytes: int, deadline: float) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(f"the answer is {int(declared)} bytes, more than the limit of {max_bytes} bytes")
    body = bytearray()
    for chunk in response.iter_raw():
        body += chunk
        if len(body) > max_bytes:
            raise FetchError(f"the answer is larger than the limit of {max_bytes} bytes")
        if time.monotonic() > deadline:
            raise FetchError("the server took too long to send its answer")
    return bytes(body)


@dataclass(frozen=True)
class Answer:
    body: bytes
    content_type: str  # lower case, without parameters


def fetch_json(
    *,
    url: str,
    origin: Origin,
    method: str = "GET",
    body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
    client: httpx.Client | None = None,
    max_bytes: int | None = None,
    secret: Secret | None = None,
    check: Callable[[str, str], None] | None = None,
) -> Any:
    """Send one request to `origin` (the connector's host) and return the decoded JSON."""
    answer = fetch(
        url=url,
        origin=origin,
        method=method,
        body=body,
        headers=headers,
        timeout=timeout,
        client=client,
        max_bytes=max_bytes,
        secret=secret,
        check=check,
    )
    content_type = answer.content_type
    if content_type not in JSON_TYPES and not (
        content_type.startswith("application/") and content_type.endswith("+json")
    ):
        raise FetchError(f"the search engine answered {content_type or 'without a content type'}, not JSON")
    try:
        data = loads_strict(answer.body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FetchError(f"the answer is not valid JSON: {exc}") from None
    # Parsed, a document nested 900 levels deep would still overflow whatever walks it.
    if _depth_over(data, MAX_ANSWER_DEPTH):
        raise FetchError(f"the answer is nested more than {MAX_ANSWER_DEPTH} levels deep")
    return data


MAX_ANSWER_DEPTH = 100


def _depth_over(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack += [(sub, depth + 1) for sub in item.values()]
        elif isinstance(item, list):
            stack += [(sub, depth + 1) for sub in item]
    return False


def fetch_image(*, url: str, timeout: float, max_bytes: int, client: httpx.Client | None = None) -> bytes:
    """The bytes of an image URL (a product image of an import), under the same rules:
    its own host only, every address checked, timeouts, a size cap. The caller still
    validates and re-encodes the bytes (annotation/images.py)."""
    origin = Origin.of(url)
    answer = fetch(
        url=url, origin=origin, headers={"Accept": "image/*"}, timeout=timeout, client=client, max_bytes=max_bytes
    )
    if not answer.content_type.startswith("image/"):
        raise FetchError(f"{origin.host} answered {answer.content_type or 'without a content type'}, not an image")
    return answer.body


def fetch(
    *,
    url: str,
    origin: Origin,
    method: str = "GET",
    body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
    client: httpx.Client | None = None,
    max_bytes: int | None = None,
    secret: Secret | None = None,
    check: Callable[[str, str], None] | None = None,
) -> Answer:
    """Send one request to `origin`, following redirects on the same origin only.

    `secret` is added to the headers of a hop only when that hop goes to the secret's
    bound origin; `check(method, path_and_query)` may refuse a hop (FetchError)."""
    max_bytes = max_bytes or settings.QRELAY_CONNECTOR_MAX_BYTES
    own_client = client is None
    client = client or new_client(timeout)
    deadline = time.monotonic() + timeout
    try:
        for _ in range(settings.QRELAY_CONNECTOR_MAX_REDIRECTS + 1):
            target = Origin.of(url)
            # Same host, scheme and port: a redirect from https to http (or to another port)
            # would carry the secret header in clear text or to another service.
            if (target.host, target.scheme, target.port) != (origin.host, origin.scheme, origin.port):
                raise FetchError(
                    f"refused to leave {origin.scheme}://{origin.host}:{origin.port}: "
                    f"the request would go to {target.scheme}://{target.host}:{target.port}"
                )
            if check is not None:
                parts = urlsplit(url)
                check(method, parts.path + (f"?{parts.query}" if parts.query else ""))
            sent = dict(headers or {})
            if secret is not None:
                # Belt and braces: the origin check above already holds every hop to one
                # origin; the secret itself is tied to the origin the operator bound.
                if target != secret.origin:
                    raise FetchError(f"refused to send the secret header to {target}: it is bound to {secret.origin}")
                sent[secret.header] = secret.value
            response_or_next = _one_request(client, url, target, method, body, sent, timeout, max_bytes, deadline)
            if isinstance(response_or_next, tuple):
                url, method, body = response_or_next
                continue
            return response_or_next
        raise FetchError("too many redirects")
    finally:
        if own_client:
            client.close()


def _one_request(client, url, target: Origin, method, body, headers, timeout, max_bytes, deadline):
    address = resolve_checked(target.host, target.port)
    pinned = httpx.URL(url).copy_with(host=address)
    host_header = target.host if ":" not in target.host else f"[{target.host}]"
    default_port = 443 if target.scheme == "https" else 80
    if target.port != default_port:
        host_header += f":{target.port}"
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    request = client.build_request(
        method,
        pinned,
        # Latin-1, as HTTP/1.1 allows (httpx would encode text as ASCII); the names and
        # values were checked by headers.header_problem.
        headers={**{name: value.encode("latin-1") for name, value in headers.items()}, "Host": host_header},
        json=body if method == "POST" and body is not None else None,
        extensions={
            **extensions,
            "timeout": httpx.Timeout(max(0.1, min(timeout, deadline - time.monotonic()))).as_dict(),
        },
    )
    try:
        response = client.send(request, stream=True)
    except httpx.TimeoutException:
        raise FetchError(f"no answer from {target.host} within {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise FetchError(f"could not reach {target.host}: {exc.__class__.__name__}") from None
    try:
        if response.status_code in REDIRECTS:
            location = response.headers.get("location")
            if not location:
                raise FetchError(f"HTTP {response.status_code} without a Location header")
            # Browsers' rule: 303 (and 301/302 after a POST) continue as a GET without body.
            if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                method, body = "GET", None
            return urljoin(url, location), method, body
        if response.status_code >= 400:
            # By status only: an engine's error body may quote another tenant's documents,
            # the request (with its secret header) or internals.
            kind = "refused the request" if response.status_code < 500 else "failed"
            raise FetchError(f"HTTP {response.status_code} from {target.host}: the server {kind}")
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise FetchError(f"the answer is {encoding}-compressed although an uncompressed one was asked for")
        try:
            raw = _read_capped(response, max_bytes, deadline)
        except httpx.TimeoutException:
            raise FetchError(f"the answer from {target.host} stalled for more than {timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise FetchError(f"the answer from {target.host} broke off: {exc.__class__.__name__}") from None
        if not 200 <= response.status_code < 300:
            raise FetchError(f"unexpected HTTP {response.status_code} from {target.host}")
        return Answer(raw, response.headers.get("content-type", "").split(";", 1)[0].strip().lower())
    finally:
        response.close()
