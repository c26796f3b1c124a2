"""The audit's findings on connectors, each as a test that failed before the fix:
secrets belong to projects and one origin, allow-listed hosts open one port, requests are
searches only, error bodies are never echoed, malformed JSON never becomes a 500."""

import json

import pytest
from django.core.exceptions import ImproperlyConfigured

from annotation.connectors import ConnectorError, FetchError, SpecError, connector_fetch_run, connector_search
from annotation.connectors.presets import check_path_template, check_search_target, parse_body_template
from annotation.importers import ImportFailed
from annotation.importers.catalogue import products_import
from annotation.models import Product, Query, SearchConnector, SearchRun
from annotation.services import project_create
from tests.fakes.search_engine import FakeSearchEngine

SECRET = "QRELAY_CONNECTOR_SECRET_ES_AUTH"


@pytest.fixture
def engine(settings):
    server = FakeSearchEngine({"red dress": ["p1", "p2"]}).start()
    settings.QRELAY_CONNECTOR_ALLOWED_HOSTS = [f"127.0.0.1:{server.port}"]
    yield server
    server.stop()


@pytest.fixture
def shop_a(db):
    project = project_create(name="shop-a")
    for pid in ("p1", "p2"):
        Product.objects.create(project=project, external_id=pid, title=pid, content_hash=pid * 16)
    Query.objects.create(project=project, external_id="q1", text="red dress", traffic=10)
    return project


@pytest.fixture
def shop_b(db):
    return project_create(name="shop-b")


@pytest.fixture
def bound(settings, engine, monkeypatch):
    """The operator's binding: A's key, for project shop-a, to the engine's origin only."""
    monkeypatch.setenv(SECRET, "ApiKey of-shop-a")
    settings.QRELAY_CONNECTOR_SECRETS = {SECRET: {"origin": engine.base_url, "projects": ["shop-a"]}}
    return settings


def es(project, engine, **fields):
    values = {
        "project": project,
        "name": "es",
        "preset": "elasticsearch",
        "base_url": engine.base_url,
        "path_template": "/products/_search",
        "secret_header": "Authorization",
        "secret_env": SECRET,
        "timeout_seconds": 2,
        **fields,
    }
    return SearchConnector.objects.create(**values)


# --- secrets bound to projects and one origin ----------------------------------------------------


def test_the_bound_project_sends_its_secret_to_the_bound_origin(bound, shop_a, engine):
    hits, _ = connector_search(connector=es(shop_a, engine), query_text="red dress")
    assert [h.product_id for h in hits] == ["p1", "p2"]
    assert engine.requests[0]["headers"]["Authorization"] == "ApiKey of-shop-a"


def test_another_project_cannot_send_a_secret_bound_to_a_project_it_is_not(bound, shop_a, shop_b, engine):
    connector = es(shop_b, engine)
    with pytest.raises(ConnectorError, match="not bound to project shop-b: the operator must bind it"):
        connector_search(connector=connector, query_text="red dress")
    with pytest.raises(ConnectorError, match="operator must bind it"):
        connector_fetch_run(connector=connector, queries=Query.objects.filter(project=shop_a), name="x")
    assert engine.requests == []


def test_an_unbound_secret_is_refused(settings, shop_a, engine, monkeypatch):
    monkeypatch.setenv(SECRET, "ApiKey of-shop-a")
    settings.QRELAY_CONNECTOR_SECRETS = {}
    with pytest.raises(ConnectorError, match="the operator must bind it"):
        connector_search(connector=es(shop_a, engine), query_text="red dress")
    assert engine.requests == []


def test_a_bound_secret_is_not_sent_to_another_origin(bound, shop_a, engine):
    other = FakeSearchEngine({"red dress": ["p1"]}).start()
    try:
        bound.QRELAY_CONNECTOR_ALLOWED_HOSTS += [f"127.0.0.1:{other.port}"]
        with pytest.raises(ConnectorError, match=f"may only be sent to http://127.0.0.1:{engine.port}"):
            connector_search(connector=es(shop_a, other, name="elsewhere"), query_text="red dress")
        assert other.requests == []
    finally:
        other.stop()


def test_a_secret_is_refused_when_the_fetcher_would_send_it_elsewhere(bound, shop_a, engine):
    # The fetcher holds every hop to the connector's origin and the secret to its bound
    # one: a redirect elsewhere is refused before anything is sent there.
    engine.faults["/products"] = {"redirect": f"http://localhost:{engine.port}/products/_search", "status": 307}
    with pytest.raises(FetchError, match="refused to leave"):
        connector_search(connector=es(shop_a, engine), query_text="red dress")
    assert len(engine.requests) == 1


def test_the_bindings_setting_is_parsed_strictly(monkeypatch):
    from config.settings import _connector_secrets

    monkeypatch.setenv(
        "QRELAY_CONNECTOR_SECRETS", json.dumps({SECRET: {"origin": "https://ES.internal/", "projects": ["shop-a", 7]}})
    )
    assert _connector_secrets() == {SECRET: {"origin": "https://es.internal:443", "projects": ["shop-a", 7]}}
    bad = [
        "{nope",
        "[]",
        json.dumps({"DATABASE_URL": {"origin": "https://es.internal", "projects": ["a"]}}),
        json.dumps({SECRET: {"origin": "https://es.internal/path", "projects": ["a"]}}),
        json.dumps({SECRET: {"origin": "ftp://es.internal", "projects": ["a"]}}),
        json.dumps({SECRET: {"origin": "https://es.internal", "projects": []}}),
        json.dumps({SECRET: {"origin": "https://es.internal"}}),
        json.dumps({SECRET: {"origin": "https://es.internal", "projects": [True]}}),
    ]
    for value in bad:
        monkeypatch.setenv("QRELAY_CONNECTOR_SECRETS", value)
        with pytest.raises(ImproperlyConfigured, match="QRELAY_CONNECTOR_SECRETS"):
            _connector_secrets()


# --- allow-listed hosts open one port --------------------------------------------------------------


def test_an_allow_listed_host_without_a_port_opens_only_80_and_443(settings, shop_a, engine):
    connector = es(shop_a, engine, secret_header="", secret_env="")
    settings.QRELAY_CONNECTOR_ALLOWED_HOSTS = ["127.0.0.1"]
    with pytest.raises(FetchError, match=f"host:port for port {engine.port}"):
        connector_search(connector=connector, query_text="red dress")
    settings.QRELAY_CONNECTOR_ALLOWED_HOSTS = [f"127.0.0.1:{engine.port + 1}", "127.0.0.0/8"]
    with pytest.raises(FetchError, match="private, loopback"):
        connector_search(connector=connector, query_text="red dress")
    assert engine.requests == []
    settings.QRELAY_CONNECTOR_ALLOWED_HOSTS = [f"127.0.0.0/8:{engine.port}"]
    assert len(connector_search(connector=connector, query_text="red dress")[0]) == 2


# --- searches only ----------------------------------------------------------------------------------


DESTRUCTIVE = [
    ("elasticsearch", "POST", "/products/_delete_by_query"),
    ("elasticsearch", "POST", "/_bulk"),
    ("elasticsearch", "POST", "/products/_update/1"),
    ("elasticsearch", "POST", "/products/_doc/1"),
    ("elasticsearch", "GET", "/products/_search/../_delete_by_query"),
    ("elasticsearch", "POST", "/products/_search?refresh=true"),
    ("elasticsearch", "POST", "/.security/_search"),
    ("generic", "POST", "/products/_delete_by_query"),
    ("generic", "POST", "/products/delete"),
    ("generic", "GET", "/products/_bulk"),
    ("generic", "GET", "/search/../admin"),
    ("generic", "GET", "/search/%2e%2e/admin"),
    ("generic", "GET", "/search?q={query}&_method=DELETE"),
    ("generic", "GET", "/search?q={query}#frag"),
    ("generic", "GET", "/{query}/_search"),
    ("generic", "GET", "/search?q={query}&x=a/b"),
]


@pytest.mark.parametrize("preset, method, path", DESTRUCTIVE)
def test_a_path_that_is_no_search_is_refused(preset, method, path):
    with pytest.raises(SpecError):
        check_path_template(preset, method, path)


@pytest.mark.parametrize(
    "preset, method, path",
    [
        ("elasticsearch", "POST", "/_search"),
        ("elasticsearch", "POST", "/products/_search"),
        ("elasticsearch", "GET", "/logs-*,shop/_search"),
        ("generic", "GET", "/search?q={query}&k={k}"),
        ("generic", "GET", "/v1/products/_search?q=title:{query}&size={k}"),
        ("generic", "POST", "/indexes/shop/search"),
        ("generic", "POST", "/search/"),
    ],
)
def test_searches_are_allowed(preset, method, path):
    check_path_template(preset, method, path)


def test_the_fetcher_refuses_a_destructive_path_saved_behind_the_form(settings, shop_a, engine):
    connector = es(shop_a, engine, secret_header="", secret_env="", path_template="/products/_delete_by_query")
    with pytest.raises(SpecError, match="not a search"):
        connector_search(connector=connector, query_text="red dress")
    with pytest.raises(ConnectorError, match="not a search"):
        connector_fetch_run(connector=connector, queries=Query.objects.filter(project=shop_a), name="x")
    assert engine.requests == [] and not SearchRun.objects.exists()


def test_a_redirect_to_a_destructive_path_on_the_same_origin_is_refused(settings, shop_a, engine):
    engine.faults["/products"] = {"redirect": "/products/_delete_by_query", "status": 307}
    connector = es(shop_a, engine, secret_header="", secret_env="")
    with pytest.raises(FetchError, match="refused: .*not a search"):
        connector_search(connector=connector, query_text="red dress")
    assert [r["path"] for r in engine.requests] == ["/products/_search"]


def test_the_rendered_target_is_checked_too():
    with pytest.raises(SpecError):
        check_search_target("generic", "DELETE", "/search?q=x")
    check_search_target("generic", "GET", "/search?q=red%20dress&k=10")


# --- no echoed error bodies ---------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 403, 500])
def test_an_error_answer_is_reported_by_status_without_its_body(settings, shop_a, engine, status):
    engine.faults["/"] = {"status": status, "body": b'{"error": "index shop-a-private: doc {secret-data}"}'}
    with pytest.raises(FetchError) as caught:
        connector_search(connector=es(shop_a, engine, secret_header="", secret_env=""), query_text="red dress")
    assert f"HTTP {status}" in str(caught.value) and "secret-data" not in str(caught.value)


# --- malformed answers and templates -------------------------------------------------------------


@pytest.mark.parametrize(
    "body, message",
    [
        (b"[" * 5000 + b"]" * 5000, "not valid JSON: nested too deeply"),
        (b'{"hits": {"hits": ' + b"[" * 200 + b"]" * 200 + b"}}", "nested more than 100 levels"),
        (b'{"hits": {"hits": [{"_id": NaN}]}}', "not valid JSON"),
    ],
)
def test_a_malformed_answer_is_a_clear_error(settings, shop_a, engine, body, message):
    engine.faults["/"] = {"body": body}
    with pytest.raises(FetchError, match=message):
        connector_search(connector=es(shop_a, engine, secret_header="", secret_env=""), query_text="red dress")


def test_ids_with_nul_or_lone_surrogates_are_reported_not_stored(settings, shop_a, engine):
    engine.faults["/"] = {"body": b'{"hits": {"hits": [{"_id": "p\\u0000"}, {"_id": "\\ud800"}, {"_id": "p1"}]}}'}
    connector = es(shop_a, engine, secret_header="", secret_env="", k=3)
    report = connector_fetch_run(connector=connector, queries=Query.objects.filter(project=shop_a), name="odd")
    assert report.results == 1 and len(report.problems) == 2 and "invalid Unicode" in report.problems[0]


@pytest.mark.parametrize(
    "template, message",
    [
        ('{"a": ' * 2000 + "1" + "}" * 2000, "nested"),
        ('{"a": ' * 40 + "1" + "}" * 40, "nested more than 32"),
        ('{"size": NaN}', "NaN is not valid JSON"),
        ('{"q": "\\u0000"}', "NUL"),
        ('{"q": "\\udc00"}', "lone surrogate"),
    ],
)
def test_a_malformed_body_template_is_a_clear_error(template, message):
    with pytest.raises(SpecError, match=message):
        parse_body_template(template)


# --- imports' JSONL ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"product_id": "x", "title": "t", "attributes": ' + "[" * 5000 + "]" * 5000 + "}", "nested"),
        ('{"product_id": "x", "title": "t", "attributes": ' + "[" * 100 + "]" * 100 + "}", "nested more than 64"),
        ('{"product_id": "x\\u0000", "title": "t"}', "NUL character"),
        ('{"product_id": "x", "title": "\\ud800"}', "lone surrogate"),
        ('{"product_id": "x", "title": "t", "attributes": {"w": NaN}}', "NaN is not valid JSON"),
        ('{"product_id": "x", "title": "t", "attributes": {"w": -Infinity}}', "-Infinity is not valid JSON"),
    ],
)
def test_malformed_jsonl_lines_are_problems_not_500s(db, tmp_path, line, message):
    project = project_create(name="imports")
    path = tmp_path / "products.jsonl"
    path.write_text('{"product_id": "ok", "title": "fine"}\n' + line + "\n")
    with pytest.raises(ImportFailed) as caught:
        products_import(project=project, path=path)
    assert caught.value.problems[0].line == 2 and message in caught.value.problems[0].message
    assert not Product.objects.filter(project=project).exists()
