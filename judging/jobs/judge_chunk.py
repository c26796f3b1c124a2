"""The judge chunk: judgments of a slice of the job's pairs, each with its LLM label,
written in batches while the other calls are still in flight."""

import logging
import time

from django.db import transaction
from django.db.models import Count, F
from django.utils import timezone

from annotation.bulk import bulk_update_rows
from annotation.models import Label, LabelSource

from .. import prompts
from ..contracts import GuidelineDraft
from ..models import ImageDescription, JudgeChunk, JudgeJob, Judgment, Mode
from ..services import (
    current_guidelines,
    description_key,
    guideline_draft,
    job_judge_config,
    judgment_key,
    levels_for,
    models_for,
    pairs_for_judging,
    price_table,
    product_context,
    query_context,
)
from .calls import call_fields, calls_in_background
from .finish import job_finish_if_complete
from .outcome import ChunkOutcome, log_timing, retry_delay, transient_errors

log = logging.getLogger(__name__)

# Fewest judgments a judge chunk writes in one transaction while its calls go on.
WRITE_BATCH_MIN = 100


def run_judge_chunk(chunk: JudgeChunk, final_attempt: bool) -> ChunkOutcome:
    started = time.monotonic()
    job = chunk.job
    project = job.project
    config = job_judge_config(job)
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
        calls_in_background(config, factories, results, batch=max(2 * config.max_in_flight, WRITE_BATCH_MIN))
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
    errors = transient_errors(results)
    with transaction.atomic():
        locked = JudgeChunk.objects.select_for_update().get(id=chunk.id)
        if locked.done:
            return ChunkOutcome()
        if errors and not final_attempt:
            return ChunkOutcome(retry_in=retry_delay(chunk, errors))
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
    log_timing(chunk, len(results), started, called, answered, writing=writing)
    job_finish_if_complete(job.id)
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
                **call_fields(result, prices, prompts.JUDGMENT_VERSION),
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
