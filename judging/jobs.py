"""Judge jobs: "judge these pairs", fanned out over Celery chunk tasks.

Flow: judge_job_create (a request, the CLI or reviews' "evaluate run") fixes the pair
list and enqueues judge_job_launch after commit. Launch splits the work into `prep`
chunks (guidelines for new queries, descriptions for new images) and `judge` chunks
(slices of the pairs); judge chunks are enqueued when the last prep chunk is done, so
every guideline is paid for once. A chunk task keeps up to max_in_flight LLM calls
going (asyncio + semaphore), then writes all its results in one transaction that also
marks the chunk done, conditionally: a re-delivered chunk finds its results (cache
keys) or its done flag and adds nothing. LLM calls never run inside a transaction.
"""

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from celery import current_app
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Max, Q, Sum
from django.utils import timezone

from annotation.bulk import bulk_update_rows
from annotation.models import Label, LabelSource, Pair, ProductImage, Project, Query, SearchResult, SearchRun

from . import prompts
from .contracts import GuidelineDraft
from .llm_client import LLMCallError
from .models import Guideline, ImageDescription, JudgeChunk, JudgeJob, Judgment, Mode
from .services import (
    JudgingConfigError,
    backend_for,
    cost_eur,
    current_guidelines,
    description_key,
    guideline_draft,
    guideline_key,
    image_data_url,
    judge_config_for,
    judgment_key,
    levels_for,
    models_for,
    pairs_for_judging,
    price_table,
    product_context,
    project_vocabulary,
    query_context,
)

log = logging.getLogger(__name__)


class JobError(ValueError):
    """A job that cannot be created or changed as asked; `status` is the HTTP answer."""

    status = 400


class JobConflict(JobError):
    """The run has a queued or running job already."""

    status = 409


ONE_ACTIVE_PER_RUN = "judgejob_one_active_per_run"


# --- creating and cancelling ----------------------------------------------------------


def run_pair_ids(run: SearchRun) -> list[int]:
    return list(SearchResult.objects.filter(run=run).values_list("pair_id", flat=True).distinct())


def judged_pair_ids(*, project: Project, pair_ids: Iterable[int], mode: str) -> set[int]:
    """Pairs that already have a judgment from the project's current model, prompt and mode."""
    config = judge_config_for(project)
    model = models_for(config)["judge"]
    found: set[int] = set()
    ids = list(pair_ids)
    for start in range(0, len(ids), 5000):
        found.update(
            Judgment.objects.filter(
                pair_id__in=ids[start : start + 5000], model=model, mode=mode, prompt_version=prompts.JUDGMENT_VERSION
            ).values_list("pair_id", flat=True)
        )
    return found


def judge_job_create(
    *,
    project: Project,
    run: SearchRun | None = None,
    pair_ids: Iterable[int] | None = None,
    holes_only: bool = True,
    mode: str | None = None,
    user=None,
    on_done: str = "",
) -> JudgeJob:
    """Create a job for a run's pairs (only those not judged yet with holes_only) or an
    explicit list of pairs (with a run: pairs of that run, and the job is the run's), and
    enqueue it once the transaction commits."""
    config = judge_config_for(project)
    mode = mode or config.mode
    if mode not in Mode.values:
        raise JobError(f"unknown mode {mode!r}; choose one of {', '.join(Mode.values)}")
    if run is not None and run.project_id != project.id:
        raise JobError("the run belongs to another project")
    if pair_ids is not None:
        wanted = set(pair_ids)
        pairs = Pair.objects.filter(project=project, id__in=list(wanted))
        if run is not None:
            pairs = pairs.filter(id__in=SearchResult.objects.filter(run=run).values("pair_id"))
        ids = list(pairs.values_list("id", flat=True))
        if len(ids) != len(wanted):
            owner = f"run {run.name}" if run is not None else f"project {project.name}"
            raise JobError(f"{len(wanted) - len(ids)} pair id(s) do not belong to {owner}")
        what = f"{len(ids)} pairs" + (f" of run {run.name}" if run is not None else "")
    elif run is not None:
        ids = run_pair_ids(run)
        what = f"run {run.name}"
    else:
        raise JobError("give a run or a list of pairs")
    if holes_only:
        ids = sorted(set(ids) - judged_pair_ids(project=project, pair_ids=ids, mode=mode))
        what = f"holes of {what}" if run is not None else what
    # Ordered by query so that a chunk's pairs share guidelines and prompt prefixes.
    ordered = (
        list(Pair.objects.filter(id__in=ids).order_by("query_id", "id").values_list("id", flat=True)) if ids else []
    )
    models = models_for(config)
    try:
        # A savepoint: the caller's transaction stays usable when the insert is refused.
        with transaction.atomic():
            job = JudgeJob.objects.create(
                project=project,
                run=run,
                description=f"judge {what} ({mode})",
                backend=config.backend,
                mode=mode,
                model=models["judge"],
                pair_ids=ordered,
                total=len(ordered),
                created_by=user if user is not None and user.is_authenticated else None,
                on_done=on_done,
            )
    except IntegrityError as exc:
        # The partial unique index, not a check-then-create, decides: of two requests
        # racing over the same run exactly one job is made, and the LLM is paid once.
        if getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None) != ONE_ACTIVE_PER_RUN:
            raise
        active = JudgeJob.objects.filter(run=run, status__in=JudgeJob.ACTIVE).first()
        ident = f" {active.id}" if active is not None else ""
        raise JobConflict(f"Judging job{ident} of run {run.name} is still active; wait for it or cancel it.") from None
    from .tasks import judge_job_launch_task  # tasks import this module

    judge_job_launch_task.delay_on_commit(job.id)
    return job


def judge_job_cancel(*, job: JudgeJob) -> bool:
    """Stop a queued or running job; chunks in flight finish and keep what they paid for."""
    changed = JudgeJob.objects.filter(id=job.id, status__in=JudgeJob.ACTIVE).update(
        status=JudgeJob.Status.CANCELLED, finished_at=timezone.now()
    )
    if changed == 1:
        _store_usage(job.id)
    return changed == 1


def _store_usage(job_id: int) -> None:
    """Keep what an ended job paid for on the job row (cancelled and failed jobs too)."""
    usage = job_usage(JudgeJob.objects.get(id=job_id))
    JudgeJob.objects.filter(id=job_id).update(
        calls=usage["calls"], tokens_in=usage["tokens_in"], tokens_out=usage["tokens_out"], cost_eur=usage["cost_eur"]
    )


# --- launching ------------------------------------------------------------------------


def _slices(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)] or []


def judge_job_launch(*, job_id: int) -> None:
    job = JudgeJob.objects.select_related("project").get(id=job_id)
    if job.status not in JudgeJob.ACTIVE:
        return
    if job.chunks.exists():  # re-delivered launch: only re-enqueue what is not done
        _enqueue_pending(job)
        return
    project = job.project
    config = judge_config_for(project)
    models = models_for(config)
    if job.total == 0:
        _job_finish(job.id)
        return

    query_ids = sorted(set(Pair.objects.filter(id__in=job.pair_ids).values_list("query_id", flat=True)))
    rulebook = list(project.rulebook or [])
    have = set(Guideline.objects.filter(query_id__in=query_ids).values_list("cache_key", flat=True))
    queries_needed = [
        q.id
        for q in Query.objects.filter(id__in=query_ids)
        if guideline_key(model=models["guideline"], query=q, rulebook=rulebook) not in have
    ]
    images_needed: list[int] = []
    if job.mode == Mode.CAPTION:
        product_ids = set(Pair.objects.filter(id__in=job.pair_ids).values_list("product_id", flat=True))
        images = list(ProductImage.objects.filter(product_id__in=product_ids))
        # Descriptions are cached by image content, not by image row: products sharing
        # an image share one description (one call), whichever row it was made for.
        image_keys = {i.id: description_key(model=models["vision"], image=i) for i in images}
        described = set(
            ImageDescription.objects.filter(cache_key__in=set(image_keys.values())).values_list("cache_key", flat=True)
        )
        needed: dict[str, int] = {}
        for image in images:
            if image_keys[image.id] not in described:
                needed.setdefault(image_keys[image.id], image.id)
        images_needed = sorted(needed.values())

    # One chunk fills one worker process's in-flight window: with bigger chunks the
    # last round ran half empty (1,000 guidelines in 5 chunks of 200 on 2 processes).
    prep_size = max(config.max_in_flight, 50)
    prep_items = [("queries", q) for q in queries_needed] + [("images", i) for i in images_needed]
    chunks = []
    for index, part in enumerate(_slices(prep_items, prep_size)):
        items = {"queries": [v for k, v in part if k == "queries"], "images": [v for k, v in part if k == "images"]}
        chunks.append(JudgeChunk(job=job, phase=JudgeChunk.Phase.PREP, index=index, items=items))
    judge_slices = _slices(job.pair_ids, settings.QRELAY_JUDGE_CHUNK_SIZE)
    for index, part in enumerate(judge_slices):
        chunks.append(JudgeChunk(job=job, phase=JudgeChunk.Phase.JUDGE, index=index, items={"pairs": part}))
    with transaction.atomic():
        JudgeChunk.objects.bulk_create(chunks)
        vocabulary = project_vocabulary(project) if queries_needed else {}
        # Conditional: a cancel that arrived while the chunks were planned must win.
        started = JudgeJob.objects.filter(id=job.id, status__in=JudgeJob.ACTIVE).update(
            status=JudgeJob.Status.RUNNING,
            started_at=timezone.now(),
            vocabulary=vocabulary,
            prep_total=len(chunks) - len(judge_slices),
            chunks_total=len(judge_slices),
        )
        if started != 1:
            transaction.set_rollback(True)
            return
        job.refresh_from_db()
        transaction.on_commit(lambda: _enqueue_pending(job))


def _enqueue_pending(job: JudgeJob) -> None:
    from .tasks import judge_chunk_task

    pending = JudgeChunk.objects.filter(job=job, done=False)
    if job.prep_done < job.prep_total:
        pending = pending.filter(phase=JudgeChunk.Phase.PREP)
    for chunk_id in pending.values_list("id", flat=True):
        judge_chunk_task.delay(chunk_id)


# --- running a chunk ------------------------------------------------------------------


# Fewest judgments a judge chunk writes in one transaction while its calls go on.
WRITE_BATCH_MIN = 100


@dataclass
class ChunkOutcome:
    retry_in: float | None = None  # seconds until Celery should retry the chunk


async def _limited(limit: int, factories: list[Callable[[], Awaitable]]) -> list:
    """Run the calls with at most `limit` in flight; exceptions are returned, not raised."""
    semaphore = asyncio.Semaphore(limit)

    async def one(factory):
        async with semaphore:
            return await factory()

    return await asyncio.gather(*(one(f) for f in factories), return_exceptions=True)


async def _run_with_backend(config, limit: int, make_factories: Callable[[object], list]) -> list:
    backend = backend_for(config, max_in_flight=limit)
    try:
        return await _limited(limit, make_factories(backend))
    finally:
        close = getattr(backend, "client", None)
        if close is not None:
            await close.aclose()


def _calls_in_background(
    config, make_factories: Callable[[object], list], results: list, *, batch: int
) -> Iterator[list[int]]:
    """Run the calls on an event loop in a helper thread, max_in_flight at a time, put
    each outcome (or its exception) into `results`, and yield the indices of finished
    calls in batches of `batch` (the rest at the end) for the caller to write meanwhile.
    The helper thread never touches the database: the caller's connection, and its
    transaction if it has one, do all the writing."""
    finished: queue.Queue = queue.Queue()
    failure: list[BaseException] = []

    async def run() -> None:
        backend = backend_for(config, max_in_flight=config.max_in_flight)
        semaphore = asyncio.Semaphore(config.max_in_flight)

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
    ready: list[int] = []
    while (index := finished.get()) is not None:
        ready.append(index)
        if len(ready) >= batch:
            yield ready
            ready = []
    thread.join()
    if failure:
        raise failure[0]
    if ready:
        yield ready


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
            outcome = _prep_chunk(chunk, final_attempt)
        else:
            outcome = _judge_chunk(chunk, final_attempt)
        if outcome.retry_in is not None:
            # Alive until the retry is due: the watchdog must not take a long Retry-After
            # wait (the message sits unacked in a worker) for lost work and run it twice.
            JudgeChunk.objects.filter(id=chunk.id).update(
                touched_at=timezone.now() + timedelta(seconds=outcome.retry_in)
            )
        return outcome
    except JudgingConfigError as exc:
        _job_fail(job.id, str(exc))
        return ChunkOutcome()
    except LLMCallError as exc:  # not retryable (401, 400, unknown model): the job cannot work
        _job_fail(job.id, f"the LLM endpoint refused the request: {exc}")
        return ChunkOutcome()


def _transient(results: list) -> list[LLMCallError]:
    errors = [r for r in results if isinstance(r, LLMCallError)]
    fatal = [e for e in errors if not e.retryable]
    if fatal:
        raise fatal[0]
    unexpected = [r for r in results if isinstance(r, BaseException) and not isinstance(r, LLMCallError)]
    if unexpected:
        raise unexpected[0]
    return errors


def _retry_delay(chunk: JudgeChunk, errors: list[LLMCallError]) -> float:
    base = min(300.0, 5.0 * 2 ** (chunk.attempts - 1))
    hinted = max((e.retry_after or 0.0 for e in errors), default=0.0)
    return max(base, hinted)


def _prep_chunk(chunk: JudgeChunk, final_attempt: bool) -> ChunkOutcome:
    started = time.monotonic()
    job = chunk.job
    project = job.project
    config = judge_config_for(project)
    models = models_for(config)
    rulebook = list(project.rulebook or [])
    queries = list(Query.objects.filter(id__in=chunk.items.get("queries", [])))
    have = set(Guideline.objects.filter(query__in=queries).values_list("cache_key", flat=True))
    queries = [q for q in queries if guideline_key(model=models["guideline"], query=q, rulebook=rulebook) not in have]
    images = list(ProductImage.objects.filter(id__in=chunk.items.get("images", [])).select_related("product"))
    image_keys = {i.id: description_key(model=models["vision"], image=i) for i in images}
    described = set(
        ImageDescription.objects.filter(cache_key__in=set(image_keys.values())).values_list("cache_key", flat=True)
    )
    images = [i for i in images if image_keys[i.id] not in described]
    contexts = [query_context(q, project=project, vocabulary=job.vocabulary) for q in queries]
    image_urls = [image_data_url(i) for i in images]

    def factories(backend):
        calls = [lambda ctx=ctx: backend.guideline(ctx) for ctx in contexts]
        calls += [
            lambda url=url, image=image: backend.describe(image_url=url, title=image.product.title)
            for url, image in zip(image_urls, images)
            if url
        ]
        return calls

    called = time.monotonic()
    results = asyncio.run(_run_with_backend(config, config.max_in_flight, factories))
    answered = time.monotonic()
    errors = _transient(results)
    prices = price_table()
    guideline_rows, description_rows = [], []
    for query, result in zip(queries, results[: len(queries)]):
        if isinstance(result, BaseException):
            continue
        draft = result.value or GuidelineDraft(
            requirements=[], text=f"(No guideline: the model's answers were invalid: {result.error})"
        )
        guideline_rows.append((query, draft, result))
    for image, result in zip([i for i, u in zip(images, image_urls) if u], results[len(queries) :]):
        if isinstance(result, BaseException) or result.value is None:
            continue
        description_rows.append((image, result))
    with transaction.atomic():
        locked = JudgeChunk.objects.select_for_update().get(id=chunk.id)
        if locked.done:
            return ChunkOutcome()
        versions = dict(
            Guideline.objects.filter(query__in=[q for q, _, _ in guideline_rows])
            .values_list("query_id")
            .annotate(v=Max("version"))
        )
        # One INSERT per table, ignoring rows whose cache key exists (as get_or_create
        # did, row by row: 200 guidelines took seconds of round trips).
        Guideline.objects.bulk_create(
            [
                Guideline(
                    cache_key=guideline_key(model=models["guideline"], query=query, rulebook=rulebook),
                    project=project,
                    query=query,
                    version=versions.get(query.id, 0) + 1,
                    requirements=draft.as_dict()["requirements"],
                    text=draft.text,
                    tags=draft.tags,
                    job=job,
                    **_call_fields(result, prices, prompts.GUIDELINE_VERSION),
                )
                for query, draft, result in guideline_rows
            ],
            ignore_conflicts=True,
        )
        _merge_query_tags([(query, draft.tags) for query, draft, _ in guideline_rows])
        ImageDescription.objects.bulk_create(
            [
                ImageDescription(
                    cache_key=description_key(model=models["vision"], image=image),
                    image=image,
                    text=result.value,
                    job=job,
                    **_call_fields(result, prices, prompts.DESCRIPTION_VERSION),
                )
                for image, result in description_rows
            ],
            ignore_conflicts=True,
        )
        if errors and not final_attempt:
            return ChunkOutcome(retry_in=_retry_delay(chunk, errors))
        JudgeChunk.objects.filter(id=chunk.id).update(
            done=True, failed=len(errors), error=str(errors[0]) if errors else ""
        )
        updated = JudgeJob.objects.filter(id=job.id).update(prep_done=F("prep_done") + 1)
        job.refresh_from_db(fields=["prep_done", "prep_total", "status"])
        if updated and job.prep_done == job.prep_total:
            transaction.on_commit(lambda: _enqueue_pending(job))
    _log_timing(chunk, len(results), started, called, answered)
    return ChunkOutcome()


def _log_timing(
    chunk: JudgeChunk, items: int, started: float, called: float, answered: float, *, writing: float = 0.0
) -> None:
    # One line per chunk says where its time went: reading, LLM calls (with the batch
    # writes made meanwhile), the final write; bench/bench_judge.py reads these lines.
    log.info(
        "job %s %s chunk %s: %d items; read %.2fs, llm %.2fs (writing %.2fs meanwhile), write %.2fs",
        chunk.job_id, chunk.phase, chunk.index, items, called - started, answered - called, writing, time.monotonic() - answered,
    )  # fmt: skip


def _merge_query_tags(tagged: list[tuple[Query, list[str]]]) -> None:
    changed = []
    for query, tags in tagged:
        merged = sorted(set(query.tags or []) | set(tags))
        if merged != sorted(query.tags or []):
            query.tags = merged
            changed.append(query)
    bulk_update_rows(Query, changed, ["tags"])


def _call_fields(result, prices, prompt_version: str) -> dict:
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


def _judge_chunk(chunk: JudgeChunk, final_attempt: bool) -> ChunkOutcome:
    started = time.monotonic()
    job = chunk.job
    project = job.project
    config = judge_config_for(project)
    models = models_for(config)
    levels = levels_for(project)
    pairs = pairs_for_judging(chunk.items["pairs"])
    guidelines = current_guidelines({p.query_id for p in pairs})
    descriptions: dict[int, str] = {}
    if job.mode == Mode.CAPTION:
        # By cache key (image content), as the prep step made them: a description made
        # for another product with the same image is this image's description too.
        image_keys = {
            i.id: description_key(model=models["vision"], image=i) for p in pairs for i in p.product.images.all()
        }
        texts = dict(
            ImageDescription.objects.filter(cache_key__in=set(image_keys.values())).values_list("cache_key", "text")
        )
        descriptions = {image_id: texts[key] for image_id, key in image_keys.items() if key in texts}
    keys = {}
    for pair in pairs:
        guideline = guidelines.get(pair.query_id)
        keys[pair.id] = judgment_key(
            pair_id=pair.id,
            model=models["judge"],
            mode=job.mode,
            guideline_key=guideline.cache_key if guideline else "",
            product=pair.product,
            query=pair.query,
            levels=levels,
            samples=config.samples,
            logprobs=config.use_logprobs,
        )
    existing = set(Judgment.objects.filter(cache_key__in=list(keys.values())).values_list("cache_key", flat=True))
    todo = [p for p in pairs if keys[p.id] not in existing]
    inputs = []
    for pair in todo:
        guideline = guidelines.get(pair.query_id)
        draft = guideline_draft(guideline) if guideline else GuidelineDraft(requirements=[], text="")
        inputs.append(
            (
                query_context(pair.query, project=project, vocabulary={}),
                draft,
                product_context(pair.product, mode=job.mode, descriptions=descriptions),
            )
        )

    def factories(backend):
        return [
            lambda q=q, g=g, p=p: backend.judge(
                query=q,
                guideline=g,
                product=p,
                levels=levels,
                mode=job.mode,
                samples=config.samples,
                use_logprobs=config.use_logprobs,
            )
            for q, g, p in inputs
        ]

    prices = price_table()
    results: list = [None] * len(todo)
    written = 0
    called = time.monotonic()
    writing = 0.0
    # Finished calls are written in batches while the others are still in flight, so
    # the database work does not leave the endpoint idle; each batch is idempotent like
    # the whole chunk (cache keys; labels only for unlabelled judgments of this job), and
    # a killed task keeps the batches it wrote.
    for batch in (
        _calls_in_background(config, factories, results, batch=max(2 * config.max_in_flight, WRITE_BATCH_MIN))
        if todo
        else []
    ):
        begun = time.monotonic()
        with transaction.atomic():
            written += _write_judgments(
                job, [todo[i] for i in batch], [results[i] for i in batch], keys, guidelines, prices
            )
            JudgeChunk.objects.filter(id=chunk.id).update(touched_at=timezone.now())  # alive, for the watchdog
        writing += time.monotonic() - begun
    answered = time.monotonic()
    errors = _transient(results)
    with transaction.atomic():
        locked = JudgeChunk.objects.select_for_update().get(id=chunk.id)
        if locked.done:
            return ChunkOutcome()
        if errors and not final_attempt:
            return ChunkOutcome(retry_in=_retry_delay(chunk, errors))
        # Counted from the database, so a retried chunk counts what earlier attempts wrote too.
        counts = _judgment_counts(keys.values(), job)
        JudgeChunk.objects.filter(id=chunk.id).update(
            done=True,
            judged=counts["ok"],
            cached=counts["cached"],
            failed=counts["invalid"] + len(errors),
            error=str(errors[0]) if errors else "",
        )
        JudgeJob.objects.filter(id=job.id).update(
            chunks_done=F("chunks_done") + 1,
            done=F("done") + counts["ok"] + counts["cached"],
            failed=F("failed") + counts["invalid"] + len(errors),
            cached=F("cached") + counts["cached"],
        )
        log.debug("chunk %s wrote %s judgments", chunk.id, written)
    _log_timing(chunk, len(results), started, called, answered, writing=writing)
    _job_finish_if_complete(job.id)
    return ChunkOutcome()


def _write_judgments(job, pairs, results, keys, guidelines, prices) -> int:
    """Bulk-write the chunk's new judgments and, for valid ones, their LLM labels.

    Judgments are inserted with ON CONFLICT DO NOTHING on the cache key; labels are made
    only for judgments of this job that have none yet, under a row lock, so a repeat
    (re-delivery, a parallel job over the same pairs) never adds a second label."""
    rows = []
    for pair, result in zip(pairs, results):
        if isinstance(result, BaseException):
            continue  # transient failure: the pair is retried with the chunk
        guideline = guidelines.get(pair.query_id)
        verdict = result.value
        rows.append(
            Judgment(
                cache_key=keys[pair.id],
                project_id=job.project_id,
                pair=pair,
                product_id=pair.product_id,
                guideline=guideline,
                job=job,
                backend=job.backend,
                mode=job.mode,
                status=Judgment.Status.OK if verdict else Judgment.Status.INVALID,
                value=verdict.value if verdict else None,
                confidence=verdict.confidence if verdict else None,
                rationale=verdict.rationale if verdict else "",
                requirements_met=verdict.requirements_met if verdict else [],
                requirements_unmet=verdict.requirements_unmet if verdict else [],
                samples=verdict.samples if verdict else [],
                error=result.error,
                **_call_fields(result, prices, prompts.JUDGMENT_VERSION),
            )
        )
    Judgment.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
    # of=("self",): the guideline join is an outer join, whose nullable side PostgreSQL
    # refuses to lock; only the judgment rows need the lock.
    unlabelled = list(
        Judgment.objects.select_for_update(of=("self",))
        .filter(cache_key__in=[row.cache_key for row in rows], job=job, status=Judgment.Status.OK, label__isnull=True)
        .select_related("guideline")
    )
    labels = Label.objects.bulk_create(
        [
            Label(
                project_id=job.project_id,
                pair_id=j.pair_id,
                source=LabelSource.LLM,
                rater=j.model,
                value=j.value,
                confidence=j.confidence,
                rationale=j.rationale,
                guideline_version=j.guideline.version if j.guideline else None,
            )
            for j in unlabelled
        ],
        batch_size=500,
    )
    for judgment, label in zip(unlabelled, labels):
        judgment.label_id = label.id
    bulk_update_rows(Judgment, unlabelled, ["label"])
    return len(unlabelled)


def _judgment_counts(keys, job: JudgeJob) -> dict[str, int]:
    """For the chunk's cache keys: judgments this job made (ok / invalid), and those
    that existed from earlier work (cached)."""
    counts = {"ok": 0, "invalid": 0, "cached": 0}
    rows = Judgment.objects.filter(cache_key__in=list(keys)).values("status", "job_id").annotate(n=Count("id"))
    for row in rows:
        counts[row["status"] if row["job_id"] == job.id else "cached"] += row["n"]
    return counts


# --- finishing ------------------------------------------------------------------------


def _job_fail(job_id: int, error: str) -> None:
    if JudgeJob.objects.filter(id=job_id, status__in=JudgeJob.ACTIVE).update(
        status=JudgeJob.Status.FAILED, error=error[:2000], finished_at=timezone.now()
    ):
        _store_usage(job_id)


def _job_finish_if_complete(job_id: int) -> None:
    job = JudgeJob.objects.get(id=job_id)
    if job.status == JudgeJob.Status.RUNNING and job.chunks_done >= job.chunks_total:
        _job_finish(job_id)


def _job_finish(job_id: int) -> None:
    usage = job_usage(JudgeJob.objects.get(id=job_id))
    changed = JudgeJob.objects.filter(id=job_id, status__in=JudgeJob.ACTIVE).update(
        status=JudgeJob.Status.DONE,
        finished_at=timezone.now(),
        calls=usage["calls"],
        tokens_in=usage["tokens_in"],
        tokens_out=usage["tokens_out"],
        cost_eur=usage["cost_eur"],
    )
    job = JudgeJob.objects.get(id=job_id)
    if changed and job.on_done:
        # The app that asked for the job (e.g. reviews routing) takes over by task name,
        # so judging never imports it.
        transaction.on_commit(lambda: _send_on_done(job))


def _send_on_done(job: JudgeJob) -> None:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        # send_task bypasses eager execution; the embedded mode runs the task here,
        # after loading every app's tasks module (autodiscovery is lazy outside workers).
        current_app.loader.import_default_modules()
        current_app.tasks[job.on_done].delay(job.id)
    else:
        current_app.send_task(job.on_done, args=[job.id])


def job_usage(job: JudgeJob) -> dict:
    """Calls, tokens and cost of everything this job paid for, from the stored rows."""
    totals = {"calls": 0, "tokens_in": 0, "tokens_out": 0, "cost_eur": Decimal(0)}
    for model in (Judgment, Guideline, ImageDescription):
        agg = model.objects.filter(job=job).aggregate(
            calls=Sum("calls"), tokens_in=Sum("tokens_in"), tokens_out=Sum("tokens_out"), cost_eur=Sum("cost_eur")
        )
        for key in totals:
            totals[key] += agg[key] or 0
    return totals


def job_eta(job: JudgeJob) -> timedelta | None:
    if job.status != JudgeJob.Status.RUNNING or not job.started_at or not job.processed:
        return None
    elapsed = timezone.now() - job.started_at
    remaining = job.total - job.processed
    return elapsed / job.processed * remaining


def project_jobs(project: Project):
    return JudgeJob.objects.filter(project=project).exclude(Q(status=JudgeJob.Status.DONE) & Q(total=0))
