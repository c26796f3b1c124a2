"""The backends' three steps (guideline, description, judgment): validation, bounded
retries of invalid answers, in-task retries of transient errors, confidence. The
OpenAI backend talks HTTP to the fake server; no database is needed."""

import asyncio
import base64
import json

import pytest

from judging import backends
from judging.backends import (
    BACKOFF_CAP,
    INVALID_RETRIES,
    TRANSIENT_ATTEMPTS,
    OfflineBackend,
    OpenAIBackend,
    _label_probability,
    _verdict_from_samples,
    backoff_delay,
)
from judging.contracts import GuidelineDraft, LevelInfo, ProductContext, QueryContext, Requirement
from judging.llm_client import Choice, LLMCallError, LLMClient
from tests.fakes.openai_server import FakeOpenAIServer

from .conftest import png

LEVELS = [LevelInfo(0, "irrelevant"), LevelInfo(1, "acceptable substitute"), LevelInfo(2, "highly relevant")]
QUERY = QueryContext(text="red dress not white", locale="en-GB", vocabulary={"colours": ["red", "white"]})
GUIDELINE = GuidelineDraft(
    requirements=[
        Requirement("product_type", "dress", 1.0),
        Requirement("colour", "red", 0.8),
        Requirement("colour", "white", 1.0, True),
    ],
    text="A red dress, not a white one.",
)
RED_DRESS = ProductContext(
    external_id="p1", title="Red Silk Evening Dress", category="Clothing > Dresses", attributes={"colour": "red"}
)
BOOTS = ProductContext(
    external_id="p2", title="Black Leather Ankle Boots", category="Shoes > Boots", attributes={"colour": "black"}
)


class RecordingLimiter:
    def __init__(self):
        self.acquired: list[int] = []

    async def acquire(self, *, tokens: int) -> None:
        self.acquired.append(tokens)


def run(server: FakeOpenAIServer, step, *, limiter=None, api_key: str = "test-key"):
    """Run step(backend) on a fresh OpenAIBackend in its own event loop."""

    async def go():
        client = LLMClient(base_url=server.base_url, api_key=api_key, timeout=5.0)
        backend = OpenAIBackend(client=client, guideline_model="g", vision_model="v", judge_model="j", limiter=limiter)
        try:
            return await step(backend)
        finally:
            await client.aclose()

    return asyncio.run(go())


def judge(backend, product=RED_DRESS, **kwargs):
    return backend.judge(query=QUERY, guideline=GUIDELINE, product=product, levels=LEVELS, mode="text", **kwargs)


@pytest.fixture(autouse=True)
def _no_backoff_waits(fast_backoff):
    return fast_backoff


# --- judgment -------------------------------------------------------------------------


def test_a_judgment_is_the_models_label_with_its_rationale_and_usage(fake_llm):
    good = run(fake_llm, judge)
    bad = run(fake_llm, lambda b: judge(b, BOOTS))

    assert (good.ok, good.value.value, good.model, good.usage.calls) == (True, 2, "j", 1)
    assert good.value.rationale and good.value.confidence is None
    assert "product_type=dress" in good.value.requirements_met
    assert bad.value.value == 0
    assert good.usage.tokens_in == good.raw[0]["usage"]["prompt_tokens"] > 0


@pytest.mark.parametrize("kind", ["invalid_json", "wrong_label", "refusal", "truncated", "missing_field"])
def test_an_invalid_judgment_is_retried_at_most_twice(kind, fake_llm):
    fake_llm.inject(kind, count=INVALID_RETRIES, match_task="judgment")
    recovered = run(fake_llm, judge)
    fake_llm.inject(kind, count=INVALID_RETRIES + 1, match_task="judgment")
    given_up = run(fake_llm, judge)

    assert (recovered.ok, recovered.value.value, recovered.usage.calls, len(recovered.raw)) == (True, 2, 3, 3)
    assert (given_up.ok, given_up.value, given_up.usage.calls) == (False, None, 3)
    assert "no valid label" in given_up.error
    assert fake_llm.calls_by_task["judgment"] == 6
    assert given_up.usage.tokens_in == sum(raw["usage"]["prompt_tokens"] for raw in given_up.raw)


def test_transient_errors_are_retried_then_raised_for_the_task(fake_llm, fast_backoff):
    limiter = RecordingLimiter()
    fake_llm.inject("500", count=TRANSIENT_ATTEMPTS - 1)
    survived = run(fake_llm, judge, limiter=limiter)
    fake_llm.inject("500", count=TRANSIENT_ATTEMPTS)

    with pytest.raises(LLMCallError) as failure:
        run(fake_llm, judge)

    assert survived.ok and survived.usage.calls == 1
    assert failure.value.retryable and failure.value.status == 500
    assert fake_llm.calls_by_task["judgment"] == 2 * TRANSIENT_ATTEMPTS
    assert len(fast_backoff) == 2 * (TRANSIENT_ATTEMPTS - 1)
    # Every attempt, retries included, draws on the shared rate budget.
    assert len(limiter.acquired) == TRANSIENT_ATTEMPTS and min(limiter.acquired) > 300


def test_a_non_retryable_error_is_raised_at_once():
    with FakeOpenAIServer(api_key="right") as server:
        with pytest.raises(LLMCallError) as failure:
            run(server, judge, api_key="wrong")
        assert server.calls_by_task["judgment"] == 1
    assert (failure.value.retryable, failure.value.status) == (False, 401)


def test_k_samples_give_the_majority_label_and_its_share_as_confidence(fake_llm):
    fake_llm.sample_noise = 0.6
    results = [run(fake_llm, lambda b, p=p: judge(b, p, samples=5)) for p in (RED_DRESS, BOOTS)]

    for result in results:
        (raw,) = result.raw
        names = [json.loads(c["message"]["content"])["label"] for c in raw["choices"]]
        values = [next(level.value for level in LEVELS if level.name == name) for name in names]
        top = max(values.count(v) for v in set(values))
        assert result.value.value == min(v for v in set(values) if values.count(v) == top)
        assert result.value.confidence == pytest.approx(top / 5)
        assert result.value.samples == values
    assert all(r["body"]["n"] == 5 and r["body"]["temperature"] == 0.7 for r in fake_llm.requests)


def test_logprobs_confidence_is_the_label_tokens_probability(fake_llm):
    fake_llm.label_prob = 0.65
    result = run(fake_llm, lambda b: judge(b, use_logprobs=True))

    assert result.value.confidence == pytest.approx(0.65)
    (request,) = fake_llm.requests
    assert request["body"]["logprobs"] is True


def test_ties_go_to_the_lower_label_and_invalid_samples_count_against_confidence():
    out = backends._JudgmentOut(rationale="r", label="x")
    answers = [(2, out, None), (1, out, None)]  # the third sample was invalid

    verdict = _verdict_from_samples(answers, requested=3, use_logprobs=False)

    assert (verdict.value, verdict.confidence) == (1, pytest.approx(1 / 3))


def test_the_label_probability_is_read_at_the_label_value_in_a_tokenised_answer():
    tokens = [
        ('{"', -0.01),
        ("rationale", -0.01),
        ('":"', -0.01),
        ("ok", -0.2),
        ('","', -0.01),
        ("label", -0.01),
        ('": "', -0.01),
        ("highly", -0.3),
        (" relevant", -0.01),
        ('"}', -0.01),
    ]
    choice = Choice(content="".join(t for t, _ in tokens), finish_reason="stop", refusal=None, logprobs=tokens)

    assert _label_probability(choice, "highly relevant") == pytest.approx(0.7408, abs=1e-4)
    assert _label_probability(Choice("{}", "stop", None, []), "x") is None


@pytest.mark.parametrize(
    "attempt, retry_after, low, high",
    [
        (0, None, 0.0, 1.0),
        (3, None, 0.0, 8.0),
        (10, None, 0.0, BACKOFF_CAP),
        (0, 4.0, 4.0, 4.0),
        (0, 120.0, BACKOFF_CAP, BACKOFF_CAP),
    ],
)
def test_backoff_has_full_jitter_a_cap_and_retry_after_as_floor(attempt, retry_after, low, high):
    delays = [backoff_delay(attempt, retry_after) for _ in range(200)]

    assert low <= min(delays) and max(delays) <= high


# --- guideline and description ------------------------------------------------------


def test_a_guideline_keeps_known_tags_only_and_clamps_nothing_valid(fake_llm):
    fake_llm.inject("wrong_label", match_task="guideline")  # adds a tag outside the enum

    result = run(fake_llm, lambda b: b.guideline(QUERY))

    assert result.ok and result.usage.calls == 1
    draft = result.value
    assert "not-a-tag" not in draft.tags and "negation" in draft.tags
    assert {(r.attribute, r.value, r.negated) for r in draft.requirements} >= {
        ("colour", "red", False),
        ("colour", "white", True),
    }
    assert all(0.0 <= r.importance <= 1.0 for r in draft.requirements)
    (request,) = fake_llm.requests
    assert request["body"]["model"] == "g"


def test_an_invalid_guideline_is_retried_then_given_up(fake_llm):
    fake_llm.inject("invalid_json", count=3, match_task="guideline")

    result = run(fake_llm, lambda b: b.guideline(QUERY))

    assert (result.ok, result.value, result.usage.calls) == (False, None, 3)
    assert "does not match the schema" in result.error


def test_a_description_sends_the_image_and_returns_the_vision_models_text(fake_llm):
    url = "data:image/png;base64," + base64.b64encode(png((200, 20, 20))).decode()
    fake_llm.inject("refusal", match_task="description")

    result = run(fake_llm, lambda b: b.describe(image_url=url, title="Red Silk Evening Dress"))

    assert result.ok and result.usage.calls == 2
    assert "red" in result.value.lower()
    for request in fake_llm.requests:
        parts = request["body"]["messages"][1]["content"]
        assert [p["image_url"]["url"] for p in parts if p["type"] == "image_url"] == [url]
        assert request["body"]["model"] == "v"


# --- the offline baseline ---------------------------------------------------------------


def test_the_offline_backend_answers_every_step_without_network():
    backend = OfflineBackend()
    url = "data:image/png;base64," + base64.b64encode(png((20, 40, 200))).decode()

    async def go():
        return (
            await backend.guideline(QUERY),
            await backend.describe(image_url=url, title="Blue Denim Jeans"),
            await backend.judge(query=QUERY, guideline=GUIDELINE, product=RED_DRESS, levels=LEVELS, mode="text"),
        )

    guideline, description, verdict = asyncio.run(go())

    assert guideline.ok and guideline.value.requirements
    assert "blue" in description.value.lower()
    assert verdict.value.value == 2
    assert {guideline.model, description.model, verdict.model} == {"offline-baseline-v2"}
