"""The fake OpenAI server, driven through the real `openai` SDK (no database needed)."""

import base64
import importlib
import io
import json
import math
import subprocess
import sys
import time
import types
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest

from judging import prompts
from judging.contracts import (
    QUERY_TAGS,
    GuidelineDraft,
    LevelInfo,
    ProductContext,
    QueryContext,
    Requirement,
    Verdict,
)
from tests.fakes.openai_server import (
    FAULT_KINDS,
    REFUSAL_TEXT,
    WRONG_LABEL,
    FakeOpenAIServer,
    count_prompt_tokens,
)

ROOT = Path(__file__).resolve().parents[2]
LEVELS = [LevelInfo(0, "irrelevant"), LevelInfo(1, "partial"), LevelInfo(2, "exact")]
LABELS = [level.name for level in LEVELS]
QUERY = QueryContext(text="red summer dress not white", locale="en-GB", rulebook=["Colour is a must."])
GUIDELINE = GuidelineDraft(
    requirements=[
        Requirement(attribute="product_type", value="dress", importance=1.0),
        Requirement(attribute="colour", value="red", importance=0.8),
        Requirement(attribute="colour", value="white", importance=1.0, negated=True),
    ],
    text="A relevant product is a red dress; white ones are not relevant.",
    tags=["colour", "negation"],
)
PRODUCT = ProductContext(
    external_id="p1",
    title="Red linen summer dress",
    brand="Acme",
    category="Dresses",
    description="Light red dress in linen.",
    attributes={"colour": "red"},
)


# --- the offline judge: the real module, or a stand-in until judging/offline.py lands ----


def _stub_offline() -> types.ModuleType:
    module = types.ModuleType("judging.offline")

    def offline_guideline(query: QueryContext) -> GuidelineDraft:
        words = query.text.split()
        return GuidelineDraft(
            requirements=[Requirement(attribute="product_type", value=words[0] if words else "", importance=1.0)],
            text=f"Products must match '{query.text}'.",
            tags=["colour"] if "red" in words else [],
        )

    def offline_describe(product: ProductContext, image_bytes: bytes | None) -> str:
        return f"A product photo ({len(image_bytes or b'')} bytes) of {product.title or 'something'}."

    def offline_judge(*, guideline: GuidelineDraft, product: ProductContext, levels: list[LevelInfo]) -> Verdict:
        value = len(product.title) % len(levels)
        return Verdict(value=levels[value].value, rationale="stub rationale", requirements_met=["product_type"])

    module.offline_guideline = offline_guideline
    module.offline_describe = offline_describe
    module.offline_judge = offline_judge
    return module


OFFLINE_API = ("offline_guideline", "offline_describe", "offline_judge")


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """The real judging.offline once it provides the three functions, else a stub."""
    try:
        module = importlib.import_module("judging.offline")
    except ImportError:
        module = None
    if module is not None and all(callable(getattr(module, name, None)) for name in OFFLINE_API):
        return module
    stub = _stub_offline()
    monkeypatch.setitem(sys.modules, "judging.offline", stub)
    return stub


@pytest.fixture
def server():
    with FakeOpenAIServer() as srv:
        yield srv


@pytest.fixture
def client(server):
    with openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0, timeout=10) as c:
        yield c


# --- helpers --------------------------------------------------------------------------


def response_format(schema: dict) -> dict:
    return {"type": "json_schema", "json_schema": schema}


def judge(client, *, mode="text", product=PRODUCT, **kwargs):
    messages = prompts.judgment_messages(query=QUERY, guideline=GUIDELINE, product=product, levels=LEVELS, mode=mode)
    return client.chat.completions.create(
        model="gpt-fake",
        messages=messages,
        response_format=response_format(prompts.judgment_schema(LEVELS)),
        **kwargs,
    )


def jpeg_data_url(colour=(200, 20, 20)) -> tuple[str, bytes]:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), colour).save(buffer, format="JPEG")
    raw = buffer.getvalue()
    return "data:image/jpeg;base64," + base64.b64encode(raw).decode(), raw


def validate(value, schema: dict, path="$") -> None:
    """A small JSON-schema check covering what judging.prompts uses."""
    if "enum" in schema:
        assert value in schema["enum"], f"{path}: {value!r} not in {schema['enum']}"
    kind = schema.get("type")
    if kind == "object":
        assert isinstance(value, dict), path
        assert set(schema.get("required", [])) <= set(value), f"{path}: missing {set(schema['required']) - set(value)}"
        if schema.get("additionalProperties") is False:
            assert set(value) <= set(schema["properties"]), f"{path}: extra {set(value) - set(schema['properties'])}"
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                validate(value[name], sub, f"{path}.{name}")
    elif kind == "array":
        assert isinstance(value, list), path
        for i, item in enumerate(value):
            validate(item, schema.get("items", {}), f"{path}[{i}]")
    elif kind == "string":
        assert isinstance(value, str), path
    elif kind == "number":
        assert isinstance(value, (int, float)) and not isinstance(value, bool), path
        assert schema.get("minimum", -math.inf) <= value <= schema.get("maximum", math.inf), path
    elif kind == "boolean":
        assert isinstance(value, bool), path


def assert_usage(response, messages) -> None:
    usage = response.usage
    assert usage.prompt_tokens == count_prompt_tokens(messages) >= 1
    assert usage.completion_tokens >= 1
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


# --- answers ----------------------------------------------------------------------------


def test_guideline_answer_follows_the_schema_and_the_offline_judge(server, client, offline):
    messages = prompts.guideline_messages(QUERY)
    schema = prompts.guideline_schema()
    response = client.chat.completions.create(
        model="gpt-fake", messages=messages, response_format=response_format(schema)
    )

    assert response.object == "chat.completion"
    assert response.model == "gpt-fake"
    assert response.id.startswith("chatcmpl-")
    [choice] = response.choices
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert choice.message.refusal is None
    answer = json.loads(choice.message.content)
    validate(answer, schema["schema"])
    draft = offline.offline_guideline(QUERY)
    assert answer["guideline"] == draft.text
    assert [r["value"] for r in answer["requirements"]] == [r.value for r in draft.requirements]
    assert set(answer["tags"]) <= set(QUERY_TAGS)
    assert_usage(response, messages)
    assert server.calls_by_task["guideline"] == 1


def test_description_decodes_the_data_url_image(server, client, offline, monkeypatch):
    seen = []
    original = offline.offline_describe

    def spy(product, image_bytes):
        seen.append((product, image_bytes))
        return original(product, image_bytes)

    monkeypatch.setattr(offline, "offline_describe", spy)
    url, raw = jpeg_data_url()
    messages = prompts.description_messages(url, title="Red dress")
    schema = prompts.description_schema()
    response = client.chat.completions.create(
        model="gpt-fake", messages=messages, response_format=response_format(schema)
    )

    answer = json.loads(response.choices[0].message.content)
    validate(answer, schema["schema"])
    assert answer["description"]
    [(product, image_bytes)] = seen
    assert product.title == "Red dress"
    assert image_bytes == raw
    assert response.usage.prompt_tokens >= 85  # one image part
    assert_usage(response, messages)


def test_judgment_label_is_in_the_enum_and_comes_from_the_offline_judge(server, client, offline):
    response = judge(client)

    answer = json.loads(response.choices[0].message.content)
    validate(answer, prompts.judgment_schema(LEVELS)["schema"])
    assert list(answer) == ["rationale", "requirements_met", "requirements_unmet", "label"]
    verdict = offline.offline_judge(guideline=GUIDELINE, product=PRODUCT, levels=LEVELS)
    assert answer["label"] == LABELS[verdict.value]
    assert response.usage.completion_tokens == max(1, len(response.choices[0].message.content) // 4)
    assert server.calls_by_task == {"judgment": 1}


def test_request_log_records_image_parts_of_a_vision_request(server, client):
    url, _ = jpeg_data_url()
    product = ProductContext(external_id="p2", title="Red dress", images=[url])
    response = judge(client, mode="vision", product=product)

    assert response.choices[0].message.content
    [entry] = server.requests
    assert entry["task"] == "judgment"
    assert entry["headers"]["authorization"] == "Bearer test"
    parts = entry["body"]["messages"][1]["content"]
    assert [p["image_url"]["url"] for p in parts if p["type"] == "image_url"] == [url]
    assert response.usage.prompt_tokens == count_prompt_tokens(entry["body"]["messages"])


def test_n_returns_n_identical_choices_without_noise(client):
    response = judge(client, n=3, temperature=1.0)

    assert [c.index for c in response.choices] == [0, 1, 2]
    assert len({c.message.content for c in response.choices}) == 1
    single = len(response.choices[0].message.content) // 4
    assert response.usage.completion_tokens == 3 * single


def test_sample_noise_flips_labels_deterministically_when_temperature_is_positive():
    with FakeOpenAIServer(sample_noise=0.5) as srv:
        client = openai.OpenAI(base_url=srv.base_url, api_key="test", max_retries=0)
        labels = [json.loads(c.message.content)["label"] for c in judge(client, n=20, temperature=0.7).choices]
        again = [json.loads(c.message.content)["label"] for c in judge(client, n=20, temperature=0.7).choices]
        cold = [json.loads(c.message.content)["label"] for c in judge(client, n=20, temperature=0).choices]

    assert labels == again
    assert set(labels) <= set(LABELS)
    assert len(set(labels)) > 1  # some flipped, some not
    assert len(set(cold)) == 1  # temperature 0: all the same


def test_logprobs_of_the_label_token():
    with FakeOpenAIServer(label_prob=0.8) as srv:
        client = openai.OpenAI(base_url=srv.base_url, api_key="test", max_retries=0)
        response = judge(client, logprobs=True, top_logprobs=2)
        plain = judge(client)

    choice = response.choices[0]
    label = json.loads(choice.message.content)["label"]
    [token] = choice.logprobs.content
    assert token.token == label
    assert token.logprob == pytest.approx(math.log(0.8))
    assert token.top_logprobs[0].token == label
    assert len(token.top_logprobs) == 2
    assert sum(math.exp(t.logprob) for t in token.top_logprobs) <= 1.0 + 1e-9
    assert plain.choices[0].logprobs is None


def test_max_completion_tokens_cuts_the_answer(client):
    response = judge(client, max_completion_tokens=5)

    assert response.choices[0].finish_reason == "length"
    assert len(response.choices[0].message.content) == 20
    assert response.usage.completion_tokens == 5


def test_models_endpoint(client):
    assert [m.id for m in client.models.list()] == ["gpt-fake"]


def test_request_without_input_block_gets_a_schema_shaped_answer(client):
    schema = {
        "name": "x",
        "schema": {"type": "object", "required": ["answer"], "properties": {"answer": {"type": "string"}}},
    }
    response = client.chat.completions.create(
        model="gpt-fake", messages=[{"role": "user", "content": "hello"}], response_format=response_format(schema)
    )
    assert json.loads(response.choices[0].message.content) == {"answer": "fake"}
    plain = client.chat.completions.create(model="gpt-fake", messages=[{"role": "user", "content": "hello"}])
    assert plain.choices[0].message.content


# --- faults -----------------------------------------------------------------------------


def test_429_raises_rate_limit_error_with_retry_after(server, client):
    server.inject("429")

    with pytest.raises(openai.RateLimitError) as caught:
        judge(client)
    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"] == "1"
    assert caught.value.code == "rate_limit_exceeded"
    assert judge(client).choices[0].finish_reason == "stop"  # consumed
    assert [e["fault"] for e in server.requests] == ["429", None]
    assert [e["status"] for e in server.requests] == [429, 200]


def test_sdk_retries_honour_retry_after():
    with FakeOpenAIServer(retry_after="0.2") as srv:
        client = openai.OpenAI(base_url=srv.base_url, api_key="test", max_retries=2)
        srv.inject("429")
        started = time.monotonic()
        response = judge(client)
        elapsed = time.monotonic() - started

    assert response.choices[0].message.content
    assert srv.calls_by_task["judgment"] == 2
    assert elapsed >= 0.2


def test_500_raises_internal_server_error(server, client):
    server.inject("500")
    with pytest.raises(openai.InternalServerError) as caught:
        judge(client)
    assert caught.value.status_code == 500


def test_hang_makes_the_client_time_out():
    with FakeOpenAIServer(hang_seconds=2) as srv:
        client = openai.OpenAI(base_url=srv.base_url, api_key="test", max_retries=0, timeout=0.5)
        srv.inject("hang")
        with pytest.raises(openai.APITimeoutError):
            judge(client)
        assert judge(client).choices[0].message.content  # the next call is answered


def test_invalid_json(server, client):
    server.inject("invalid_json")
    content = judge(client).choices[0].message.content
    with pytest.raises(json.JSONDecodeError):
        json.loads(content)


def test_wrong_label(server, client):
    server.inject("wrong_label")
    answer = json.loads(judge(client).choices[0].message.content)
    assert answer["label"] == WRONG_LABEL
    assert answer["label"] not in LABELS


def test_refusal(server, client):
    server.inject("refusal")
    message = judge(client).choices[0].message
    assert message.content is None
    assert message.refusal == REFUSAL_TEXT


def test_truncated(server, client):
    server.inject("truncated")
    choice = judge(client).choices[0]
    assert choice.finish_reason == "length"
    with pytest.raises(json.JSONDecodeError):
        json.loads(choice.message.content)


def test_missing_field(server, client):
    server.inject("missing_field")
    answer = json.loads(judge(client).choices[0].message.content)
    assert "label" not in answer
    assert "rationale" in answer


def test_faults_are_consumed_in_order_and_by_task(server, client):
    server.inject("500", match_task="judgment")
    server.inject("429", count=2)

    # the guideline call skips the judgment-only fault and takes the next one
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="gpt-fake", messages=prompts.guideline_messages(QUERY))
    with pytest.raises(openai.InternalServerError):
        judge(client)
    with pytest.raises(openai.RateLimitError):
        judge(client)
    assert judge(client).choices[0].finish_reason == "stop"
    assert server.pending_faults == []
    assert server.calls_by_task == {"guideline": 1, "judgment": 3}


def test_inject_rejects_unknown_kinds(server):
    with pytest.raises(ValueError):
        server.inject("teapot")
    with pytest.raises(ValueError):
        server.inject("500", match_task="nope")
    assert set(FAULT_KINDS) == {
        "429",
        "500",
        "hang",
        "invalid_json",
        "wrong_label",
        "refusal",
        "truncated",
        "missing_field",
        "context_size",
        "bad_request",
    }


def test_a_fault_can_wait_for_some_normal_answers_first(server):
    client = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)
    server.inject("bad_request", count=1, match_task="judgment", after=2)
    server.inject("context_size", count=1, match_task="judgment")

    assert judge(client).choices[0].finish_reason == "stop"
    assert judge(client).choices[0].finish_reason == "stop"
    with pytest.raises(openai.BadRequestError, match="Unsupported parameter"):
        judge(client)
    with pytest.raises(openai.BadRequestError, match="exceeds the available context size"):
        judge(client)
    assert server.pending_faults == []


def test_api_key_is_required_when_configured():
    with FakeOpenAIServer(api_key="sekret") as srv:
        wrong = openai.OpenAI(base_url=srv.base_url, api_key="test", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            judge(wrong)
        with pytest.raises(openai.AuthenticationError):
            wrong.models.list()
        bare = httpx.post(
            srv.base_url + "/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert bare.status_code == 401
        assert bare.json()["error"]["type"] == "invalid_request_error"
        right = openai.OpenAI(base_url=srv.base_url, api_key="sekret", max_retries=0)
        assert judge(right).choices[0].message.content


# --- concurrency, latency, lifecycle ----------------------------------------------------


def test_concurrent_requests_are_in_flight_together():
    with FakeOpenAIServer(latency=0.3) as srv:
        client = openai.OpenAI(base_url=srv.base_url, api_key="test", max_retries=0)
        with ThreadPoolExecutor(8) as pool:
            responses = list(pool.map(lambda _: judge(client), range(8)))
        assert all(r.choices[0].message.content for r in responses)
        assert srv.peak_in_flight > 1
        # The server counts a request out after writing its answer, so the client can read
        # the last answer a moment before the count drops.
        deadline = time.monotonic() + 2
        while srv.in_flight and time.monotonic() < deadline:
            time.sleep(0.01)
        assert srv.in_flight == 0


def test_set_latency_delays_answers(server, client):
    server.set_latency(0.3)
    started = time.monotonic()
    judge(client)
    assert time.monotonic() - started >= 0.3
    assert server.latency == 0.3


def test_request_log_can_be_off():
    with FakeOpenAIServer(keep_requests=False) as srv:
        client = openai.OpenAI(base_url=srv.base_url, api_key="test", max_retries=0)
        judge(client)
        assert srv.requests == []
        assert srv.calls_by_task["judgment"] == 1


def test_stop_closes_the_port():
    srv = FakeOpenAIServer().start()
    url = srv.base_url
    assert httpx.get(url + "/models").status_code == 200
    srv.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/models")


def test_command_line_server_prints_its_url_and_takes_faults_over_http():
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.openai_server", "--port", "0", "--latency", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        assert httpx.get(base_url + "/models").json()["data"][0]["id"] == "gpt-fake"
        root = base_url.removesuffix("/v1")
        assert httpx.post(root + "/_fake/inject", json={"kind": "500"}).status_code == 200
        client = openai.OpenAI(base_url=base_url, api_key="test", max_retries=0)
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        stats = httpx.get(root + "/_fake/stats").json()
        assert stats["calls_by_task"] == {"other": 1}
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()


def test_malformed_requests_get_error_answers_not_dropped_connections(server, client):
    url = server.base_url + "/chat/completions"
    assert httpx.post(url, content=b"{not json", headers={"Content-Type": "application/json"}).status_code == 400
    assert httpx.post(url, json={"model": "m", "messages": []}).status_code == 400
    bad_temperature = httpx.post(
        url, json={"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}
    )
    assert bad_temperature.status_code == 500
    assert bad_temperature.json()["error"]["type"] == "server_error"
    assert httpx.get(server.base_url + "/nope").status_code == 404
    assert judge(client).choices[0].message.content  # still serving
