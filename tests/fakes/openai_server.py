"""A fake OpenAI-compatible chat-completions server for tests and benchmarks.

It listens on loopback only and answers like the real API, without any network or key:

- ``POST /v1/chat/completions`` reads the request's JSON input block
  (``judging.prompts.extract_input``) and answers the task it names ("guideline",
  "description", "judgment") with the offline judge (``judging.offline``), shaped to the
  request's ``response_format`` JSON schema. ``n``, ``temperature``/``seed``, ``logprobs``/
  ``top_logprobs`` and ``max_completion_tokens``/``max_tokens`` are honoured.
- ``GET /v1/models`` lists the configured model names.
- Faults are injected in order (``inject("429")``, ``"500"``, ``"hang"``, ``"invalid_json"``,
  ``"wrong_label"``, ``"refusal"``, ``"truncated"``, ``"missing_field"``, ``"context_size"``
  (llama.cpp's HTTP 400 for a prompt longer than the context), ``"bad_request"`` (an
  HTTP 400 that no retry fixes, e.g. a parameter the server refuses)), optionally only
  after the next ``after`` matching requests.

In-process use (tests)::

    with FakeOpenAIServer(latency=0.05) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)
        server.inject("429", count=2, match_task="judgment")
        ...
        assert server.calls_by_task["judgment"] == 3

Out-of-process use (benchmarks; serves until killed, prints the base URL first)::

    python -m tests.fakes.openai_server --port 8765 --latency 1.0

A separate process can read counters and inject faults over HTTP: ``GET /_fake/stats``,
``POST /_fake/inject`` ``{"kind": "429", "count": 1, "match_task": null}``,
``POST /_fake/latency`` ``{"seconds": 0.5}``, ``POST /_fake/reset``.

The server is one asyncio event loop in a background (daemon) thread: every connection is
a coroutine, so hundreds of slow requests in flight cost no threads and little CPU. The
offline judge runs in a small thread pool so it never stalls the loop.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import collections
import hashlib
import importlib
import json
import math
import signal
import sys
import threading
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from typing import Self

FAULT_KINDS = (
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
)
TASKS = ("guideline", "description", "judgment")
IMAGE_PART_TOKENS = 85
WRONG_LABEL = "not-a-label"
WRONG_TAG = "not-a-tag"
REFUSAL_TEXT = "I'm sorry, but I can't help with that request."
INVALID_JSON_TEXT = "Sure! Here is my assessment: the product looks relevant to the query."

_MAX_HEADER_LINE = 64 * 1024
_MAX_HEADERS = 200


class _HTTPError(Exception):
    def __init__(self, status: int, message: str, *, type_: str = "invalid_request_error", code: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code


def error_body(message: str, *, type_: str, code: str | None = None, param: str | None = None) -> dict:
    """The error JSON of the OpenAI API."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def image_urls(messages_or_body) -> list[str]:
    """Image URLs of all ``image_url`` parts of a request body (or its ``messages``)."""
    messages = messages_or_body.get("messages", []) if isinstance(messages_or_body, dict) else messages_or_body
    urls = []
    for message in messages or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and part.get("type") == "image_url":
                    image = part.get("image_url")
                    url = image.get("url") if isinstance(image, dict) else image
                    if isinstance(url, str):
                        urls.append(url)
    return urls


def count_prompt_tokens(messages) -> int:
    """≈ characters of all text parts / 4, + 85 per image part (at least 1)."""
    chars = 0
    images = 0
    for message in messages or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            for part in content:
                if not isinstance(part, dict):
                    continue
                if part.get("type") == "text":
                    chars += len(part.get("text") or "")
                elif part.get("type") == "image_url":
                    images += 1
    return max(1, chars // 4 + IMAGE_PART_TOKENS * images)


def count_completion_tokens(text: str | None) -> int:
    return max(1, len(text or "") // 4)


def decode_data_url(url: str) -> bytes | None:
    """The bytes of a ``data:`` URL, or None for other URLs (the fake never fetches)."""
    if not isinstance(url, str) or not url.startswith("data:"):
        return None
    header, _, data = url.partition(",")
    try:
        if header.endswith(";base64"):
            return base64.b64decode(data)
        return urllib.parse.unquote_to_bytes(data)
    except (binascii.Error, ValueError):
        return None


def example_from_schema(schema: dict):
    """A minimal value valid for a simple JSON schema (fallback for unknown tasks)."""
    if not isinstance(schema, dict):
        return None
    if schema.get("enum"):
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return example_from_schema(schema[key][0])
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
    if kind == "object":
        props = schema.get("properties", {})
        return {name: example_from_schema(props.get(name, {})) for name in (schema.get("required") or list(props))}
    if kind == "array":
        return []
    if kind == "string":
        return "fake"
    if kind in ("number", "integer"):
        return schema.get("minimum", 0)
    if kind == "boolean":
        return False
    return None


def _unit_hash(*parts) -> float:
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _has_image(messages: list) -> bool:
    return any(
        isinstance(part, dict) and part.get("type") == "image_url"
        for message in messages
        if isinstance(message, dict) and isinstance(message.get("content"), list)
        for part in message["content"]
    )


def _llama_cpp_probs(entry: dict, *, post_sampling: bool) -> dict:
    """A label token as llama.cpp reports it. Without post_sampling_probs its logprobs come
    from before the grammar: the label tokens are a sliver of the mass (most of it sits on
    tokens the JSON grammar forbids). With it: `prob`/`top_probs` after the sampler chain."""
    if post_sampling:
        return {
            "token": entry["token"],
            "prob": math.exp(entry["logprob"]),
            "top_probs": [{"token": t["token"], "prob": math.exp(t["logprob"])} for t in entry["top_logprobs"]],
        }
    grammar_share = math.log(0.05)
    return {
        "token": entry["token"],
        "logprob": entry["logprob"] + grammar_share,
        "top_logprobs": [
            {"token": "```", "logprob": math.log(0.6)},
            *({"token": t["token"], "logprob": t["logprob"] + grammar_share} for t in entry["top_logprobs"]),
        ],
    }


class FakeOpenAIServer:
    """An OpenAI-compatible chat-completions server on 127.0.0.1 (see the module doc).

    Options: ``latency`` (seconds before each answer; a target total time, the offline
    judge's own time counts towards it), ``api_key`` (require ``Authorization: Bearer
    <key>``, else 401), ``models`` (names for /v1/models; any model name is accepted),
    ``sample_noise`` (0..1: the chance that a choice's label is moved to a neighbouring
    level when temperature > 0; deterministic per request content, seed and choice index),
    ``label_prob`` (p of the label token when logprobs are asked for), ``retry_after``
    (Retry-After of injected 429s), ``hang_seconds`` (delay of injected hangs),
    ``keep_requests`` (False: don't keep the request log, for benchmarks), ``offline``
    (an object with offline_guideline/offline_describe/offline_judge; default: the module
    ``judging.offline``, imported at each call), ``llama_cpp`` (answer as llama.cpp's
    llama-server does: a ``timings`` object, usage of the first choice only when n > 1,
    /v1/models owned by "llamacpp" with input modalities, and ``post_sampling_probs``
    answered with ``prob``/``top_probs``), ``text_only`` (a model without vision: any
    image in a request is refused with llama.cpp's HTTP 500 "image input is not supported"),
    ``list_models`` (False: no /v1/models, a 404 as from some proxies and gateways).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        api_key: str | None = None,
        models: tuple[str, ...] | list[str] = ("gpt-fake",),
        sample_noise: float = 0.0,
        label_prob: float = 0.9,
        retry_after: str | float = "1",
        hang_seconds: float = 30.0,
        keep_requests: bool = True,
        offline=None,
        workers: int = 4,
        llama_cpp: bool = False,
        text_only: bool = False,
        list_models: bool = True,
    ):
        if not 0.0 <= sample_noise <= 1.0:
            raise ValueError("sample_noise must be within 0..1")
        if not 0.0 < label_prob <= 1.0:
            raise ValueError("label_prob must be within (0, 1]")
        self.host = host
        self.port = port
        self.api_key = api_key
        self.models = list(models)
        self.sample_noise = float(sample_noise)
        self.label_prob = float(label_prob)
        self.retry_after = str(retry_after)
        self.hang_seconds = float(hang_seconds)
        self.keep_requests = keep_requests
        self._offline = offline
        self._workers = workers
        self.llama_cpp = llama_cpp
        self.text_only = text_only
        self.list_models = list_models
        # Rule ids each sample of a judgment cites (sample i takes entry i % len); None:
        # the offline judge's citations. Only used when the request's schema asks for them.
        self.cite_rules: list[list[str]] | None = None
        self._latency = float(latency)
        self._lock = threading.Lock()
        self._faults: list[list] = []  # [kind, remaining, match_task, after]
        self._requests: list[dict] = []
        self._calls_by_task: collections.Counter = collections.Counter()
        self._errors: list[str] = []
        self._in_flight = 0
        self._peak_in_flight = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._connections: set[asyncio.Task] = set()
        self._startup_error: BaseException | None = None

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> Self:
        if self._thread is not None:
            raise RuntimeError("server already started")
        ready = threading.Event()
        self._executor = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="fake-openai-judge")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="fake-openai-server", daemon=True)
        self._thread.start()
        ready.wait(30)
        if self._startup_error is not None:
            error, self._startup_error = self._startup_error, None
            self._thread.join(5)
            self._thread = None
            self._executor.shutdown(wait=False)
            raise error
        return self

    def _run(self, ready: threading.Event) -> None:
        loop = self._loop
        asyncio.set_event_loop(loop)
        try:
            self._server = loop.run_until_complete(
                asyncio.start_server(
                    self._handle_connection, self.host, self.port, backlog=2048, limit=_MAX_HEADER_LINE
                )
            )
            self.port = self._server.sockets[0].getsockname()[1]
        except BaseException as exc:
            self._startup_error = exc
            loop.close()
            ready.set()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def stop(self) -> None:
        if self._thread is None:
            return
        loop, thread = self._loop, self._thread
        if loop.is_running():
            try:
                asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=10)
            finally:
                loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._thread = None
        self._server = None

    async def _shutdown(self) -> None:
        self._server.close()
        tasks = list(self._connections)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._server.wait_closed()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._thread is None:
            raise RuntimeError("server not started")
        return f"http://{self.host}:{self.port}/v1"

    # --- configuration and observation (thread-safe) ---------------------------------

    @property
    def latency(self) -> float:
        return self._latency

    def set_latency(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("latency must be >= 0")
        self._latency = float(seconds)

    def inject(self, kind: str, count: int = 1, match_task: str | None = None, *, after: int = 0) -> None:
        """Make the next ``count`` chat requests (of ``match_task`` only, if given) fail
        with ``kind``, once ``after`` such requests have been answered normally. Faults are
        consumed in the order they were injected."""
        kind = str(kind)
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {', '.join(FAULT_KINDS)}")
        if count < 1:
            raise ValueError("count must be >= 1")
        if match_task is not None and match_task not in TASKS:
            raise ValueError(f"unknown task {match_task!r}; one of {', '.join(TASKS)}")
        if after < 0:
            raise ValueError("after must be >= 0")
        with self._lock:
            self._faults.append([kind, int(count), match_task, int(after)])

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def pending_faults(self) -> list[tuple[str, int, str | None]]:
        with self._lock:
            return [tuple(f[:3]) for f in self._faults]

    def _take_fault(self, task: str) -> str | None:
        with self._lock:
            for i, fault in enumerate(self._faults):
                kind, _, match_task, after = fault
                if match_task is None or match_task == task:
                    if after:
                        fault[3] -= 1
                        return None
                    fault[1] -= 1
                    if fault[1] <= 0:
                        del self._faults[i]
                    return kind
        return None

    @property
    def requests(self) -> list[dict]:
        """A snapshot of the chat requests received, oldest first: dicts with ``method``,
        ``path``, ``headers`` (lower-case names), ``body`` (parsed JSON), ``task``,
        ``fault`` (injected kind or None) and ``status`` (once answered)."""
        with self._lock:
            return list(self._requests)

    @property
    def calls_by_task(self) -> collections.Counter:
        """Chat requests received per task ("guideline", "description", "judgment",
        "other"), faulted and unauthorised ones included."""
        with self._lock:
            return collections.Counter(self._calls_by_task)

    @property
    def errors(self) -> list[str]:
        """Exceptions raised while answering (e.g. by the offline judge); each gave a 500."""
        with self._lock:
            return list(self._errors)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def peak_in_flight(self) -> int:
        """The most requests the server was handling at the same time."""
        return self._peak_in_flight

    def reset(self) -> None:
        """Forget the request log, counters, errors, pending faults and the peak."""
        with self._lock:
            self._faults.clear()
            self._requests.clear()
            self._calls_by_task.clear()
            self._errors.clear()
            self._peak_in_flight = self._in_flight

    def stats(self) -> dict:
        with self._lock:
            return {
                "in_flight": self._in_flight,
                "peak_in_flight": self._peak_in_flight,
                "calls_by_task": dict(self._calls_by_task),
                "pending_faults": [list(f[:3]) for f in self._faults],
                "errors": len(self._errors),
                "latency": self._latency,
            }

    # --- HTTP/1.1 ---------------------------------------------------------------------

    async def _handle_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._connections.add(task)
        try:
            while True:
                try:
                    request = await self._read_request(reader, writer)
                except _HTTPError as exc:
                    await self._write(writer, exc.status, error_body(exc.message, type_=exc.type), keep_alive=False)
                    return
                if request is None:
                    return
                method, target, version, headers, body = request
                connection = headers.get("connection", "").lower()
                keep_alive = "close" not in connection and (version != "HTTP/1.0" or "keep-alive" in connection)
                with self._lock:
                    self._in_flight += 1
                    self._peak_in_flight = max(self._peak_in_flight, self._in_flight)
                try:
                    status, payload, extra_headers = await self._dispatch(method, target, headers, body)
                    await self._write(writer, status, payload, keep_alive=keep_alive, headers=extra_headers)
                finally:
                    with self._lock:
                        self._in_flight -= 1
                if not keep_alive:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            return  # the client went away (e.g. it timed out during an injected hang)
        finally:
            self._connections.discard(task)
            writer.close()

    async def _read_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        line = await reader.readline()
        while line in (b"\r\n", b"\n"):  # tolerate stray blank lines between requests
            line = await reader.readline()
        if not line:
            return None
        parts = line.decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            raise _HTTPError(400, "malformed request line")
        method, target, version = parts
        headers: dict[str, str] = {}
        for _ in range(_MAX_HEADERS):
            raw = await reader.readline()
            if raw in (b"\r\n", b"\n", b""):
                break
            name, sep, value = raw.decode("latin-1").partition(":")
            if not sep:
                raise _HTTPError(400, "malformed header line")
            headers[name.strip().lower()] = value.strip()
        else:
            raise _HTTPError(431, "too many headers")
        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if "chunked" in headers.get("transfer-encoding", "").lower():
            chunks = []
            while True:
                size_line = await reader.readline()
                try:
                    size = int(size_line.split(b";")[0].strip(), 16)
                except ValueError:
                    raise _HTTPError(400, "malformed chunk size") from None
                if size == 0:
                    while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                chunks.append(await reader.readexactly(size))
                await reader.readline()
            body = b"".join(chunks)
        else:
            try:
                length = int(headers.get("content-length", "0") or 0)
            except ValueError:
                raise _HTTPError(400, "malformed Content-Length") from None
            body = await reader.readexactly(length) if length > 0 else b""
        return method.upper(), target, version, headers, body

    async def _write(self, writer, status: int, payload, *, keep_alive: bool, headers: dict | None = None) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode()
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
        lines = [
            f"HTTP/1.1 {status} {reason}",
            "Content-Type: application/json",
            f"Content-Length: {len(data)}",
            f"Connection: {'keep-alive' if keep_alive else 'close'}",
            f"x-request-id: req_{uuid.uuid4().hex[:24]}",
        ]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data)
        await writer.drain()

    async def _dispatch(self, method: str, target: str, headers: dict, body: bytes):
        path = urllib.parse.urlsplit(target).path.rstrip("/")
        try:
            if path in ("/v1/chat/completions", "/chat/completions"):
                if method != "POST":
                    raise _HTTPError(405, f"Method {method} not allowed on {path}")
                return await self._chat(method, path, headers, body)
            if path in ("/v1/models", "/models") or path.startswith(("/v1/models/", "/models/")):
                if not self.list_models:
                    raise _HTTPError(404, f"Invalid URL ({method} {path})")
                if method != "GET":
                    raise _HTTPError(405, f"Method {method} not allowed on {path}")
                self._check_auth(headers)
                return self._models(path)
            if path.startswith("/_fake/"):
                return self._admin(method, path, body)
            raise _HTTPError(404, f"Invalid URL ({method} {path})")
        except _HTTPError as exc:
            extra = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
            return exc.status, error_body(exc.message, type_=exc.type, code=exc.code), extra
        except Exception as exc:
            message = f"fake server failed on {method} {path}: {type(exc).__name__}: {exc}"
            with self._lock:
                self._errors.append(message)
            return 500, error_body(message, type_="server_error"), {}

    def _check_auth(self, headers: dict) -> None:
        if self.api_key is None:
            return
        auth = headers.get("authorization", "")
        if auth != f"Bearer {self.api_key}":
            given = auth[7:] if auth.startswith("Bearer ") else ""
            message = (
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
                if not given
                else "Incorrect API key provided."
            )
            raise _HTTPError(401, message, code="invalid_api_key" if given else None)

    def _models(self, path: str):
        created = 1_700_000_000
        if path.rstrip("/").endswith("/models"):
            owner = "llamacpp" if self.llama_cpp else "qrelay-fake"
            modalities = ["text"] if self.text_only else ["text", "image"]
            data = [
                {
                    "id": m,
                    "object": "model",
                    "created": created,
                    "owned_by": owner,
                    **({"architecture": {"input_modalities": modalities}} if self.llama_cpp else {}),
                }
                for m in self.models
            ]
            return 200, {"object": "list", "data": data}, {}
        model = urllib.parse.unquote(path.rsplit("/", 1)[1])
        if model not in self.models:
            raise _HTTPError(404, f"The model '{model}' does not exist", code="model_not_found")
        return 200, {"id": model, "object": "model", "created": created, "owned_by": "qrelay-fake"}, {}

    def _admin(self, method: str, path: str, body: bytes):
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            raise _HTTPError(400, "body is not JSON") from None
        try:
            if path == "/_fake/stats" and method == "GET":
                return 200, self.stats(), {}
            if method == "POST" and path == "/_fake/inject":
                self.inject(
                    data["kind"], int(data.get("count", 1)), data.get("match_task"), after=int(data.get("after", 0))
                )
            elif method == "POST" and path == "/_fake/latency":
                self.set_latency(float(data["seconds"]))
            elif method == "POST" and path == "/_fake/reset":
                self.reset()
            else:
                raise _HTTPError(404, f"Invalid URL ({method} {path})")
        except (KeyError, TypeError, ValueError) as exc:
            raise _HTTPError(400, f"bad admin request: {exc}") from None
        return 200, self.stats(), {}

    # --- chat completions -------------------------------------------------------------

    async def _chat(self, method: str, path: str, headers: dict, body: bytes):
        loop = asyncio.get_running_loop()
        started = loop.time()
        latency = self._latency
        try:
            data = json.loads(body)
        except ValueError:
            raise _HTTPError(400, "We could not parse the JSON body of your request.") from None
        if not isinstance(data, dict) or not isinstance(data.get("messages"), list) or not data["messages"]:
            raise _HTTPError(400, "'messages' must be a non-empty array", code="invalid_value")
        try:
            inputs = _extract_input(data["messages"])
        except ValueError:
            inputs = None
        task = inputs.get("task") if isinstance(inputs, dict) and inputs.get("task") in TASKS else "other"
        entry = {"method": method, "path": path, "headers": headers, "body": data, "task": task, "fault": None}
        with self._lock:
            self._calls_by_task[task] += 1
            if self.keep_requests:
                self._requests.append(entry)
        try:
            self._check_auth(headers)
            if data.get("stream"):
                raise _HTTPError(400, "stream=true is not supported by the fake server", code="unsupported_value")
            try:
                n = int(data.get("n") or 1)
            except (TypeError, ValueError):
                raise _HTTPError(400, "'n' must be an integer", code="invalid_type") from None
            if not 1 <= n <= 128:
                raise _HTTPError(400, "'n' must be between 1 and 128", code="invalid_value")
            if self.text_only and _has_image(data["messages"]):
                # llama.cpp's answer for a model loaded without its vision projector.
                raise _HTTPError(
                    500,
                    "image input is not supported - hint: if this is unexpected, you may need to provide the mmproj",
                    type_="server_error",
                )
            fault = self._take_fault(task)
            entry["fault"] = fault
            if fault == "429":
                status, payload = (
                    429,
                    error_body(
                        "Rate limit reached for requests (fake server). Please try again later.",
                        type_="requests",
                        code="rate_limit_exceeded",
                    ),
                )
                entry["status"] = status
                return status, payload, {"Retry-After": self.retry_after, "x-ratelimit-remaining-requests": "0"}
            if fault == "context_size":
                # llama.cpp's answer when the prompt does not fit the slot's context.
                entry["status"] = 400
                tokens = count_prompt_tokens(data["messages"])
                return (
                    400,
                    error_body(
                        f"request ({tokens} tokens) exceeds the available context size ({max(1, tokens // 2)} tokens), "
                        "try increasing it",
                        type_="exceed_context_size_error",
                    ),
                    {},
                )
            if fault == "bad_request":
                entry["status"] = 400
                return 400, error_body("Unsupported parameter (fake server).", type_="invalid_request_error"), {}
            if fault == "500":
                entry["status"] = 500
                return (
                    500,
                    error_body("The server had an error while processing your request.", type_="server_error"),
                    {},
                )
            try:
                answer = await loop.run_in_executor(self._executor, self._answer, data, inputs, task)
            except _HTTPError:
                raise
            except Exception as exc:
                message = f"fake server could not answer the {task} request: {type(exc).__name__}: {exc}"
                with self._lock:
                    self._errors.append(message)
                raise _HTTPError(500, message, type_="server_error") from None
            delay = (self.hang_seconds if fault == "hang" else latency) - (loop.time() - started)
            if delay > 0:
                await asyncio.sleep(delay)
            payload = self._completion(data, inputs, task, answer, n, fault)
            entry["status"] = 200
            return 200, payload, {"openai-processing-ms": str(int((loop.time() - started) * 1000))}
        except _HTTPError as exc:
            entry["status"] = exc.status
            raise

    def _backend(self):
        return self._offline if self._offline is not None else importlib.import_module("judging.offline")

    def _answer(self, data: dict, inputs: dict | None, task: str) -> dict:
        """The model's answer as a dict (schema field names), plus ``_labels``/``_value``
        for a judgment. Runs in the thread pool."""
        schema = _response_schema(data)
        if task == "guideline":
            from judging.contracts import QueryContext

            query = QueryContext(
                text=str(inputs.get("query", "")),
                locale=str(inputs.get("locale", "") or ""),
                rulebook=list(inputs.get("rulebook") or []),
                vocabulary=dict(inputs.get("catalogue_vocabulary") or {}),
                reference_images=image_urls(data["messages"]),
            )
            draft = self._backend().offline_guideline(query)
            tags = list(draft.tags)
            allowed = _enum_at(schema, "tags")
            if allowed is not None:
                tags = [tag for tag in tags if tag in allowed]
            return {
                "requirements": [
                    {
                        "attribute": str(r.attribute),
                        "value": str(r.value),
                        "importance": float(r.importance),
                        "negated": bool(r.negated),
                    }
                    for r in draft.requirements
                ],
                "guideline": draft.text,
                "tags": tags,
            }
        if task == "description":
            from judging.contracts import ProductContext

            urls = image_urls(data["messages"])
            image_bytes = next((b for b in (decode_data_url(u) for u in urls) if b is not None), None)
            product = ProductContext(external_id="", title=str(inputs.get("product_title", "") or ""))
            return {"description": str(self._backend().offline_describe(product, image_bytes))}
        if task == "judgment":
            from judging.contracts import GuidelineDraft, LevelInfo, ProductContext

            labels = [str(name) for name in inputs.get("labels") or []]
            if not labels:
                raise _HTTPError(400, "the judgment input lists no labels", code="invalid_value")
            levels = [LevelInfo(value=i, name=name) for i, name in enumerate(labels)]
            raw = inputs.get("product") or {}
            product = ProductContext(
                external_id=str(raw.get("product_id", "") or ""),
                title=str(raw.get("title", "") or ""),
                brand=str(raw.get("brand", "") or ""),
                category=str(raw.get("category", "") or ""),
                description=str(raw.get("description", "") or ""),
                attributes=dict(raw.get("attributes") or {}),
                image_descriptions=list(raw.get("image_descriptions") or []),
                images=image_urls(data["messages"]),
            )
            guideline = GuidelineDraft.from_dict(inputs.get("guideline") or {})
            verdict = self._backend().offline_judge(guideline=guideline, product=product, levels=levels)
            names = {level.value: level.name for level in levels}
            if verdict.value not in names:
                raise ValueError(f"offline_judge returned value {verdict.value!r}, not one of {sorted(names)}")
            answer = {
                "rationale": str(verdict.rationale),
                "requirements_met": [str(r) for r in verdict.requirements_met],
                "requirements_unmet": [str(r) for r in verdict.requirements_unmet],
                "label": names[verdict.value],
                "_labels": labels,
                "_value": verdict.value,
            }
            if schema is not None and "applied_rules" in (schema.get("properties") or {}):
                from judging.contracts import RuleRef

                rules = [RuleRef(str(r.get("id", "")), str(r.get("text", ""))) for r in inputs.get("rules") or []]
                answer["applied_rules"] = list(self._backend().offline_applied_rules(rules, verdict))
            return answer
        if schema is not None:
            example = example_from_schema(schema)
            return example if isinstance(example, dict) else {}
        return {"_text": "This is a fake completion."}

    def _completion(self, data: dict, inputs, task: str, answer: dict, n: int, fault: str | None) -> dict:
        labels = answer.get("_labels")
        value = answer.get("_value")
        temperature = data.get("temperature")
        temperature = 1.0 if temperature is None else float(temperature)  # the API's default
        noisy = task == "judgment" and self.sample_noise > 0 and temperature > 0 and len(labels) > 1
        key = json.dumps(inputs, sort_keys=True, ensure_ascii=False) if inputs is not None else ""
        limit = data.get("max_completion_tokens") or data.get("max_tokens")
        choices = []
        completion_tokens = 0
        for index in range(n):
            obj = {k: v for k, v in answer.items() if not k.startswith("_")}
            if "applied_rules" in obj and self.cite_rules:
                obj["applied_rules"] = list(self.cite_rules[index % len(self.cite_rules)])
            if noisy and _unit_hash("flip", data.get("seed"), key, index) < self.sample_noise:
                up = _unit_hash("dir", data.get("seed"), key, index) < 0.5
                flipped = value + 1 if (up and value + 1 < len(labels)) or value == 0 else value - 1
                obj["label"] = labels[flipped]
            content, refusal, finish = self._render(answer, obj, fault)
            if limit and content is not None and count_completion_tokens(content) > int(limit):
                content, finish = content[: max(1, int(limit)) * 4], "length"
            completion_tokens += count_completion_tokens(content if content is not None else refusal)
            logprobs = None
            if data.get("logprobs"):
                logprobs = {"content": [], "refusal": None}
                if labels and "label" in obj and content is not None and fault != "invalid_json":
                    entry = self._label_logprob(obj["label"], labels, data.get("top_logprobs"))
                    if self.llama_cpp:
                        entry = _llama_cpp_probs(entry, post_sampling=bool(data.get("post_sampling_probs")))
                    logprobs["content"] = [entry]
            choices.append(
                {
                    "index": index,
                    "message": {"role": "assistant", "content": content, "refusal": refusal, "annotations": []},
                    "logprobs": logprobs,
                    "finish_reason": finish,
                }
            )
        prompt_tokens = count_prompt_tokens(data["messages"])
        if self.llama_cpp and choices:
            # llama-server counts the tokens of the first choice only.
            first = choices[0]["message"]
            completion_tokens = count_completion_tokens(first["content"] or first["refusal"] or "")
        extra = {"timings": {"prompt_n": prompt_tokens, "predicted_n": completion_tokens}} if self.llama_cpp else {}
        return {
            **extra,
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": str(data.get("model") or (self.models[0] if self.models else "gpt-fake")),
            "system_fingerprint": "fp_qrelay_fake",
            "service_tier": "default",
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {
                    "reasoning_tokens": 0,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            },
        }

    @staticmethod
    def _render(answer: dict, obj: dict, fault: str | None) -> tuple[str | None, str | None, str]:
        """(content, refusal, finish_reason) of one choice, with the fault applied."""
        if "_text" in answer:
            return answer["_text"], None, "stop"
        if fault == "refusal":
            return None, REFUSAL_TEXT, "stop"
        if fault == "invalid_json":
            return INVALID_JSON_TEXT, None, "stop"
        if fault == "wrong_label":
            if "label" in obj:
                obj["label"] = WRONG_LABEL
            elif "tags" in obj:
                obj["tags"] = [*obj["tags"], WRONG_TAG]
            else:
                obj["label"] = WRONG_LABEL  # a field the schema forbids
        elif fault == "missing_field":
            if "label" in obj:
                del obj["label"]
            elif obj:
                del obj[list(obj)[-1]]
        text = json.dumps(obj, ensure_ascii=False)
        if fault == "truncated":
            return text[: max(1, len(text) // 2)], None, "length"
        return text, None, "stop"

    def _label_logprob(self, label: str, labels: list[str], top_logprobs) -> dict:
        p = self.label_prob
        entry = {"token": label, "logprob": math.log(p), "bytes": None, "top_logprobs": []}
        k = min(int(top_logprobs or 0), 20)
        if k <= 0:
            return entry
        position = labels.index(label) if label in labels else 0
        others = sorted((name for name in labels if name != label), key=lambda name: abs(labels.index(name) - position))
        weights = [0.5 ** abs(labels.index(name) - position) for name in others]
        total = sum(weights) or 1.0
        top = [{"token": label, "logprob": math.log(p), "bytes": None}]
        for name, weight in zip(others, weights):
            share = (1 - p) * weight / total
            top.append({"token": name, "logprob": math.log(share) if share > 0 else -9999.0, "bytes": None})
        entry["top_logprobs"] = top[:k]
        return entry


def _extract_input(messages) -> dict | None:
    from judging.prompts import extract_input

    result = extract_input(messages)
    return result if isinstance(result, dict) else None


def _response_schema(data: dict) -> dict | None:
    response_format = data.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        spec = response_format.get("json_schema") or {}
        schema = spec.get("schema")
        return schema if isinstance(schema, dict) else None
    return None


def _enum_at(schema: dict | None, field: str) -> list | None:
    if not schema:
        return None
    prop = (schema.get("properties") or {}).get(field) or {}
    items = prop.get("items") if prop.get("type") == "array" else prop
    return (items or {}).get("enum")


# --- command line -------------------------------------------------------------------


def _prepare_offline_backend() -> None:
    """Import judging.offline once up front; set Django up if that module needs it."""
    try:
        importlib.import_module("judging.offline")
    except ImportError:
        print("warning: judging.offline is not importable; chat requests will get 500s", file=sys.stderr)
    except Exception:
        import os

        import django

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        django.setup()
        importlib.import_module("judging.offline")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fake OpenAI-compatible server (loopback only).")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port (default 8765)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per answer")
    parser.add_argument("--api-key", default=None, help="require Authorization: Bearer <key>")
    parser.add_argument("--model", action="append", dest="models", help="model name(s) for /v1/models")
    parser.add_argument("--sample-noise", type=float, default=0.0)
    parser.add_argument("--label-prob", type=float, default=0.9)
    parser.add_argument("--hang-seconds", type=float, default=30.0)
    parser.add_argument("--retry-after", default="1")
    parser.add_argument("--keep-requests", action="store_true", help="keep the request log (memory grows)")
    args = parser.parse_args(argv)

    server = FakeOpenAIServer(
        port=args.port,
        latency=args.latency,
        api_key=args.api_key,
        models=args.models or ("gpt-fake",),
        sample_noise=args.sample_noise,
        label_prob=args.label_prob,
        hang_seconds=args.hang_seconds,
        retry_after=args.retry_after,
        keep_requests=args.keep_requests,
    )
    _prepare_offline_backend()
    done = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    server.start()
    print(server.base_url, flush=True)
    try:
        while not done.wait(0.5):
            pass
    finally:
        stats = server.stats()
        server.stop()
        print(f"fake openai server stopped: {json.dumps(stats)}", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
