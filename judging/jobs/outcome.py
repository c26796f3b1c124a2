"""How one attempt at a chunk ends: done, or a retry after a delay; which call failures
earn that retry, which fail the job and which stay with their item; how failure reasons
are counted on the job; and the timing line every attempt logs."""

import logging
import re
import time
from collections import Counter
from dataclasses import dataclass, field

from ..llm_client import LLMCallError
from ..models import JudgeChunk

log = logging.getLogger(__name__)

# Distinct failure reasons a job keeps (messages may carry numbers, e.g. token counts);
# the rarest beyond these are summed under OTHER_REASONS.
MAX_REASONS = 20
OTHER_REASONS = "other reasons"


@dataclass
class ChunkOutcome:
    retry_in: float | None = None  # seconds until the chunk should run again


@dataclass
class CallFailures:
    """The failed calls among a chunk's results, by what they mean for the chunk."""

    transient: list[LLMCallError] = field(default_factory=list)  # may work later: retry the chunk
    fatal: list[LLMCallError] = field(default_factory=list)  # the endpoint refuses the job's calls


def call_failures(results: list) -> CallFailures:
    """Sort the failed calls. A call whose input the model cannot take (an image to a
    text-only model, a prompt over its context size) is neither: it fails that item only,
    at once, and the caller records it. Any other exception is a bug and is raised."""
    failures = CallFailures()
    for result in results:
        if isinstance(result, LLMCallError):
            if result.unsupported_input:
                continue
            (failures.transient if result.retryable else failures.fatal).append(result)
        elif isinstance(result, BaseException):
            raise result
    return failures


def unreadable_input(error: LLMCallError) -> str:
    """The reason an item fails when the model cannot take its input."""
    return f"the model cannot take this input: {error}"


def retry_delay(chunk: JudgeChunk, errors: list[LLMCallError]) -> float:
    base = min(300.0, 5.0 * 2 ** (chunk.attempts - 1))
    hinted = max((e.retry_after or 0.0 for e in errors), default=0.0)
    return max(base, hinted)


# Token counts differ from pair to pair ("request (2210 tokens) exceeds the available
# context size (2048 tokens)"): counted as one reason, the pairs' own rows keep the numbers.
_TOKEN_COUNT = re.compile(r"\b\d+ tokens\b")


def reason_key(reason: str) -> str:
    """The reason under which a failure is counted on its job."""
    return _TOKEN_COUNT.sub("N tokens", reason)[:500]


def merged_reasons(current: dict, added: Counter) -> dict[str, int]:
    """A job's failure reasons (reason → pairs) with a chunk's added, most frequent first."""
    merged = Counter({str(k): int(v) for k, v in (current or {}).items()})
    for reason, count in added.items():
        merged[reason_key(reason)] += count
    ranked = merged.most_common()
    if len(ranked) > MAX_REASONS:
        kept, rest = ranked[: MAX_REASONS - 1], ranked[MAX_REASONS - 1 :]
        ranked = [*kept, (OTHER_REASONS, sum(n for _, n in rest))]
    return dict(ranked)


def log_timing(
    chunk: JudgeChunk, items: int, started: float, called: float, answered: float, *, writing: float = 0.0
) -> None:
    # One line per chunk says where its time went: reading, LLM calls (with the batch
    # writes made meanwhile), the final write; bench/bench_judge.py reads these lines.
    log.info(
        "job %s %s chunk %s: %d items; read %.2fs, llm %.2fs (writing %.2fs meanwhile), write %.2fs",
        chunk.job_id, chunk.phase, chunk.index, items, called - started, answered - called, writing, time.monotonic() - answered,
    )  # fmt: skip
