"""The prep chunk: the guidelines (new queries) and image descriptions (new images, in
caption mode) that the job's judge chunks need, each paid for once. The last prep chunk
to finish enqueues the judge chunks."""

import asyncio
import time

from django.db import transaction
from django.db.models import F, Max

from annotation.bulk import bulk_update_rows
from annotation.models import ProductImage, Query

from .. import prompts
from ..contracts import GuidelineDraft
from ..models import Guideline, ImageDescription, JudgeChunk, JudgeJob
from ..services import (
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
from .outcome import ChunkOutcome, log_timing, retry_delay, transient_errors


def run_prep_chunk(chunk: JudgeChunk, final_attempt: bool) -> ChunkOutcome:
    started = time.monotonic()
    job = chunk.job
    project = job.project
    config = job_judge_config(job)
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
    results = asyncio.run(run_with_backend(config, config.max_in_flight, factories))
    answered = time.monotonic()
    errors = transient_errors(results)
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
                    **call_fields(result, prices, prompts.GUIDELINE_VERSION),
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
                    **call_fields(result, prices, prompts.DESCRIPTION_VERSION),
                )
                for image, result in description_rows
            ],
            ignore_conflicts=True,
        )
        if errors and not final_attempt:
            return ChunkOutcome(retry_in=retry_delay(chunk, errors))
        JudgeChunk.objects.filter(id=chunk.id).update(
            done=True, failed=len(errors), error=str(errors[0]) if errors else ""
        )
        updated = JudgeJob.objects.filter(id=job.id).update(prep_done=F("prep_done") + 1)
        job.refresh_from_db(fields=["prep_done", "prep_total", "status"])
        if updated and job.prep_done == job.prep_total:
            transaction.on_commit(lambda: launch.enqueue_pending(job))
    log_timing(chunk, len(results), started, called, answered)
    return ChunkOutcome()


def _merge_query_tags(tagged: list[tuple[Query, list[str]]]) -> None:
    changed = []
    for query, tags in tagged:
        merged = sorted(set(query.tags or []) | set(tags))
        if merged != sorted(query.tags or []):
            query.tags = merged
            changed.append(query)
    bulk_update_rows(Query, changed, ["tags"])
