"""The judge chunk: judgments of a slice of the job's pairs, each with its LLM label,
written in batches while the other calls are still in flight."""

import logging
import time
from collections import Counter
from typing import cast

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from annotation.bulk import bulk_update_rows
from annotation.models import Label, LabelSource
from annotation.rulebook import active_rules, fingerprint, pair_rules

from .. import prompts
from ..backends import StepResult
from ..llm_client import LLMCallError
from ..models import ImageDescription, JudgeChunk, JudgeJob, Judgment, Mode, PrepFailure
from ..services import (
    calls_in_flight,
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
from .finish import job_fail, job_finish_if_complete
from .outcome import ChunkOutcome, call_failures, log_timing, merged_reasons, retry_delay, unreadable_input

log = logging.getLogger(__name__)

# Fewest judgments a judge chunk writes in one transaction while its calls go on.
WRITE_BATCH_MIN = 100
# In the chunk's last window, a write every tenth of the window: the final write after
# the last call (nothing in flight meanwhile) stays small. Measured in bench_judge.
TAIL_BATCH_SHARE = 10


def run_judge_chunk(chunk: JudgeChunk, final_attempt: bool) -> ChunkOutcome:
    started = time.monotonic()
    job = chunk.job
    project = job.project
    config = job_judge_config(job)
    models = models_for(config)
    levels = levels_for(project)
    pairs = pairs_for_judging(chunk.items["pairs"])
    guidelines = current_guidelines({p.query_id for p in pairs})
    image_keys: dict[int, str] = {}
    descriptions: dict[int, str] = {}
    query_image_keys: dict[int, str] = {}
    query_descriptions: dict[int, str] = {}
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
        # The queries' reference images (MERIT), by content too.
        query_image_keys = {
            i.id: description_key(model=models["vision"], image=i) for p in pairs for i in p.query.images.all()
        }
        texts = dict(
            ImageDescription.objects.filter(cache_key__in=set(query_image_keys.values())).values_list(
                "cache_key", "text"
            )
        )
        query_descriptions = {i: texts[key] for i, key in query_image_keys.items() if key in texts}
    rules = active_rules(project.id)
    # The rules in scope of each pair (its query's tags, its product's category).
    scoped = {p.id: pair_rules(rules, tags=p.query.tags or [], category=p.product.category) for p in pairs}
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
            rules=fingerprint(scoped[pair.id]),
        )
    # Settled: a valid judgment (any job's: the cache) or this job's own invalid one (an
    # earlier attempt's). Another job's invalid judgment is asked again.
    settled = set(
        Judgment.objects.filter(cache_key__in=list(keys.values()))
        .filter(Q(status=Judgment.Status.OK) | Q(job=job))
        .values_list("cache_key", flat=True)
    )
    todo = [p for p in pairs if keys[p.id] not in settled]
    missing = _missing_steps(job, todo, guidelines, image_keys, descriptions)
    missing.update(_missing_references(job, todo, query_image_keys, query_descriptions, skip=missing))
    todo = [p for p in todo if p.id not in missing]
    inputs = []
    for pair in todo:
        inputs.append(
            (
                query_context(
                    pair.query,
                    project=project,
                    vocabulary={},
                    rules=scoped[pair.id],
                    mode=job.mode,
                    descriptions=query_descriptions,
                ),
                guideline_draft(guidelines[pair.query_id]),
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
    written = 0
    if missing:
        # Not judged without what the judge needs: invalid at once, with the reason.
        blocked = [p for p in pairs if p.id in missing]
        with transaction.atomic():
            written += _write_judgments(
                job, blocked, [StepResult(None, models["judge"], error=missing[p.id]) for p in blocked], keys,
                guidelines, prices,
            )  # fmt: skip
    results: list = [None] * len(todo)
    called = time.monotonic()
    writing = 0.0
    # Finished calls are written in batches while the others are still in flight, so
    # the database work does not leave the endpoint idle; each batch is idempotent like
    # the whole chunk (cache keys; labels only for unlabelled judgments of this job), and
    # a killed task keeps the batches it wrote.
    for batch in (
        calls_in_background(
            config,
            factories,
            results,
            batch=max(2 * calls_in_flight(config), WRITE_BATCH_MIN),
            tail_batch=max(calls_in_flight(config) // TAIL_BATCH_SHARE, 1),
        )
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
    failures = call_failures(results)
    with transaction.atomic():
        locked = JudgeChunk.objects.select_for_update().get(id=chunk.id)
        if locked.done:
            return ChunkOutcome()
        if failures.transient and not failures.fatal and not final_attempt:
            return ChunkOutcome(retry_in=retry_delay(chunk, failures.transient))
        # Counted from the rows, one outcome per pair, so a retried chunk counts what
        # earlier attempts wrote too and the counts always add up to what was stored.
        unsettled = {pair.id: str(r) for pair, r in zip(todo, results) if isinstance(r, LLMCallError)}
        counts, reasons = _pair_outcomes(keys, job, unsettled)
        JudgeChunk.objects.filter(id=chunk.id).update(
            done=True,
            judged=counts["ok"],
            cached=counts["cached"],
            failed=counts["failed"],
            error=reasons.most_common(1)[0][0] if reasons else "",
        )
        if reasons:
            current = JudgeJob.objects.select_for_update().values_list("failures", flat=True).get(id=job.id)
            JudgeJob.objects.filter(id=job.id).update(failures=merged_reasons(current, reasons))
        JudgeJob.objects.filter(id=job.id).update(
            chunks_done=F("chunks_done") + 1,
            done=F("done") + counts["ok"] + counts["cached"],
            failed=F("failed") + counts["failed"],
            cached=F("cached") + counts["cached"],
        )
        log.debug("chunk %s wrote %s judgments", chunk.id, written)
    log_timing(chunk, len(results), started, called, answered, writing=writing)
    if failures.fatal:  # not retryable (401, 400, unknown model): the job cannot work
        job_fail(job.id, f"the LLM endpoint refused the request: {failures.fatal[0]}")
        return ChunkOutcome()
    job_finish_if_complete(job.id)
    return ChunkOutcome()


def _missing_steps(job, pairs, guidelines, image_keys: dict[int, str], descriptions: dict[int, str]) -> dict[int, str]:
    """Pairs that cannot be judged because a step they need failed for this job (or left
    nothing), each with the reason: an invalid guideline is never passed off as one,
    and a caption judgment never goes ahead without the descriptions of its images."""
    failed = dict(PrepFailure.objects.filter(job=job).values_list("cache_key", "error"))
    by_query = dict(
        PrepFailure.objects.filter(job=job, step=PrepFailure.Step.GUIDELINE).values_list("query_id", "error")
    )
    missing = {}
    for pair in pairs:
        if pair.query_id not in guidelines:
            missing[pair.id] = by_query.get(pair.query_id, "guideline missing: none was made for the query")
            continue
        for image in pair.product.images.all() if image_keys else ():
            key = image_keys[image.id]
            if image.id not in descriptions and key in failed:
                missing[pair.id] = failed[key]
                break
    return missing


def _missing_references(job, pairs, keys: dict[int, str], descriptions: dict[int, str], *, skip) -> dict[int, str]:
    """Caption mode: pairs whose query's reference image could not be described for this
    job, with the reason (a judgment never goes ahead without them)."""
    if not keys:
        return {}
    failed = dict(
        PrepFailure.objects.filter(job=job, cache_key__in=set(keys.values())).values_list("cache_key", "error")
    )
    missing = {}
    for pair in pairs:
        for image in pair.query.images.all() if pair.id not in skip else ():
            if image.id not in descriptions and keys[image.id] in failed:
                missing[pair.id] = failed[keys[image.id]]
                break
    return missing


def _write_judgments(job, pairs, results, keys, guidelines, prices) -> int:
    """Bulk-write the chunk's new judgments and, for valid ones, their LLM labels.

    Judgments are inserted with ON CONFLICT DO NOTHING (one valid judgment per cache key,
    one invalid per key and job); labels are made only for judgments of this job that have
    none yet, under a row lock, so a repeat (re-delivery, a parallel job over the same
    pairs) never adds a second label. A call whose input the model cannot take is an
    invalid judgment at once (the pair goes to a human); other failed calls are retried
    with the chunk and write nothing."""
    rows = []
    for pair, result in zip(pairs, results):
        if isinstance(result, LLMCallError) and result.unsupported_input:
            result = StepResult(None, job.model, error=unreadable_input(result))
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
                applied_rules=verdict.applied_rules if verdict else [],
                rule_note=verdict.rule_note if verdict else "",
                error=result.error[:2000],
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
                # Valid judgments always carry a value (constraint judgment_ok_has_value).
                value=cast(int, j.value),
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
    return len(rows)


def _pair_outcomes(keys: dict[int, str], job: JudgeJob, unsettled: dict[int, str]) -> tuple[dict, Counter]:
    """Each of the chunk's pairs once: judged by this job (ok), failed (this job's invalid
    judgment, or a call that failed without one: `unsettled`, pair id → reason) or cached
    (a valid judgment from earlier work); and the failure reasons with their counts."""
    mine: dict[str, tuple[str, str]] = {}
    valid_elsewhere: set[str] = set()
    rows = Judgment.objects.filter(cache_key__in=list(keys.values())).values_list(
        "cache_key", "job_id", "status", "error"
    )
    for key, job_id, status, error in rows:
        if job_id == job.id:
            mine[key] = (status, error)
        elif status == Judgment.Status.OK:
            valid_elsewhere.add(key)
    counts = {"ok": 0, "failed": 0, "cached": 0}
    reasons: Counter = Counter()
    for pair_id, key in keys.items():
        if key in mine and mine[key][0] == Judgment.Status.OK:
            counts["ok"] += 1
        elif key in mine:
            counts["failed"] += 1
            reasons[mine[key][1] or "invalid answer"] += 1
        elif key in valid_elsewhere:
            counts["cached"] += 1
        else:
            counts["failed"] += 1
            reasons[unsettled.get(pair_id, "not judged")] += 1
    return counts, reasons
