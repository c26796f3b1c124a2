"""One attempt at a chunk, whichever its phase: count the attempt on the chunk row, run
the phase, and fail the job on an error no retry can fix."""

from datetime import timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from ..llm_client import LLMCallError
from ..models import JudgeChunk, JudgeJob
from ..services import JudgingConfigError
from .finish import job_fail
from .judge_chunk import run_judge_chunk
from .outcome import ChunkOutcome
from .prep_chunk import run_prep_chunk


def judge_chunk_run(*, chunk_id: int) -> ChunkOutcome:
    chunk = JudgeChunk.objects.select_related("job", "job__project").get(id=chunk_id)
    job = chunk.job
    if chunk.done or job.status != JudgeJob.Status.RUNNING:
        return ChunkOutcome()
    JudgeChunk.objects.filter(id=chunk.id).update(attempts=F("attempts") + 1, touched_at=timezone.now())
    chunk.attempts += 1
    final_attempt = chunk.attempts > settings.QRELAY_JUDGE_CHUNK_RETRIES
    try:
        if chunk.phase == JudgeChunk.Phase.PREP:
            outcome = run_prep_chunk(chunk, final_attempt)
        else:
            outcome = run_judge_chunk(chunk, final_attempt)
        if outcome.retry_in is not None:
            # Alive until the retry is due: the watchdog must not take a long Retry-After
            # wait (the message sits unacked in a worker) for lost work and run it twice.
            JudgeChunk.objects.filter(id=chunk.id).update(
                touched_at=timezone.now() + timedelta(seconds=outcome.retry_in)
            )
        return outcome
    except JudgingConfigError as exc:
        job_fail(job.id, str(exc))
        return ChunkOutcome()
    except LLMCallError as exc:  # not retryable (401, 400, unknown model): the job cannot work
        job_fail(job.id, f"the LLM endpoint refused the request: {exc}")
        return ChunkOutcome()
