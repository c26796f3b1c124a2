"""Judge jobs: "judge these pairs", fanned out over Celery chunk tasks.

Flow: judge_job_create (a request, the CLI or reviews' "evaluate run") fixes the pair
list and the configuration, and enqueues judge_job_launch after commit. Launch splits
the work into `prep` chunks (guidelines for new queries, descriptions for new images)
and `judge` chunks (slices of the pairs); judge chunks are enqueued when the last prep
chunk is done, so every guideline is paid for once. A chunk task keeps up to
max_in_flight LLM calls going (asyncio + semaphore), then writes all its results in one
transaction that also marks the chunk done, conditionally: a re-delivered chunk finds
its results (cache keys) or its done flag and adds nothing. LLM calls never run inside
a transaction.

Modules, in the order a job meets them: `create` (creating, cancelling) with
`endpoint` (the endpoint's /v1/models, checked at creation), `launch` (planning chunks,
enqueueing them, resuming a stalled job), `sending` (a Celery message, or a run in this
process when there is no broker), `chunks` (one attempt at a chunk) running `prep_chunk`
or `judge_chunk`, whose LLM calls run in `calls` and whose attempts end as `outcome`
says; `finish` (done, failed, on_done) and `figures` (usage, ETA). The names below are
what the rest of qrelay uses.
"""

from .chunks import judge_chunk_run
from .create import JobConflict, JobError, judge_job_cancel, judge_job_create, judged_pair_ids, run_pair_ids
from .figures import job_eta, job_usage, project_jobs
from .launch import judge_job_launch, judge_job_resume
from .outcome import ChunkOutcome

__all__ = [
    "ChunkOutcome",
    "JobConflict",
    "JobError",
    "job_eta",
    "job_usage",
    "judge_chunk_run",
    "judge_job_cancel",
    "judge_job_create",
    "judge_job_launch",
    "judge_job_resume",
    "judged_pair_ids",
    "project_jobs",
    "run_pair_ids",
]
