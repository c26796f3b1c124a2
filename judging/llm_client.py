"""The one module that talks to an LLM endpoint through the `openai` SDK.

Any OpenAI-compatible endpoint works (OpenAI, Azure, vLLM, Ollama, llama.cpp server) by
base URL + key + model name. The SDK's own retries are off: a call either answers or
raises LLMCallError saying whether a later attempt may succeed (429, 5xx, timeouts,
connection errors) and how long the server asked us to wait (Retry-After). The callers
(judging.runner, the Celery tasks) own the backoff.
"""

import math
import time
from dataclasses import dataclass, field

import httpx2  # the HTTP library the openai SDK is built on
import openai

DEFAULT_TIMEOUT = 60.0
# A server that is down refuses or drops the connection at once; one that is up accepts it
# in milliseconds. Only the answer may take the whole call timeout.
CONNECT_TIMEOUT = 5.0
# OpenAI's SDK insists on a key; local servers (llama.cpp, vLLM, Ollama) ignore it.
NO_KEY = "no-key"

# How servers say that the model cannot take an input (images, audio, a prompt longer
# than its context): no retry of that request helps, other requests may work.
_UNSUPPORTED_INPUT = (
    "image input is not supported",
    "mmproj",
    "does not support image",
    "multimodal is not",
    "exceeds the available context size",  # llama.cpp (HTTP 400)
    "maximum context length",  # OpenAI, vLLM
)


class LLMCallError(Exception):
    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
        status: int | None = None,
        unsupported_input: bool = False,
    ):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status
        # The model cannot take what was sent (images to a text-only model, a prompt over
        # its context size): that item fails, the endpoint still works for others.
        self.unsupported_input = unsupported_input


@dataclass
class TokenProbs:
    """One answer token: its log-probability and the alternatives the server reported."""

    token: str
    logprob: float
    top: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class Choice:
    content: str | None
    finish_reason: str | None
    refusal: str | None
    # (token, logprob) pairs of the answer when the endpoint returned logprobs
    logprobs: list[tuple[str, float]] = field(default_factory=list)
    # The same tokens with their alternatives (top_logprobs), for label confidences.
    token_probs: list[TokenProbs] = field(default_factory=list)


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
            base_url=base_url or None,
            api_key=api_key or NO_KEY,
            timeout=httpx2.Timeout(timeout, connect=min(CONNECT_TIMEOUT, timeout)),
            max_retries=0,
            http_client=http_client,
        )

    @property
    def base_url(self) -> str:
        return str(self._client.base_url)

    async def models(self) -> list[dict]:
        """The endpoint's /models list (each entry as the server sent it)."""
        try:
            response = await self._client.get("/models", cast_to=httpx2.Response)
            data = response.json()
        except openai.APIStatusError as exc:
            raise LLMCallError(
                f"HTTP {exc.status_code}: {_error_message(exc)}",
                retryable=exc.status_code >= 500,
                status=exc.status_code,
            ) from None
        except openai.APITimeoutError:
            raise LLMCallError("timed out", retryable=True) from None
        except openai.APIConnectionError as exc:
            raise LLMCallError(f"connection failed: {_connection_reason(exc)}", retryable=True) from None
        except ValueError as exc:
            raise LLMCallError(f"malformed response: {exc}", retryable=True) from None
        entries = data.get("data") if isinstance(data, dict) else None
        return [entry for entry in entries or [] if isinstance(entry, dict)]

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
        top_logprobs: int = 3,
        max_tokens: int = 1024,
        stop: list[str] | None = None,
        seed: int | None = None,
        extra: dict | None = None,
    ) -> Completion:
        """One chat completion. `extra` carries server-specific parameters (e.g. llama.cpp's
        post_sampling_probs); send them only to a server known to accept them."""
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
            kwargs["top_logprobs"] = top_logprobs
        if stop:
            kwargs["stop"] = stop
        if seed is not None:
            kwargs["seed"] = seed
        if extra:
            kwargs.update(extra)
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
            raise LLMCallError(f"connection failed: {_connection_reason(exc)}", retryable=True) from None
        except openai.APIStatusError as exc:
            detail = _error_message(exc)
            unsupported = any(hint in detail.lower() for hint in _UNSUPPORTED_INPUT)
            retryable = not unsupported and (exc.status_code >= 500 or exc.status_code in (408, 409))
            raise LLMCallError(
                f"HTTP {exc.status_code}: {detail}",
                retryable=retryable,
                retry_after=_retry_after(exc.response),
                status=exc.status_code,
                unsupported_input=unsupported,
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
        tokens = [_token_probs(item) for item in logprobs.get("content") or []]
        choices.append(
            Choice(
                content=message.get("content"),
                finish_reason=choice.get("finish_reason"),
                refusal=message.get("refusal"),
                logprobs=[(t.token, t.logprob) for t in tokens],
                token_probs=tokens,
            )
        )
    if not choices:
        raise ValueError("no choices in the answer")
    tokens_out = int(usage.get("completion_tokens") or 0)
    if len(choices) > 1 and "timings" in data:
        tokens_out = _all_choices_tokens(tokens_out, choices)
    return Completion(
        choices=choices,
        tokens_in=int(usage.get("prompt_tokens") or 0),
        tokens_out=tokens_out,
        latency_ms=latency_ms,
        model=data.get("model") or model,
        raw=data,
    )


def _token_probs(item: dict) -> TokenProbs:
    """A token of the answer's logprobs. OpenAI's form has `logprob` and `top_logprobs`;
    llama.cpp with post_sampling_probs has `prob` and `top_probs` (after its sampler chain,
    grammar included), turned into logprobs here."""

    def logprob_of(entry: dict) -> float:
        if "logprob" in entry:
            return float(entry["logprob"])
        prob = float(entry["prob"])
        return math.log(prob) if prob > 0 else -math.inf

    top = item.get("top_logprobs") or item.get("top_probs") or []
    return TokenProbs(
        token=str(item["token"]),
        logprob=logprob_of(item),
        top=[(str(alt["token"]), logprob_of(alt)) for alt in top if isinstance(alt, dict) and "token" in alt],
    )


def _all_choices_tokens(reported: int, choices: list[Choice]) -> int:
    """llama.cpp's usage counts the tokens of the first choice only when n > 1 (its answers
    carry a `timings` object, which is how it is recognised). Scale by the answers' lengths
    so that token and cost totals are not a fraction of the truth."""
    lengths = [len(choice.content or "") for choice in choices]
    if not reported or not lengths[0]:
        return reported
    return round(reported * sum(lengths) / lengths[0])


def _connection_reason(exc: Exception) -> str:
    # The SDK says only "Connection error."; the cause (refused, name unknown) is below it.
    cause = exc.__cause__ or exc.__context__
    return f"{exc} ({cause})" if cause else str(exc)


def _error_message(exc: "openai.APIStatusError") -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:300]
    return str(exc.message)[:300]
