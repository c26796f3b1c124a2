"""How one attempt at a chunk ends: done, or a Celery retry after a delay; which call
failures earn that retry; and the timing line every attempt logs."""

import logging
import time
from dataclasses import dataclass

from ..llm_client import LLMCallError
from ..models import JudgeChunk

log = logging.getLogger(__name__)


@dataclass
class ChunkOutcome:
    retry_in: float | None = None  # seconds until Celery should retry the chunk


def transient_errors(results: list) -> list[LLMCallError]:
    """The retryable failures among the results; any other failure is raised: it fails
    the job (a refused request) or is a bug."""
    errors = [r for r in results if isinstance(r, LLMCallError)]
    fatal = [e for e in errors if not e.retryable]
    if fatal:
        raise fatal[0]
    unexpected = [r for r in results if isinstance(r, BaseException) and not isinstance(r, LLMCallError)]
    if unexpected:
        raise unexpected[0]
    return errors


def retry_delay(chunk: JudgeChunk, errors: list[LLMCallError]) -> float:
    base = min(300.0, 5.0 * 2 ** (chunk.attempts - 1))
    hinted = max((e.retry_after or 0.0 for e in errors), default=0.0)
    return max(base, hinted)


def log_timing(
    chunk: JudgeChunk, items: int, started: float, called: float, answered: float, *, writing: float = 0.0
) -> None:
    # One line per chunk says where its time went: reading, LLM calls (with the batch
    # writes made meanwhile), the final write; bench/bench_judge.py reads these lines.
    log.info(
        "job %s %s chunk %s: %d items; read %.2fs, llm %.2fs (writing %.2fs meanwhile), write %.2fs",
        chunk.job_id, chunk.phase, chunk.index, items, called - started, answered - called, writing, time.monotonic() - answered,
    )  # fmt: skip
