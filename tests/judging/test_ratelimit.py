"""The shared requests/tokens-per-minute budget: Redis-backed token buckets that every
limiter with the same key (every worker process) draws from, and the in-memory fallback
that behaves the same. Waits are computed, not measured: no wall-clock assertions."""

import asyncio
import uuid

import pytest
import redis
from django.conf import settings

from judging.ratelimit import BURST_SECONDS, RateLimiter


@pytest.fixture
def redis_key():
    """A fresh bucket key; its Redis keys are deleted afterwards."""
    key = f"test-{uuid.uuid4().hex}"
    yield key
    client = redis.Redis.from_url(settings.QRELAY_REDIS_URL)
    client.delete(f"qrelay:rl:{key}:req", f"qrelay:rl:{key}:tok")


@pytest.fixture(params=["redis", "local"])
def limiters(request, redis_key):
    """limiters(n, rpm, tpm) → n limiters sharing one budget: n instances on the same
    Redis key, or (local fallback, one process) one instance used n times."""

    def make(n: int, *, requests_per_minute: int = 0, tokens_per_minute: int = 0) -> list[RateLimiter]:
        if request.param == "redis":
            url = settings.QRELAY_REDIS_URL
            assert url, "the tests run with Redis"
            return [
                RateLimiter(
                    key=redis_key,
                    requests_per_minute=requests_per_minute,
                    tokens_per_minute=tokens_per_minute,
                    redis_url=url,
                )
                for _ in range(n)
            ]
        shared = RateLimiter(
            key=redis_key, requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute, redis_url=None
        )
        return [shared] * n

    return make


def test_two_limiters_share_one_request_budget_of_ten_seconds(limiters):
    first, second = limiters(2, requests_per_minute=60)  # 1 request/s, capacity 10

    waits = [(first if i % 2 else second).reserve(tokens=0) for i in range(10)]

    assert BURST_SECONDS == 10.0
    assert waits == [0.0] * 10
    assert 0 < first.reserve(tokens=0) <= 1.0
    assert 0 < second.reserve(tokens=0) <= 1.0


def test_separate_keys_have_separate_budgets(redis_key):
    url = settings.QRELAY_REDIS_URL
    mine = RateLimiter(key=redis_key, requests_per_minute=6, tokens_per_minute=0, redis_url=url)  # capacity 1
    other_key = f"{redis_key}-other"
    theirs = RateLimiter(key=other_key, requests_per_minute=6, tokens_per_minute=0, redis_url=url)
    try:
        assert mine.reserve(tokens=0) == 0
        assert mine.reserve(tokens=0) > 0
        assert theirs.reserve(tokens=0) == 0
    finally:
        redis.Redis.from_url(url).delete(f"qrelay:rl:{other_key}:req", f"qrelay:rl:{other_key}:tok")


def test_a_refused_reservation_takes_nothing_from_the_budget(limiters):
    first, second = limiters(2, tokens_per_minute=600)  # 10 tokens/s, capacity 100

    assert first.reserve(tokens=80) == 0
    wait = second.reserve(tokens=50)  # about 20 left: refused
    assert 0 < wait <= 3.0
    assert first.reserve(tokens=20) == 0  # the refused 50 were not taken
    assert second.reserve(tokens=20) > 0


def test_the_request_and_token_buckets_both_apply(limiters):
    first, second = limiters(2, requests_per_minute=600, tokens_per_minute=600)  # capacity 100 requests, 100 tokens

    assert first.reserve(tokens=100) == 0
    assert second.reserve(tokens=10) > 0  # plenty of requests left, no tokens


def test_a_call_larger_than_the_burst_still_passes_when_the_bucket_is_full(limiters):
    (limiter,) = limiters(1, tokens_per_minute=60)  # capacity 10 tokens

    assert limiter.reserve(tokens=500) == 0
    assert limiter.reserve(tokens=1) > 0


def test_acquire_waits_for_the_budget_then_takes_it(limiters):
    first, second = limiters(2, requests_per_minute=120)  # 2/s, capacity 20
    for i in range(20):
        assert (first if i % 2 else second).reserve(tokens=0) == 0
    assert first.reserve(tokens=0) > 0

    asyncio.run(second.acquire(tokens=0))  # about 0.5 s until one request is back

    assert first.reserve(tokens=0) > 0, "acquire took the request that came back"


def test_a_limiter_without_limits_is_inactive_and_never_waits(redis_key):
    limiter = RateLimiter(
        key=redis_key, requests_per_minute=0, tokens_per_minute=0, redis_url=settings.QRELAY_REDIS_URL
    )

    assert not limiter.active
    for _ in range(100):
        asyncio.run(limiter.acquire(tokens=10_000))
    assert not redis.Redis.from_url(settings.QRELAY_REDIS_URL).exists(f"qrelay:rl:{redis_key}:req")
