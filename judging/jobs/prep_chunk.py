"""The prep chunk: the guidelines (new queries) and image descriptions (new images, in
caption mode) that the job's judge chunks need, each paid for once. The last prep chunk
to finish enqueues the judge chunks."""

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from django.db import transaction
from django.db.models import F, Max

from annotation.bulk import bulk_update_rows
from annotation.models import ProductImage, Query, QueryImage
from annotation.rulebook import active_rules, fingerprint, guideline_rules

from .. import prompts
from ..intents import query_tags
from ..llm_client import LLMCallError
from ..models import Guideline, ImageDescription, JudgeChunk, JudgeJob, PrepFailure
from ..services import (
    calls_in_flight,
    description_key,
    guideline_key,
    image_data_url,
    job_judge_config,
    models_for,
    price_table,
    query_context,
)
from . import launch
from .calls import call_fields, run_with_backend
from .outcome import ChunkOutcome, call_failures, log_timing, retry_delay, unreadable_input


def run_prep_chunk(chunk: JudgeChunk, final_attempt: bool) -> ChunkOutcome:
    started = time.monotonic()
    job = chunk.job
    project = job.project
    config = job_judge_config(job)
    models = models_for(config)
    rules = guideline_rules(active_rules(project.id))
    rulebook = fingerprint(rules)
    # What an earlier attempt of this chunk could not get stays failed for this job: a
    # retry is for calls that may work later, not for answers that were invalid.
    failed = set(PrepFailure.objects.filter(job=job).values_list("cache_key", flat=True))
    queries = list(Query.objects.filter(id__in=chunk.items.get("queries", [])).prefetch_related("images"))
    query_keys = {
        q.id: guideline_key(model=models["guideline"], query=q, rulebook=rulebook, mode=job.mode) for q in queries
    }
    have = set(Guideline.objects.filter(query__in=queries).values_list("cache_key", flat=True)) | failed
    queries = [q for q in queries if query_keys[q.id] not in have]
    images: list[ProductImage | QueryImage] = list(
        ProductImage.objects.filter(id__in=chunk.items.get("images", [])).select_related("product")
    )
    # Queries' reference images (MERIT) are described like product images, after them.
    images += QueryImage.objects.filter(id__in=chunk.items.get("query_images", [])).select_related("query")
    image_keys = {_image_ref(i): description_key(model=models["vision"], image=i) for i in images}
    described = failed | set(
        ImageDescription.objects.filter(cache_key__in=set(image_keys.values())).values_list("cache_key", flat=True)
    )
    images = [i for i in images if image_keys[_image_ref(i)] not in described]
    contexts = [
        query_context(q, project=project, vocabulary=job.vocabulary, rules=rules, mode=job.mode) for q in queries
    ]
    image_urls = [image_data_url(i) for i in images]
    images = [i for i, url in zip(images, image_urls) if url]  # a lost file has nothing to describe
    image_urls = [url for url in image_urls if url]

    def factories(backend) -> list[Callable[[], Awaitable[Any]]]:
        calls: list[Callable[[], Awaitable[Any]]] = [partial(backend.guideline, ctx) for ctx in contexts]
        calls += [
            partial(backend.describe, image_url=url, title=_image_title(image))
            for url, image in zip(image_urls, images)
        ]
        return calls

    called = time.monotonic()
    results = asyncio.run(run_with_backend(config, calls_in_flight(config), factories))
    answered = time.monotonic()
    failures = call_failures(results)
    prices = price_table()
    guideline_rows, description_rows, failure_rows = [], [], []
    for query, result in zip(queries, results[: len(queries)]):
        key = query_keys[query.id]
        if isinstance(result, BaseException):
            reason = _call_failed(result, final_attempt)
            if reason:
                failure_rows.append(_failure(job, PrepFailure.Step.GUIDELINE, key, f"guideline failed: {reason}",
                                             models["guideline"], query=query))  # fmt: skip
        elif result.value is None:
            # An invalid or truncated guideline is never handed to the judge as if it
            # were one: the query's pairs fail with this reason.
            failure_rows.append(_failure(job, PrepFailure.Step.GUIDELINE, key, f"guideline invalid: {result.error}",
                                         models["guideline"], query=query, result=result, prices=prices))  # fmt: skip
        else:
            guideline_rows.append((query, result.value, result))
    for image, result in zip(images, results[len(queries) :]):
        key = image_keys[_image_ref(image)]
        if isinstance(result, BaseException):
            reason = _call_failed(result, final_attempt)
            if reason:
                failure_rows.append(_failure(job, PrepFailure.Step.DESCRIPTION, key, f"image description failed: {reason}",
                                             models["vision"], image=image))  # fmt: skip
        elif result.value is None:
            failure_rows.append(_failure(job, PrepFailure.Step.DESCRIPTION, key, f"image description failed: {result.error}",
                                         models["vision"], image=image, result=result, prices=prices))  # fmt: skip
        else:
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
                    cache_key=query_keys[query.id],
                    project=project,
                    query=query,
                    version=versions.get(query.id, 0) + 1,
                    requirements=draft.as_dict()["requirements"],
                    text=draft.text,
                    tags=draft.tags,
                    job=job,
                    **call_fields(result, prices, prompts.GUIDELINE_VERSION),
                )
                for query, draft, result in guideline_rows
            ],
            ignore_conflicts=True,
        )
        _merge_query_tags([(query, query_tags(draft)) for query, draft, _ in guideline_rows])
        ImageDescription.objects.bulk_create(
            [
                ImageDescription(
                    cache_key=image_keys[_image_ref(image)],
                    image=image if isinstance(image, ProductImage) else None,
                    query_image=image if isinstance(image, QueryImage) else None,
                    text=result.value,
                    job=job,
                    **call_fields(result, prices, prompts.DESCRIPTION_VERSION),
                )
                for image, result in description_rows
            ],
            ignore_conflicts=True,
        )
        PrepFailure.objects.bulk_create(failure_rows, ignore_conflicts=True)
        if failures.transient and not failures.fatal and not final_attempt:
            return ChunkOutcome(retry_in=retry_delay(chunk, failures.transient))
        if not failures.fatal:
            reasons = PrepFailure.objects.filter(job=job, cache_key__in=[*query_keys.values(), *image_keys.values()])
            errors = Counter(reasons.values_list("error", flat=True))
            JudgeChunk.objects.filter(id=chunk.id).update(
                done=True, failed=errors.total(), error=errors.most_common(1)[0][0] if errors else ""
            )
            updated = JudgeJob.objects.filter(id=job.id).update(prep_done=F("prep_done") + 1)
            job.refresh_from_db(fields=["prep_done", "prep_total", "status"])
            if updated and job.prep_done == job.prep_total:
                transaction.on_commit(lambda: launch.enqueue_pending(job))
    if failures.fatal:
        # What was paid for is written; the job fails (judge_chunk_run) and no judge
        # chunk is sent.
        raise failures.fatal[0]
    log_timing(chunk, len(results), started, called, answered)
    return ChunkOutcome()


def _image_ref(image: ProductImage | QueryImage) -> tuple[str, int]:
    # Product and query images have ids of their own: keyed apart.
    return (type(image).__name__, image.id)


def _image_title(image: ProductImage | QueryImage) -> str:
    return image.product.title if isinstance(image, ProductImage) else image.query.text


def _call_failed(error: BaseException, final_attempt: bool) -> str:
    """The reason to record for a call that raised, or "" while a retry may still work."""
    if isinstance(error, LLMCallError) and error.unsupported_input:
        return unreadable_input(error)
    if isinstance(error, LLMCallError) and error.retryable and final_attempt:
        return str(error)
    return ""


def _failure(job, step, key, error, model, *, query=None, image=None, result=None, prices=None) -> PrepFailure:
    usage = call_fields(result, prices, _PROMPT_VERSIONS[step]) if result is not None else {
        "model": model, "prompt_version": _PROMPT_VERSIONS[step]
    }  # fmt: skip
    if isinstance(image, QueryImage):  # a reference image's failure is its query's
        query, image = image.query, None
    return PrepFailure(job=job, step=step, cache_key=key, query=query, image=image, error=error[:2000], **usage)


_PROMPT_VERSIONS = {
    PrepFailure.Step.GUIDELINE: prompts.GUIDELINE_VERSION,
    PrepFailure.Step.DESCRIPTION: prompts.DESCRIPTION_VERSION,
}


def _merge_query_tags(tagged: list[tuple[Query, list[str]]]) -> None:
    changed = []
    for query, tags in tagged:
        merged = sorted(set(query.tags or []) | set(tags))
        if merged != sorted(query.tags or []):
            query.tags = merged
            changed.append(query)
    bulk_update_rows(Query, changed, ["tags"])
