"""Fetch a search run from a search engine: one request per query through the guarded
fetcher (no transaction held meanwhile), then one transaction that writes the run, its
results and the pairs exactly as the run importer does.

Products the catalogue does not know are reported and skipped (the connector cannot
describe them for the judge); a query whose request fails is reported and left out.
"""

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction

from annotation.bulk import bulk_insert_rows
from annotation.models import Product, Query, SearchConnector, SearchResult, SearchRun
from annotation.services import external_ids_map, pairs_ensure

from .headers import HEADER_NAME, SECRET_ENV_PREFIX, Secret, bound_secret, header_problem
from .http import FetchError, Origin, fetch_json, new_client
from .presets import (
    Hit,
    SpecError,
    check_path_template,
    check_search_target,
    parse_hits,
    render_body,
    render_path,
    spec_for,
)

__all__ = [
    "HEADER_NAME",
    "SECRET_ENV_PREFIX",
    "ConnectorError",
    "FetchReport",
    "connector_fetch_run",
    "connector_search",
]
# Shown per report; the counts are always complete.
REPORT_LIMIT = 50


class ConnectorError(Exception):
    """The connector cannot be used as configured, or nothing could be fetched."""


@dataclass
class FetchReport:
    run: SearchRun | None = None
    queries: int = 0
    queries_ok: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # query external id → error
    unknown_products: Counter = field(default_factory=Counter)  # product id → hits naming it
    problems: list[str] = field(default_factory=list)
    results: int = 0
    new_pairs: int = 0

    def to_dict(self) -> dict:
        return {
            "run": self.run.name if self.run else "",
            "queries": self.queries,
            "queries_ok": self.queries_ok,
            "queries_failed": len(self.failed),
            "failed": dict(list(self.failed.items())[:REPORT_LIMIT]),
            "unknown_products": len(self.unknown_products),
            "unknown_hits": sum(self.unknown_products.values()),
            "unknown_examples": [pid for pid, _ in self.unknown_products.most_common(REPORT_LIMIT)],
            "problems": self.problems[:REPORT_LIMIT],
            "problems_total": len(self.problems),
            "results": self.results,
            "new_pairs": self.new_pairs,
        }

    def __str__(self) -> str:
        run = self.run.name if self.run else "(none)"
        lines = [
            f"run {run}: {self.queries_ok}/{self.queries} queries fetched, {self.results} results, {self.new_pairs} new pairs"
        ]
        if self.unknown_products:
            examples = ", ".join(pid for pid, _ in self.unknown_products.most_common(10))
            lines.append(f"  skipped {len(self.unknown_products)} product id(s) unknown to the catalogue: {examples}")
        for external_id, error in list(self.failed.items())[:10]:
            lines.append(f"  query {external_id} failed: {error}")
        lines += [f"  note: {problem}" for problem in self.problems[:10]]
        return "\n".join(lines)


def connector_headers(connector: SearchConnector) -> dict[str, str]:
    """The connector's plain headers (not the secret), each checked."""
    headers: dict[str, str] = {}
    for name, value in (connector.headers or {}).items():
        problem = header_problem(name, value)
        if problem:
            raise ConnectorError(f"header: {problem}")
        headers[str(name)] = value
    return headers


def connector_secret(connector: SearchConnector, origin: Origin) -> Secret | None:
    """The secret header, if the operator bound it to this project and origin (ConnectorError otherwise)."""
    if not connector.secret_header:
        return None
    try:
        return bound_secret(
            project=connector.project, header=connector.secret_header, env=connector.secret_env or "", origin=origin
        )
    except FetchError as exc:
        raise ConnectorError(str(exc)) from None


def connector_check(connector: SearchConnector) -> Callable[[str, str], None]:
    """The fetcher's check of every hop: the request must look like a search."""
    preset = connector.preset

    def check(method: str, target: str) -> None:
        try:
            check_search_target(preset, method, target)
        except SpecError as exc:
            raise FetchError(f"refused: {exc}") from None

    return check


def connector_origin(connector: SearchConnector) -> Origin:
    try:
        return Origin.of(connector.base_url)
    except FetchError as exc:
        raise ConnectorError(f"base URL: {exc}") from None


def connector_search(
    *, connector: SearchConnector, query_text: str, k: int | None = None, client=None
) -> tuple[list[Hit], list[str]]:
    """The top k of one query: (hits, problems). FetchError/SpecError say what went wrong."""
    k = k or connector.k
    spec = spec_for(connector)
    origin = connector_origin(connector)
    check_path_template(connector.preset, spec.method, spec.path_template)
    url = connector.base_url.rstrip("/") + render_path(spec.path_template, query=query_text, k=k)
    body = render_body(spec.body_template, query=query_text, k=k) if spec.method == "POST" else None
    data = fetch_json(
        url=url,
        origin=origin,
        method=spec.method,
        body=body,
        headers=connector_headers(connector),
        secret=connector_secret(connector, origin),
        check=connector_check(connector),
        timeout=connector.timeout_seconds,
        client=client,
    )
    return parse_hits(data, spec, k)


Progress = Callable[[int, int, Query, str], None]


def connector_fetch_run(
    *,
    connector: SearchConnector,
    queries: Iterable[Query],
    name: str,
    k: int | None = None,
    description: str = "",
    progress: Progress | None = None,
    on_written: Callable[[FetchReport], None] | None = None,
) -> FetchReport:
    """Fetch the top k of every query and store them as a new run named `name`.

    `on_written(report)` runs inside the writing transaction, the run stored: the
    caller's bookkeeping commits with the run, or neither does. Raises ConnectorError when the connector is
    misconfigured, the name is taken, or no query yielded a known product."""
    project = connector.project
    k = k or connector.k
    queries = list(queries)
    name = name.strip()
    max_length = SearchRun._meta.get_field("name").max_length
    if not name or (max_length is not None and len(name) > max_length):
        raise ConnectorError("the run needs a name of at most 200 characters")
    if SearchRun.objects.filter(project=project, name=name).exists():
        raise ConnectorError(f"a run named {name!r} exists already")
    if not queries:
        raise ConnectorError("no queries to fetch")
    # A misconfigured connector (a path that is no search, an unbound or missing secret)
    # fails once, before any request, not once per query.
    origin = connector_origin(connector)
    connector_headers(connector)
    connector_secret(connector, origin)
    spec = spec_for(connector)
    try:
        check_path_template(connector.preset, spec.method, spec.path_template)
        if spec.method == "POST":
            render_body(spec.body_template, query="", k=k)
    except SpecError as exc:
        raise ConnectorError(str(exc)) from None

    report = FetchReport(queries=len(queries))
    fetched: list[tuple[Query, list[Hit]]] = []
    with new_client(connector.timeout_seconds) as client:
        for done, query in enumerate(queries, 1):
            error = ""
            try:
                hits, problems = connector_search(connector=connector, query_text=query.text, k=k, client=client)
            except (FetchError, SpecError, ConnectorError) as exc:
                error = str(exc)
                report.failed[query.external_id] = error
            else:
                report.queries_ok += 1
                report.problems += [f"query {query.external_id}: {p}" for p in problems]
                fetched.append((query, hits))
            if progress:
                progress(done, len(queries), query, error)

    product_ids = external_ids_map(Product, project, {hit.product_id for _, hits in fetched for hit in hits})
    rows = []
    for query, hits in fetched:
        for hit in hits:
            if hit.product_id in product_ids:
                rows.append((query.id, product_ids[hit.product_id], hit.rank, hit.score))
            else:
                report.unknown_products[hit.product_id] += 1
    if not rows:
        first = next(iter(report.failed.values()), "")
        reason = (
            f"every query failed (first error: {first})"
            if first and not fetched
            else "no hit named a product of the catalogue"
        )
        raise ConnectorError(f"nothing to store: {reason}")

    try:
        with transaction.atomic():
            run = SearchRun.objects.create(project=project, name=name, description=description)
            pairs, report.new_pairs = pairs_ensure(project=project, keys=[(q, p) for q, p, _, _ in rows])
            bulk_insert_rows(
                SearchResult,
                ["run", "query", "product", "pair", "rank", "score"],
                [(run.id, q, p, pairs[(q, p)], rank, score) for q, p, rank, score in rows],
            )
            report.run, report.results = run, len(rows)
            if on_written:
                on_written(report)
    except IntegrityError:
        if SearchRun.objects.filter(project=project, name=name).exists():
            raise ConnectorError(f"a run named {name!r} was created meanwhile") from None
        raise
    return report
