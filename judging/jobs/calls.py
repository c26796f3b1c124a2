"""Running a chunk's LLM calls, max_in_flight at a time on an asyncio event loop, and
what each stored row records of its calls.

LLM calls never run inside a transaction: the event loop either runs to the end before
the chunk writes (prep) or in a helper thread that never touches the database (judge).
"""

import asyncio
import queue
import threading
from collections.abc import Awaitable, Callable, Iterator

from ..services import backend_for, calls_in_flight, cost_eur


async def _limited(limit: int, factories: list[Callable[[], Awaitable]]) -> list:
    """Run the calls with at most `limit` in flight; exceptions are returned, not raised."""
    semaphore = asyncio.Semaphore(limit)

    async def one(factory):
        async with semaphore:
            return await factory()

    return await asyncio.gather(*(one(f) for f in factories), return_exceptions=True)


async def run_with_backend(config, limit: int, make_factories: Callable[[object], list]) -> list:
    backend = backend_for(config, max_in_flight=limit)
    try:
        return await _limited(limit, make_factories(backend))
    finally:
        close = getattr(backend, "client", None)
        if close is not None:
            await close.aclose()


def calls_in_background(
    config, make_factories: Callable[[object], list], results: list, *, batch: int, tail_batch: int | None = None
) -> Iterator[list[int]]:
    """Run the calls on an event loop in a helper thread, max_in_flight at a time, put
    each outcome (or its exception) into `results`, and yield the indices of finished
    calls in batches of `batch` (the rest at the end) for the caller to write meanwhile.
    Once fewer calls than max_in_flight are left unfinished (the last window, running
    down), batches of `tail_batch` are yielded instead: little is then left to write
    after the last call returns, when the process has nothing in flight until its next
    chunk starts. The helper thread never touches the database: the caller's
    connection, and its transaction if it has one, do all the writing."""
    finished: queue.Queue = queue.Queue()
    failure: list[BaseException] = []

    async def run() -> None:
        limit = calls_in_flight(config)
        backend = backend_for(config, max_in_flight=limit)
        semaphore = asyncio.Semaphore(limit)

        async def one(index: int, factory) -> None:
            async with semaphore:
                try:
                    results[index] = await factory()
                except Exception as exc:
                    results[index] = exc
            finished.put(index)

        try:
            await asyncio.gather(*(one(i, f) for i, f in enumerate(make_factories(backend))))
        finally:
            close = getattr(backend, "client", None)
            if close is not None:
                await close.aclose()

    def target() -> None:
        try:
            asyncio.run(run())
        except BaseException as exc:
            failure.append(exc)
        finally:
            finished.put(None)

    thread = threading.Thread(target=target, name="judging-calls", daemon=True)
    thread.start()
    limit = calls_in_flight(config)
    unfinished = len(results)
    ready: list[int] = []
    while (index := finished.get()) is not None:
        ready.append(index)
        unfinished -= 1
        size = tail_batch if tail_batch is not None and unfinished < limit else batch
        if len(ready) >= size:
            yield ready
            ready = []
    thread.join()
    if failure:
        raise failure[0]
    if ready:
        yield ready


def call_fields(result, prices, prompt_version: str) -> dict:
    usage = result.usage
    return dict(
        model=result.model,
        prompt_version=prompt_version,
        raw_response=result.raw,
        tokens_in=usage.tokens_in,
        tokens_out=usage.tokens_out,
        latency_ms=usage.latency_ms,
        calls=usage.calls,
        cost_eur=cost_eur(prices, result.model, usage.tokens_in, usage.tokens_out),
    )
