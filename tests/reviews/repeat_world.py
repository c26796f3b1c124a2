"""The repeat tests' world (tests/reviews/test_repeat*.py; fixtures re-exported by the
conftest): a loopback search engine, fetch tasks recorded instead of sent, and a
schedule over its catalogue."""

import pytest

from annotation.models import Product, Query, RepeatSchedule, SearchConnector
from reviews.repeat import services as repeat
from tests.fakes.search_engine import FakeSearchEngine

PRODUCTS = {
    "p1": "Red Silk Evening Dress",
    "p2": "Black Leather Ankle Boots",
    "p3": "Blue Denim Jeans",
    "p4": "Red Cotton Summer Dress",
}
GOOD = {"red dress": ["p1", "p4", "p2"], "black boots": ["p2", "p3", "p1"]}
BAD = {"red dress": ["p2", "p3", "p1"], "black boots": ["p3", "p1", "p2"]}


@pytest.fixture
def engine(settings):
    server = FakeSearchEngine(GOOD).start()
    settings.QRELAY_CONNECTOR_ALLOWED_HOSTS = [f"127.0.0.1:{server.port}"]
    yield server
    server.stop()


@pytest.fixture
def sent(monkeypatch):
    """Fetch tasks handed to a worker, by snapshot id (instead of the broker)."""
    calls: list[int] = []
    monkeypatch.setattr(repeat, "_enqueue_fetch", calls.append)
    return calls


@pytest.fixture
def schedule(project, engine, policy):
    for pid, title in PRODUCTS.items():
        Product.objects.create(project=project, external_id=pid, title=title, content_hash=pid * 16)
    for n, (text, traffic) in enumerate([("red dress", 500), ("black boots", 300), ("green hat", 1)], 1):
        Query.objects.create(project=project, external_id=f"q{n}", text=text, traffic=traffic)
    connector = SearchConnector.objects.create(
        project=project,
        name="es",
        preset="elasticsearch",
        base_url=engine.base_url,
        path_template="/shop/_search",
        k=3,
        timeout_seconds=2,
    )
    return RepeatSchedule.objects.create(connector=connector, top_n=2, k=3, margin=0.05, interval_minutes=60)
