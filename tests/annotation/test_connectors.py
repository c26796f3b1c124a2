"""Search-engine connectors against a real HTTP server on loopback (allowed through
QRELAY_CONNECTOR_ALLOWED_HOSTS, as an operator would allow an internal engine)."""

import io
import json

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from annotation.connectors import ConnectorError, FetchError, SpecError, connector_fetch_run, connector_search
from annotation.connectors.presets import get_path, render_body
from annotation.models import Pair, Product, Query, SearchConnector, SearchResult, SearchRun
from annotation.services import project_create
from tests.fakes.search_engine import FakeSearchEngine

CATALOGUE = ["p1", "p2", "p3", "p4"]


@pytest.fixture
def engine():
    server = FakeSearchEngine(
        {
            "red dress": ["p1", "p2", "p3"],
            "black boots": ["p3", "p4"],
            "red & blue dress": ["p2"],
            "rain jacket": ["p4", "p1"],
        }
    ).start()
    yield server
    server.stop()


@pytest.fixture
def allow_loopback(settings, engine):
    # The engine's own port: an entry without one opens 80 and 443 only.
    settings.QRELAY_CONNECTOR_ALLOWED_HOSTS = [f"127.0.0.1:{engine.port}"]
    return settings


@pytest.fixture
def project(db):
    project = project_create(name="retrieve")
    for pid in CATALOGUE:
        Product.objects.create(project=project, external_id=pid, title=f"Product {pid}", content_hash=pid * 16)
    for n, (text, traffic) in enumerate([("red dress", 900), ("black boots", 500), ("red & blue dress", 50)], 1):
        Query.objects.create(project=project, external_id=f"q{n}", text=text, traffic=traffic)
    return project


@pytest.fixture
def es(project, engine):
    return SearchConnector.objects.create(
        project=project,
        name="es",
        preset="elasticsearch",
        base_url=engine.base_url,
        path_template="/products/_search",
        k=2,
        timeout_seconds=2,
    )


@pytest.fixture
def generic(project, engine):
    return SearchConnector.objects.create(
        project=project,
        name="api",
        preset="generic",
        base_url=engine.base_url + "/",
        path_template="/search?q={query}&k={k}",
        hits_path="/data/items",
        id_path="product.sku",
        score_path="relevance",
        timeout_seconds=2,
    )


def queries(project):
    return list(Query.objects.filter(project=project).order_by("-traffic"))


def results_of(run):
    return [
        (r.query.external_id, r.product.external_id, r.rank, r.score)
        for r in SearchResult.objects.filter(run=run).order_by("query__external_id", "rank")
    ]


# --- fetching runs ------------------------------------------------------------------------


def test_it_fetches_a_run_from_elasticsearch_like_the_run_importer(allow_loopback, project, es, engine, monkeypatch):
    monkeypatch.setenv("QRELAY_CONNECTOR_SECRET_ES_AUTH", "ApiKey s3cret")
    allow_loopback.QRELAY_CONNECTOR_SECRETS = {
        "QRELAY_CONNECTOR_SECRET_ES_AUTH": {"origin": engine.base_url, "projects": ["retrieve"]}
    }
    es.headers = {"X-Team": "search"}
    es.secret_header, es.secret_env = "Authorization", "QRELAY_CONNECTOR_SECRET_ES_AUTH"
    es.save()

    report = connector_fetch_run(connector=es, queries=queries(project), name="es-nightly")

    assert results_of(report.run) == [
        ("q1", "p1", 1, 10.0),
        ("q1", "p2", 2, 9.0),
        ("q2", "p3", 1, 10.0),
        ("q2", "p4", 2, 9.0),
        ("q3", "p2", 1, 10.0),
    ]
    assert report.results == 5 and report.new_pairs == 5 and Pair.objects.filter(project=project).count() == 5
    first = engine.requests[0]
    assert (first["method"], first["path"]) == ("POST", "/products/_search")
    assert first["body"]["size"] == 2 and first["body"]["query"]["multi_match"]["query"] == "red dress"
    assert first["headers"]["Authorization"] == "ApiKey s3cret" and first["headers"]["X-Team"] == "search"


def test_a_second_run_shares_the_pairs_of_the_first(allow_loopback, project, es):
    connector_fetch_run(connector=es, queries=queries(project), name="monday")
    report = connector_fetch_run(connector=es, queries=queries(project), name="tuesday")
    assert report.new_pairs == 0 and report.results == 5 and Pair.objects.filter(project=project).count() == 5


def test_generic_json_api_with_pointer_and_nested_id_paths_and_an_encoded_query(
    allow_loopback, project, generic, engine
):
    hits, problems = connector_search(connector=generic, query_text="red & blue dress")
    assert [(h.rank, h.product_id, h.score) for h in hits] == [(1, "p2", 1.0)] and problems == []
    assert engine.requests[-1]["params"] == {"q": ["red & blue dress"], "k": ["10"]}


def test_unknown_product_ids_are_reported_and_skipped(allow_loopback, project, es, engine):
    engine.results["red dress"] = ["p1", "ghost-1", "p2"]
    es.k = 3
    report = connector_fetch_run(connector=es, queries=queries(project)[:1], name="with-ghosts")
    assert results_of(report.run) == [("q1", "p1", 1, 10.0), ("q1", "p2", 3, 8.0)]
    assert report.unknown_products == {"ghost-1": 1}
    assert "ghost-1" in str(report) and report.to_dict()["unknown_examples"] == ["ghost-1"]


def test_a_failing_query_is_reported_and_the_others_are_stored(allow_loopback, project, es, engine):
    engine.query_faults["black boots"] = {"status": 500, "body": b'{"error": "shard failure"}'}
    report = connector_fetch_run(connector=es, queries=queries(project), name="partial")
    assert set(report.failed) == {"q2"} and "HTTP 500" in report.failed["q2"]
    assert "shard failure" not in report.failed["q2"]  # the engine's body is never echoed
    assert {q for q, *_ in results_of(report.run)} == {"q1", "q3"}


def test_nothing_is_stored_when_every_query_fails(allow_loopback, project, es, engine):
    engine.faults["/"] = {"status": 503}
    with pytest.raises(ConnectorError, match="every query failed"):
        connector_fetch_run(connector=es, queries=queries(project), name="down")
    assert not SearchRun.objects.filter(name="down").exists()


def test_a_taken_run_name_or_a_missing_secret_fails_before_any_request(allow_loopback, project, es, engine):
    allow_loopback.QRELAY_CONNECTOR_SECRETS = {
        "QRELAY_CONNECTOR_SECRET_UNSET": {"origin": engine.base_url, "projects": [project.id]}
    }
    SearchRun.objects.create(project=project, name="taken")
    with pytest.raises(ConnectorError, match="exists already"):
        connector_fetch_run(connector=es, queries=queries(project), name="taken")
    es.secret_header, es.secret_env = "Authorization", "QRELAY_CONNECTOR_SECRET_UNSET"
    with pytest.raises(ConnectorError, match="QRELAY_CONNECTOR_SECRET_UNSET.*is not set"):
        connector_fetch_run(connector=es, queries=queries(project), name="new")
    assert engine.requests == []


def test_a_connector_never_sends_a_server_variable_outside_the_connector_prefix(
    allow_loopback, project, es, engine, monkeypatch
):
    # A lead pointing a connector at their own server must not read DATABASE_URL, SECRET_KEY…
    monkeypatch.setenv("DATABASE_URL_LEAK_TEST", "postgres://secret")
    es.secret_header, es.secret_env = "X-Leak", "DATABASE_URL_LEAK_TEST"

    with pytest.raises(ConnectorError, match="must start with QRELAY_CONNECTOR_SECRET_"):
        connector_fetch_run(connector=es, queries=queries(project), name="leak")

    assert engine.requests == []


# --- what the fetcher refuses -----------------------------------------------------------------


def test_loopback_is_refused_unless_the_operator_allows_it(settings, project, es, engine):
    settings.QRELAY_CONNECTOR_ALLOWED_HOSTS = []
    with pytest.raises(FetchError, match="private, loopback or link-local"):
        connector_search(connector=es, query_text="red dress")
    settings.QRELAY_CONNECTOR_ALLOWED_HOSTS = [f"127.0.0.0/8:{engine.port}"]  # a network works too
    assert [h.product_id for h in connector_search(connector=es, query_text="red dress")[0]] == ["p1", "p2"]
    assert len(engine.requests) == 1


@pytest.mark.parametrize(
    "base_url",
    [
        "http://10.1.2.3:9200",
        "http://169.254.169.254",
        "http://[::1]:9200",
        "http://0.0.0.0:80",
        # IPv6 addresses carrying an IPv4 one a gateway would forward to: NAT64, 6to4, IPv4-compatible.
        "http://[64:ff9b::a00:1]:9200",
        "http://[2002:a9fe:a9fe::1]",
        "http://[::7f00:1]:9200",
    ],
)
def test_private_link_local_and_unspecified_addresses_are_refused(allow_loopback, project, base_url):
    connector = SearchConnector.objects.create(project=project, name="internal", base_url=base_url, timeout_seconds=1)
    with pytest.raises(FetchError, match="private, loopback or link-local"):
        connector_search(connector=connector, query_text="red dress")


@pytest.mark.parametrize("base_url", ["file:///etc/passwd", "ftp://127.0.0.1/", "http://user:pw@127.0.0.1/"])
def test_other_schemes_and_credentials_in_the_url_are_refused(allow_loopback, project, base_url):
    connector = SearchConnector.objects.create(project=project, name="odd", base_url=base_url)
    with pytest.raises(ConnectorError, match="base URL"):
        connector_search(connector=connector, query_text="red dress")


def test_a_redirect_to_another_host_is_refused(allow_loopback, project, es, engine):
    engine.faults["/products"] = {"redirect": f"http://localhost:{engine.port}/other/_search", "status": 307}
    with pytest.raises(FetchError, match="refused to leave http://127.0.0.1"):
        connector_search(connector=es, query_text="red dress")
    assert [r["path"] for r in engine.requests] == ["/products/_search"]


@pytest.mark.parametrize(
    "target", ["https://127.0.0.1:{port}/x", "http://127.0.0.1:{other}/x"], ids=["other-scheme", "other-port"]
)
def test_a_redirect_to_another_scheme_or_port_of_the_same_host_is_refused(allow_loopback, project, es, engine, target):
    engine.faults["/products"] = {"redirect": target.format(port=engine.port, other=engine.port + 1), "status": 307}
    with pytest.raises(FetchError, match="refused to leave"):
        connector_search(connector=es, query_text="red dress")
    assert len(engine.requests) == 1


def test_a_redirect_on_the_same_host_is_followed_and_keeps_the_post(allow_loopback, project, es, engine):
    engine.faults["/products"] = {"redirect": "/moved/_search", "status": 308}
    hits, _ = connector_search(connector=es, query_text="red dress")
    assert [h.product_id for h in hits] == ["p1", "p2"]
    assert [(r["method"], r["path"]) for r in engine.requests] == [
        ("POST", "/products/_search"),
        ("POST", "/moved/_search"),
    ]


def test_endless_redirects_stop(allow_loopback, project, es, engine, settings):
    settings.QRELAY_CONNECTOR_MAX_REDIRECTS = 2
    engine.faults["/"] = {"redirect": "/products/_search", "status": 307}
    with pytest.raises(FetchError, match="too many redirects"):
        connector_search(connector=es, query_text="red dress")
    assert len(engine.requests) == 3


@pytest.mark.parametrize("chunked", [False, True], ids=["declared-length", "streamed"])
def test_an_oversize_answer_is_refused(allow_loopback, project, es, engine, settings, chunked):
    settings.QRELAY_CONNECTOR_MAX_BYTES = 4096
    engine.faults["/"] = {"size": 200_000, "chunked": chunked}
    with pytest.raises(FetchError, match="limit of 4096 bytes"):
        connector_search(connector=es, query_text="red dress")


def test_a_hanging_engine_times_out(allow_loopback, project, es, engine):
    es.timeout_seconds = 1
    engine.faults["/"] = {"hang": 3}
    with pytest.raises(FetchError, match="no answer from 127.0.0.1 within 1 s"):
        connector_search(connector=es, query_text="red dress")


@pytest.mark.parametrize(
    "fault, message",
    [
        ({"content_type": "text/html", "body": b"<html>login</html>"}, "answered text/html, not JSON"),
        ({"body": b"{not json"}, "not valid JSON"),
    ],
)
def test_only_json_answers_are_accepted(allow_loopback, project, es, engine, fault, message):
    engine.faults["/"] = fault
    with pytest.raises(FetchError, match=message):
        connector_search(connector=es, query_text="red dress")


def test_a_wrong_path_to_the_hits_is_a_clear_error_and_a_wrong_id_path_is_reported(allow_loopback, project, es):
    es.hits_path = "results"
    with pytest.raises(SpecError, match="no 'results' in the answer"):
        connector_search(connector=es, query_text="red dress")
    es.hits_path, es.id_path = "hits.hits", "_source.sku"
    hits, problems = connector_search(connector=es, query_text="red dress")
    assert hits == [] and problems == ["hit 1 has no '_source.sku'", "hit 2 has no '_source.sku'"]


# --- the pure helpers ---------------------------------------------------------------------------


def test_a_query_cannot_break_out_of_its_json_string():
    template = json.dumps({"size": "{k}", "query": {"match": {"title": "{query}"}}, "note": "q={query}"})
    body = render_body(template, query='x"}, "size": 10000, "a": {"', k=5)
    assert body == {
        "size": 5,
        "query": {"match": {"title": 'x"}, "size": 10000, "a": {"'}},
        "note": 'q=x"}, "size": 10000, "a": {"',
    }


def test_paths_are_dotted_or_json_pointers():
    data = {"a": {"b/c": [{"id": 7}]}, "x": [1, 2]}
    assert get_path(data, "/a/b~1c/0/id") == 7 and get_path(data, "x.1") == 2 and get_path(data, "") == data
    with pytest.raises(KeyError):
        get_path(data, "a.missing")


def test_the_allow_list_setting_is_parsed_strictly(monkeypatch):
    from config.settings import _connector_allowed_hosts

    monkeypatch.setenv(
        "QRELAY_CONNECTOR_ALLOWED_HOSTS",
        "Search.Internal, 10.0.0.0/8 ,::1, search.internal:9200, 10.0.0.0/8:9200, [FD00::/8]:9200, [::1]",
    )
    assert _connector_allowed_hosts() == [
        "search.internal",
        "10.0.0.0/8",
        "::1",
        "search.internal:9200",
        "10.0.0.0/8:9200",
        "[fd00::/8]:9200",
        "::1",
    ]
    bad_entries = ("http://search.internal", "search.internal:0", "search.internal:x", "10.0.0.0/33", "a b")
    for bad in bad_entries + ("[10.0.0.1]:80", "[::1", "search.internal/x", "host:99999"):
        monkeypatch.setenv("QRELAY_CONNECTOR_ALLOWED_HOSTS", bad)
        with pytest.raises(ImproperlyConfigured):
            _connector_allowed_hosts()


# --- the command ----------------------------------------------------------------------------------


def test_fetch_run_command_fetches_the_top_queries_with_progress(allow_loopback, project, es, engine):
    out = io.StringIO()
    call_command(
        "fetch_run", "--project", "retrieve", "--connector", "es", "--top", "2", "--k", "1", "--name", "cli", stdout=out
    )
    run = SearchRun.objects.get(project=project, name="cli")
    assert results_of(run) == [("q1", "p1", 1, 10.0), ("q2", "p3", 1, 10.0)]
    text = out.getvalue()
    assert "[2/2]" in text and "2/2 queries fetched, 2 results" in text


def test_fetch_run_command_names_unknown_connectors(allow_loopback, project, es):
    with pytest.raises(CommandError, match="no connector 'nope'.*es"):
        call_command("fetch_run", "--project", "retrieve", "--connector", "nope")
