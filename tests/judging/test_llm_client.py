"""judging.llm_client over HTTP against the fake OpenAI-compatible server: what it sends,
what it returns, and how each failure is classified (retryable or not, Retry-After)."""

import asyncio
import http.server
import json
import socket
import threading
import time

import pytest

from judging import prompts
from judging.contracts import GuidelineDraft, LevelInfo, ProductContext, QueryContext, Requirement
from judging.llm_client import LLMCallError, LLMClient
from tests.fakes.openai_server import REFUSAL_TEXT, FakeOpenAIServer, count_completion_tokens, count_prompt_tokens

LEVELS = [LevelInfo(0, "irrelevant"), LevelInfo(1, "acceptable substitute"), LevelInfo(2, "highly relevant")]
MESSAGES = prompts.judgment_messages(
    query=QueryContext(text="red dress", locale="en-GB"),
    guideline=GuidelineDraft(
        requirements=[Requirement("product_type", "dress", 1.0), Requirement("colour", "red", 0.8)], text="A red dress."
    ),
    product=ProductContext(
        external_id="p1", title="Red Silk Evening Dress", category="Clothing > Dresses", attributes={"colour": "red"}
    ),
    levels=LEVELS,
    mode="text",
)
SCHEMA = prompts.judgment_schema(LEVELS)


def complete(base_url: str, *, api_key: str = "test-key", timeout: float = 5.0, **kwargs):
    async def go():
        client = LLMClient(base_url=base_url, api_key=api_key, timeout=timeout)
        try:
            return await client.complete(model="fake-judge", messages=MESSAGES, schema=SCHEMA, **kwargs)
        finally:
            await client.aclose()

    return asyncio.run(go())


def call_error(base_url: str, **kwargs) -> LLMCallError:
    with pytest.raises(LLMCallError) as failure:
        complete(base_url, **kwargs)
    return failure.value


def test_it_returns_the_answer_tokens_and_model_and_sends_a_json_schema(fake_llm):
    completion = complete(fake_llm.base_url)

    (choice,) = completion.choices
    answer = json.loads(choice.content)
    assert answer["label"] == "highly relevant"
    assert (choice.finish_reason, choice.refusal, choice.logprobs) == ("stop", None, [])
    assert completion.tokens_in == count_prompt_tokens(MESSAGES)
    assert completion.tokens_out == count_completion_tokens(choice.content)
    assert completion.model == "fake-judge"
    assert completion.raw["usage"]["prompt_tokens"] == completion.tokens_in
    (request,) = fake_llm.requests
    body = request["body"]
    assert request["headers"]["authorization"] == "Bearer test-key"
    assert body["response_format"] == {"type": "json_schema", "json_schema": SCHEMA}
    assert body["max_completion_tokens"] == 1024
    assert not {"n", "temperature", "logprobs", "top_logprobs"} & set(body)


def test_samples_temperature_and_logprobs_are_sent_only_when_asked_for(fake_llm):
    fake_llm.label_prob = 0.7

    sampled = complete(fake_llm.base_url, n=3, temperature=0.7)
    scored = complete(fake_llm.base_url, logprobs=True, temperature=0.0)

    assert len(sampled.choices) == 3
    first, second = (r["body"] for r in fake_llm.requests)
    assert (first["n"], first["temperature"]) == (3, 0.7) and "logprobs" not in first
    assert (second["logprobs"], second["top_logprobs"], second["temperature"]) == (True, 3, 0.0) and "n" not in second
    ((token, logprob),) = scored.choices[0].logprobs
    assert token == "highly relevant" and logprob == pytest.approx(-0.35667, abs=1e-4)


@pytest.mark.parametrize(
    "retry_after, expected",
    [("2.5", 2.5), ("0", 0.0), ("Wed, 21 Oct 2015 07:28:00 GMT", None)],
)
def test_429_is_retryable_and_carries_retry_after(fake_llm, retry_after, expected):
    fake_llm.retry_after = retry_after
    fake_llm.inject("429")

    error = call_error(fake_llm.base_url)

    assert (error.retryable, error.status, error.retry_after) == (True, 429, expected)
    assert len(fake_llm.requests) == 1, "the SDK's own retries are off"


def test_a_server_error_is_retryable_and_not_retried_by_the_sdk(fake_llm):
    fake_llm.inject("500")

    error = call_error(fake_llm.base_url)

    assert (error.retryable, error.status) == (True, 500)
    assert "HTTP 500" in str(error) and "server had an error" in str(error)
    assert len(fake_llm.requests) == 1


def test_a_wrong_key_is_not_retryable_and_says_why():
    with FakeOpenAIServer(api_key="right") as server:
        error = call_error(server.base_url, api_key="wrong")

    assert (error.retryable, error.status) == (False, 401)
    assert "Incorrect API key" in str(error)


def test_a_bad_request_is_not_retryable(fake_llm):
    error = call_error(fake_llm.base_url, n=500)

    assert (error.retryable, error.status) == (False, 400)


def test_a_hanging_server_times_out_as_a_retryable_error(fake_llm):
    fake_llm.hang_seconds = 5.0
    fake_llm.inject("hang")
    started = time.monotonic()

    error = call_error(fake_llm.base_url, timeout=0.3)

    assert error.retryable and "timed out" in str(error)
    assert time.monotonic() - started < 4.0, "the client gave up before the server answered"


def test_a_refused_connection_is_retryable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again when the block ends: nobody listens

    error = call_error(f"http://127.0.0.1:{port}/v1")

    assert error.retryable and "connection failed" in str(error)


def test_refusals_and_truncations_come_back_as_such(fake_llm):
    fake_llm.inject("refusal")
    fake_llm.inject("truncated")

    refused = complete(fake_llm.base_url).choices[0]
    truncated = complete(fake_llm.base_url).choices[0]

    assert (refused.content, refused.refusal) == (None, REFUSAL_TEXT)
    assert truncated.finish_reason == "length"
    with pytest.raises(ValueError):
        json.loads(truncated.content)


@pytest.mark.parametrize(
    "body", [b"<html>gateway error page</html>", b'{"object": "chat.completion", "choices": []}', b"[1, 2]"]
)
def test_a_malformed_answer_is_a_retryable_error(body):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        error = call_error(f"http://127.0.0.1:{server.server_address[1]}/v1")
    finally:
        server.shutdown()
        server.server_close()

    assert error.retryable and "malformed response" in str(error)
