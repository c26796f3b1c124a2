"""The one module that talks to an LLM endpoint through the `openai` SDK.

Any OpenAI-compatible endpoint works (OpenAI, Azure, vLLM, Ollama, llama.cpp server) by
base URL + key + model name. The SDK's own retries are off: a call either answers or
raises LLMCallError saying whether a later attempt may succeed (429, 5xx, timeouts,
connection errors) and how long the server asked us to wait (Retry-After). The callers
(judging.runner, the Celery tasks) own the backoff.
"""

import time
from dataclasses import dataclass, field

import httpx2  # the HTTP library the openai SDK is built on
import openai

DEFAULT_TIMEOUT = 60.0


class LLMCallError(Exception):
    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None, status: int | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status


@dataclass
class Choice:
    content: str | None
    finish_reason: str | None
    refusal: str | None
    # (token, logprob) pairs of the answer when the endpoint returned logprobs
    logprobs: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class Completion:
    choices: list[Choice]
    tokens_in: int
    tokens_out: int
    latency_ms: int
    model: str
    raw: dict


def _retry_after(response) -> float | None:
    if response is None:
        return None
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None


class LLMClient:
    """Async client for one endpoint; share it across the concurrent calls of a task."""

    def __init__(
        self, *, base_url: str | None, api_key: str, timeout: float = DEFAULT_TIMEOUT, max_connections: int = 100
    ):
        http_client = openai.DefaultAsyncHttpxClient(
            limits=httpx2.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        )
        self._client = openai.AsyncOpenAI(
            base_url=base_url or None, api_key=api_key, timeout=timeout, max_retries=0, http_client=http_client
        )

    async def aclose(self) -> None:
        await self._client.close()

    async def complete(
        self,
        *,
        model: str,
        messages: list[dict],
        schema: dict,
        n: int = 1,
        temperature: float | None = None,
        logprobs: bool = False,
        max_tokens: int = 1024,
    ) -> Completion:
        kwargs: dict = {
            "model": model,
            "messages": messages,
            "response_format": {"type": "json_schema", "json_schema": schema},
            "max_completion_tokens": max_tokens,
        }
        if n > 1:
            kwargs["n"] = n
        if temperature is not None:
            kwargs["temperature"] = temperature
        if logprobs:
            kwargs["logprobs"] = True
            kwargs["top_logprobs"] = 3
        start = time.monotonic()
        try:
            # The SDK's low-level post, not chat.completions.create: create() transforms
            # the typed request and builds response models on every call, which doubled
            # the client's CPU per call (≈7 → ≈4 ms measured) and capped the calls a worker
            # process keeps in flight. Errors, auth, timeouts and base URLs stay the SDK's.
            response = await self._client.post("/chat/completions", cast_to=httpx2.Response, body=kwargs)
            data = response.json()
        except openai.RateLimitError as exc:
            raise LLMCallError(
                "rate limited (429)", retryable=True, retry_after=_retry_after(exc.response), status=429
            ) from None
        except openai.APITimeoutError:
            raise LLMCallError("timed out", retryable=True) from None
        except openai.APIConnectionError as exc:
            raise LLMCallError(f"connection failed: {exc}", retryable=True) from None
        except openai.APIStatusError as exc:
            retryable = exc.status_code >= 500 or exc.status_code in (408, 409)
            message = f"HTTP {exc.status_code}: {_error_message(exc)}"
            raise LLMCallError(
                message, retryable=retryable, retry_after=_retry_after(exc.response), status=exc.status_code
            ) from None
        except (openai.APIResponseValidationError, ValueError) as exc:
            raise LLMCallError(f"malformed response: {exc}", retryable=True) from None
        latency_ms = int((time.monotonic() - start) * 1000)
        try:
            return _completion(data, model=model, latency_ms=latency_ms)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise LLMCallError(f"malformed response: {type(exc).__name__}: {exc}", retryable=True) from None


def _completion(data: dict, *, model: str, latency_ms: int) -> Completion:
    """The parts of a chat.completion JSON answer the backends use."""
    usage = data.get("usage") or {}
    choices = []
    for choice in data["choices"]:
        message = choice.get("message") or {}
        logprobs = choice.get("logprobs") or {}
        choices.append(
            Choice(
                content=message.get("content"),
                finish_reason=choice.get("finish_reason"),
                refusal=message.get("refusal"),
                logprobs=[(str(item["token"]), float(item["logprob"])) for item in logprobs.get("content") or []],
            )
        )
    if not choices:
        raise ValueError("no choices in the answer")
    return Completion(
        choices=choices,
        tokens_in=int(usage.get("prompt_tokens") or 0),
        tokens_out=int(usage.get("completion_tokens") or 0),
        latency_ms=latency_ms,
        model=data.get("model") or model,
        raw=data,
    )


def _error_message(exc: "openai.APIStatusError") -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:300]
    return str(exc.message)[:300]
