"""Connector presets and the pure parts of a search request: filling the templates and
finding the hits and product ids in the answer.

A connector stores only what differs from its preset; `spec_for` merges the two. The
templates are filled by plain replacement of `{query}` and `{k}` (never str.format, so
other braces are left alone): URL-encoded in the path, as JSON values in the body (the
body template is parsed first, so a query can never break out of its string).

Read-only by construction: `check_search_target` is an allow-list of what a search
request looks like, checked when a lead saves a connector and by the fetcher before every
request and redirect. Elasticsearch/OpenSearch: GET or POST `/_search` or
`/<index>/_search`, nothing else. Generic: plain path segments (no leading `_` or `.`,
no `%`; the last may be `_search`), a query string of `name=value` pairs, `{query}` and
`{k}` only in the query string or the body; a POST only to a search endpoint (the last
segment one of SEARCH_ENDPOINTS). So no `_delete_by_query`, `_bulk`, `_update`, `..`.
"""

import json
import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

GENERIC = "generic"
ELASTICSEARCH = "elasticsearch"


@dataclass(frozen=True)
class Spec:
    method: str
    path_template: str
    body_template: str
    hits_path: str
    id_path: str
    score_path: str


ELASTICSEARCH_BODY = json.dumps(
    {
        "size": "{k}",
        "_source": False,
        "query": {"multi_match": {"query": "{query}", "fields": ["title^2", "brand", "category", "description"]}},
    },
    indent=2,
)

PRESETS: dict[str, Spec] = {
    GENERIC: Spec("GET", "/search?q={query}&k={k}", "", "hits", "id", "score"),
    # POST <index>/_search: set the path to /<index>/_search; the id is the document _id
    # unless id_path names a field of the source, e.g. _source.sku (then drop "_source": false).
    ELASTICSEARCH: Spec("POST", "/_search", ELASTICSEARCH_BODY, "hits.hits", "_id", "_score"),
}


class SpecError(ValueError):
    """A template or path that cannot work; the message is meant for the user."""


# A path segment: a word that starts with a letter or digit (so never `.`, `..` or an
# engine's `_action`); `,` and `*` name several indices or a pattern (`logs-*,shop`).
_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9._~,*+-]*"
_ES_PATH = re.compile(rf"^(?:/{_SEGMENT})?/_search$")
_GENERIC_PATH = re.compile(rf"^(?:/{_SEGMENT})*(?:/_search)?/?$")
_PARAM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}=(?:[A-Za-z0-9._~,:*+-]|%[0-9A-Fa-f]{2})*$")
# The last segment of a path a generic connector may POST to.
SEARCH_ENDPOINTS = {"_search", "search", "query", "select", "multi_search"}


def check_search_target(preset: str, method: str, target: str) -> None:
    """Refuse (SpecError) a request that does not look like a search: `target` is the
    path and query string actually sent (placeholders filled in)."""
    path, question, query = target.partition("?")
    if method not in ("GET", "POST"):
        raise SpecError(f"only GET and POST searches are sent, not {method}")
    if preset == ELASTICSEARCH:
        if question or not _ES_PATH.match(path):
            raise SpecError(
                f"{path!r} is not a search: an Elasticsearch/OpenSearch connector sends /_search or "
                "/<index>/_search only, without a query string"
            )
        return
    if path == "/" or not _GENERIC_PATH.match(path):
        raise SpecError(
            f"{path!r} is not a search path: plain segments of letters, digits and ._~,*+- that do not "
            "start with _ or . (the last may be _search), no %-escapes"
        )
    if question and not all(_PARAM.match(param) for param in query.split("&")):
        raise SpecError("the query string is name=value pairs of letters, digits, ._~,:*+- and %-escapes only")
    last = path.rstrip("/").rsplit("/", 1)[-1]
    if method == "POST" and last not in SEARCH_ENDPOINTS:
        raise SpecError(
            f"a generic connector POSTs only to a search endpoint (the path ends in one of "
            f"{', '.join(sorted(SEARCH_ENDPOINTS))}), not to {path!r}"
        )


def check_path_template(preset: str, method: str, template: str) -> None:
    """The template's own rule: `{query}` and `{k}` only after the `?`, and what it
    renders to must be a search."""
    if "#" in template:
        raise SpecError("the path template has no #fragment")
    path = template.partition("?")[0]
    if "{query}" in path or "{k}" in path:
        raise SpecError("{query} and {k} go in the query string or the body, not in the path")
    check_search_target(preset, method, render_path(template, query="x", k=10))


def spec_for(connector) -> Spec:
    base = PRESETS.get(connector.preset, PRESETS[GENERIC])
    return Spec(
        method=connector.method or base.method,
        path_template=connector.path_template or base.path_template,
        body_template=connector.body_template or base.body_template,
        hits_path=connector.hits_path or base.hits_path,
        id_path=connector.id_path or base.id_path,
        # A score is optional: "-" switches the preset's off.
        score_path="" if connector.score_path == "-" else (connector.score_path or base.score_path),
    )


def render_path(template: str, *, query: str, k: int) -> str:
    if not template.startswith("/"):
        raise SpecError("the path template must start with /")
    return template.replace("{query}", quote(query, safe="")).replace("{k}", str(k))


def _fill(value: Any, query: str, k: int) -> Any:
    if isinstance(value, dict):
        return {key: _fill(item, query, k) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, query, k) for item in value]
    if value == "{k}":
        return k
    if value == "{query}":
        return query
    if isinstance(value, str):
        return value.replace("{query}", query).replace("{k}", str(k))
    return value


MAX_BODY_DEPTH = 32


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def bad_json_text(value: Any, max_depth: int) -> str | None:
    """Why decoded JSON cannot be used, or None: nesting deeper than max_depth, or a
    string (key or value) holding NUL or a lone surrogate (the database and the UTF-8
    encoder refuse both). Iterative, so depth itself cannot overflow the stack."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            return f"nested more than {max_depth} levels deep"
        if isinstance(item, dict):
            stack += [(key, depth) for key in item] + [(sub, depth + 1) for sub in item.values()]
        elif isinstance(item, list):
            stack += [(sub, depth + 1) for sub in item]
        elif isinstance(item, str):
            if "\x00" in item:
                return "a string holds a NUL character (\\u0000)"
            if any("\ud800" <= c <= "\udfff" for c in item):
                return "a string holds a lone surrogate (invalid Unicode)"
    return None


def loads_strict(text: str | bytes) -> Any:
    """json.loads without NaN/Infinity; a too deeply nested document is a ValueError."""
    try:
        return json.loads(text, parse_constant=_no_constants)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def parse_body_template(template: str) -> Any:
    try:
        body = loads_strict(template)
    except ValueError as exc:
        raise SpecError(f"the body template is not valid JSON: {exc}") from None
    problem = bad_json_text(body, MAX_BODY_DEPTH)
    if problem:
        raise SpecError(
            f"the body template is {problem}" if problem.startswith("nested") else f"the body template: {problem}"
        )
    return body


def render_body(template: str, *, query: str, k: int) -> Any:
    if not template.strip():
        return None
    return _fill(parse_body_template(template), query, k)


def _segments(path: str) -> list[str]:
    path = path.strip()
    if path.startswith("/"):  # JSON pointer (RFC 6901)
        return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]
    return [part for part in path.split(".") if part] if path else []


def get_path(data: Any, path: str) -> Any:
    """The value at a dotted path (`hits.hits`, `data.0.id`) or JSON pointer
    (`/hits/hits`); an empty path is the value itself. KeyError names what is missing."""
    current = data
    walked = []
    for part in _segments(path):
        walked.append(part)
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            raise KeyError(".".join(walked))
    return current


@dataclass(frozen=True)
class Hit:
    rank: int  # the position in the engine's list, 1-based
    product_id: str
    score: float | None


def parse_hits(data: Any, spec: Spec, k: int) -> tuple[list[Hit], list[str]]:
    """The first k hits of an answer, and the problems met (duplicates, bad ids). A
    missing list of hits is an error (SpecError): the paths do not fit this engine."""
    try:
        hits = get_path(data, spec.hits_path)
    except KeyError as exc:
        raise SpecError(f"no {exc.args[0]!r} in the answer: check the path to the hits ({spec.hits_path!r})") from None
    if not isinstance(hits, list):
        raise SpecError(f"{spec.hits_path or 'the answer'} is a {type(hits).__name__}, not a list of hits")
    found: list[Hit] = []
    seen: set[str] = set()
    problems: list[str] = []
    for position, hit in enumerate(hits[:k], 1):
        try:
            raw_id = get_path(hit, spec.id_path)
        except KeyError:
            problems.append(f"hit {position} has no {spec.id_path!r}")
            continue
        if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)) or str(raw_id).strip() == "":
            problems.append(f"hit {position}: the product id is not a string or number")
            continue
        product_id = str(raw_id).strip()[:200]
        if bad_json_text(product_id, 1):
            problems.append(f"hit {position}: the product id holds a NUL character or invalid Unicode")
            continue
        if product_id in seen:
            problems.append(f"hit {position}: product {product_id} is listed twice; the first position counts")
            continue
        seen.add(product_id)
        score = None
        if spec.score_path:
            try:
                value = get_path(hit, spec.score_path)
                if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                    score = float(value)
            except KeyError:
                pass
        found.append(Hit(position, product_id, score))
    return found, problems
