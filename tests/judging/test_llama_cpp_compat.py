"""What a real OpenAI-compatible server does differently from OpenAI, reproduced by the
fake server (`llama_cpp=True`, `text_only=True`), and how the client and backend cope:
label confidences under a grammar, usage with n > 1, images a model cannot read, retries
that vary, keyless local servers and servers that are down."""

import asyncio
import math
import socket

import pytest

from judging.backends import OpenAIBackend, _label_probability
from judging.llm_client import Choice, LLMCallError, LLMClient, TokenProbs, _completion
from tests.fakes.openai_server import FakeOpenAIServer

from .test_backends import GUIDELINE, LEVELS, QUERY, RED_DRESS

NAMES = [level.name for level in LEVELS]


@pytest.fixture(autouse=True)
def _no_backoff_waits(fast_backoff):
    return fast_backoff


def run(server: FakeOpenAIServer, step, *, llama_cpp: bool = False, api_key: str = "test-key", **backend_options):
    async def go():
        client = LLMClient(base_url=server.base_url, api_key=api_key, timeout=5.0)
        backend = OpenAIBackend(
            client=client,
            guideline_model="g",
            vision_model="v",
            judge_model="j",
            llama_cpp=llama_cpp,
            **backend_options,
        )
        try:
            return await step(backend)
        finally:
            await client.aclose()

    return asyncio.run(go())


def judge(backend, **kwargs):
    return backend.judge(query=QUERY, guideline=GUIDELINE, product=RED_DRESS, levels=LEVELS, mode="text", **kwargs)


# --- label confidence -----------------------------------------------------------------


def test_pre_grammar_logprobs_are_renormalised_over_the_scales_labels():
    with FakeOpenAIServer(llama_cpp=True, label_prob=0.7) as server:
        result = run(server, lambda b: judge(b, use_logprobs=True))
        raw_label_logprob = result.raw[0]["choices"][0]["logprobs"]["content"][0]["logprob"]

    # The label token holds 5% of the mass before the grammar; among the labels it is 0.7.
    assert math.exp(raw_label_logprob) == pytest.approx(0.035)
    assert result.value.confidence == pytest.approx(0.7)
    assert "post_sampling_probs" not in server.requests[0]["body"]


def test_llama_cpp_is_asked_for_its_post_grammar_probabilities():
    with FakeOpenAIServer(llama_cpp=True, label_prob=0.8) as server:
        result = run(server, lambda b: judge(b, use_logprobs=True), llama_cpp=True)

    body = server.requests[0]["body"]
    assert body["post_sampling_probs"] is True and body["top_logprobs"] == len(LEVELS) + 2
    assert "prob" in result.raw[0]["choices"][0]["logprobs"]["content"][0]
    assert result.value.confidence == pytest.approx(0.8)


def test_a_label_split_into_several_tokens_multiplies_until_the_label_is_decided():
    # "ir" could still be... nothing else here, but "acc"/"a" style splits must walk on.
    names = ["alpha one", "alpha two", "beta"]
    tokens = [
        TokenProbs('{"label": "', 0.0),
        TokenProbs("alpha", math.log(0.8), [("beta", math.log(0.2))]),
        TokenProbs(" t", math.log(0.6), [(" o", math.log(0.4))]),
        TokenProbs('wo"}', 0.0),
    ]
    choice = Choice(content='{"label": "alpha two"}', finish_reason="stop", refusal=None, token_probs=tokens)

    assert _label_probability(choice, "alpha two", names) == pytest.approx(0.8 * 0.6)


def test_labels_the_server_did_not_list_count_against_confidence():
    # Only the chosen label among the listed alternatives: the two unlisted labels may
    # weigh at most the smallest listed probability each.
    tokens = [
        TokenProbs('{"label": "', 0.0),
        TokenProbs("highly", math.log(0.1), [("```", math.log(0.5)), ("The", math.log(0.1))]),
        TokenProbs(' relevant"}', 0.0),
    ]
    choice = Choice(content='{"label": "highly relevant"}', finish_reason="stop", refusal=None, token_probs=tokens)

    assert _label_probability(choice, "highly relevant", NAMES) == pytest.approx(0.1 / (0.1 + 2 * 0.1))


# --- usage ----------------------------------------------------------------------------


def test_llama_cpp_usage_with_several_choices_is_scaled_to_all_of_them():
    answer = {
        "choices": [
            {"message": {"content": "x" * 40}, "finish_reason": "stop"},
            {"message": {"content": "x" * 20}, "finish_reason": "stop"},
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10},
    }

    assert _completion(answer, model="m", latency_ms=1).tokens_out == 10  # OpenAI counts every choice
    assert _completion({**answer, "timings": {}}, model="m", latency_ms=1).tokens_out == 15


def test_k_samples_from_llama_cpp_are_all_counted():
    with FakeOpenAIServer(llama_cpp=True) as server:
        result = run(server, lambda b: judge(b, samples=3))

    reported = result.raw[0]["usage"]["completion_tokens"]
    assert result.usage.tokens_out == pytest.approx(3 * reported, abs=2)


# --- images a model cannot read -------------------------------------------------------


def test_images_sent_to_a_text_only_model_fail_at_once_and_say_why():
    with FakeOpenAIServer(text_only=True) as server:
        with pytest.raises(LLMCallError) as failure:
            run(server, lambda b: b.describe(image_url="data:image/png;base64,iVBORw0KGgo=", title="Red dress"))
        calls = server.calls_by_task["description"]

    assert failure.value.unsupported_input and not failure.value.retryable
    assert "image input is not supported" in str(failure.value)
    assert calls == 1  # no blind retries


def test_the_models_list_says_which_inputs_a_llama_cpp_model_takes():
    async def models(server):
        client = LLMClient(base_url=server.base_url, api_key="")
        try:
            return await client.models()
        finally:
            await client.aclose()

    with FakeOpenAIServer(llama_cpp=True, text_only=True, models=["smol"]) as server:
        (entry,) = asyncio.run(models(server))

    assert entry["id"] == "smol" and entry["owned_by"] == "llamacpp"
    assert entry["architecture"]["input_modalities"] == ["text"]


# --- invalid answers, token limits, stop sequences -----------------------------------


def test_invalid_answers_are_retried_warmer_and_with_a_seed_not_identically(fake_llm):
    fake_llm.inject("truncated", count=3, match_task="judgment")
    result = run(fake_llm, judge)

    sent = [(r["body"].get("temperature"), r["body"].get("seed")) for r in fake_llm.requests]
    assert sent == [(0.0, None), (0.5, 1), (0.9, 2)]
    assert not result.ok
    assert result.error == "no valid label in the answer: answer truncated (finish_reason=length)"


def test_the_token_limit_and_stop_sequences_are_sent_as_configured(fake_llm):
    run(fake_llm, judge, max_tokens=256, stop=["\n\n\n"])

    body = fake_llm.requests[0]["body"]
    assert (body["max_completion_tokens"], body["stop"]) == (256, ["\n\n\n"])


# --- keys and reachability ------------------------------------------------------------


def test_a_keyless_local_server_needs_no_dummy_key():
    with FakeOpenAIServer() as server:
        result = run(server, judge, api_key="")

    assert result.ok
    assert server.requests[0]["headers"]["authorization"] == "Bearer no-key"


def test_a_server_that_is_down_is_reported_in_seconds_with_the_reason():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once the socket closes

    async def go():
        client = LLMClient(base_url=f"http://127.0.0.1:{port}/v1", api_key="", timeout=30)
        try:
            await client.models()
        finally:
            await client.aclose()

    with pytest.raises(LLMCallError) as failure:
        asyncio.run(go())

    assert failure.value.retryable
    assert str(failure.value).startswith("connection failed: Connection error. (")
