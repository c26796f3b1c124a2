"""Launching a job (planning its prep and judge chunks), enqueueing the chunks that are
due, and resuming a job whose queued work was lost."""

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from annotation.models import Pair, ProductImage, Query, QueryImage
from annotation.rulebook import active_rules, fingerprint, guideline_rules

from ..models import Guideline, ImageDescription, JudgeChunk, JudgeJob, Mode
from ..services import calls_in_flight, description_key, guideline_key, job_judge_config, models_for, project_vocabulary
from .finish import job_finish, job_finish_if_complete
from .sending import send_chunk, send_launch


def _slices(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)] or []


# A judge chunk of this many in-flight windows by default. Each chunk loses about half a
# window's worth of calls at its end (the last calls finish one by one and none start)
# and reads its pairs before its first call: at 10 windows a chunk (1,000 pairs at 100
# in flight) a 20,000-pair job reached 88% of the ideal time, at 20 windows 91%
# (bench/bench_judge.py, docs/benchmarks.md). Bigger chunks gain little more and balance
# worse across processes at a job's end.
CHUNK_WINDOWS = 20


def judge_chunk_size(in_flight: int) -> int:
    """Pairs per judge chunk: QRELAY_JUDGE_CHUNK_SIZE when set, else CHUNK_WINDOWS windows."""
    return settings.QRELAY_JUDGE_CHUNK_SIZE or CHUNK_WINDOWS * max(in_flight, 1)


def judge_job_launch(*, job_id: int) -> None:
    job = JudgeJob.objects.select_related("project").get(id=job_id)
    if job.status not in JudgeJob.ACTIVE:
        return
    if job.chunks.exists():  # re-delivered launch: only re-enqueue what is not done
        enqueue_pending(job)
        return
    project = job.project
    config = job_judge_config(job)
    models = models_for(config)
    if job.total == 0:
        job_finish(job.id)
        return

    query_ids = sorted(set(Pair.objects.filter(id__in=job.pair_ids).values_list("query_id", flat=True)))
    rulebook = fingerprint(guideline_rules(active_rules(project.id)))
    have = set(Guideline.objects.filter(query_id__in=query_ids).values_list("cache_key", flat=True))
    queries_needed = [
        q.id
        for q in Query.objects.filter(id__in=query_ids)
        if guideline_key(model=models["guideline"], query=q, rulebook=rulebook, mode=job.mode) not in have
    ]
    images_needed: list[int] = []
    query_images_needed: list[int] = []
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
        # The queries' reference images (MERIT) are described the same way, by content.
        query_images = list(QueryImage.objects.filter(query_id__in=query_ids))
        query_image_keys = {i.id: description_key(model=models["vision"], image=i) for i in query_images}
        have_query = described | set(
            ImageDescription.objects.filter(cache_key__in=set(query_image_keys.values())).values_list(
                "cache_key", flat=True
            )
        )
        needed_query: dict[str, int] = {}
        for query_image in query_images:
            key = query_image_keys[query_image.id]
            if key not in have_query and key not in needed:
                needed_query.setdefault(key, query_image.id)
        query_images_needed = sorted(needed_query.values())

    # One chunk fills one worker process's in-flight window: with bigger chunks the
    # last round ran half empty (1,000 guidelines in 5 chunks of 200 on 2 processes).
    prep_size = max(calls_in_flight(config), 50)
    prep_items = [("queries", q) for q in queries_needed] + [("images", i) for i in images_needed]
    prep_items += [("query_images", i) for i in query_images_needed]
    chunks = []
    for index, part in enumerate(_slices(prep_items, prep_size)):
        items = {"queries": [v for k, v in part if k == "queries"], "images": [v for k, v in part if k == "images"]}
        if query_images_needed:
            items["query_images"] = [v for k, v in part if k == "query_images"]
        chunks.append(JudgeChunk(job=job, phase=JudgeChunk.Phase.PREP, index=index, items=items))
    judge_slices = _slices(job.pair_ids, judge_chunk_size(calls_in_flight(config)))
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
        transaction.on_commit(lambda: enqueue_pending(job))


def enqueue_pending(job: JudgeJob) -> None:
    """Enqueue the chunks that are due: the unfinished prep chunks while any is left,
    then the unfinished judge chunks (a chord built in the database)."""
    pending = JudgeChunk.objects.filter(job=job, done=False)
    if job.prep_done < job.prep_total:
        pending = pending.filter(phase=JudgeChunk.Phase.PREP)
    for chunk_id in list(pending.values_list("id", flat=True)):
        send_chunk(chunk_id)


def judge_job_resume(*, job_id: int) -> str:
    """Enqueue again whatever an active job still waits for: its launch, its unfinished
    chunks, or its finish. Safe to repeat: every step is idempotent. Returns what was
    enqueued, for the caller's log."""
    job = JudgeJob.objects.get(id=job_id)
    if not job.chunks.exists():
        send_launch(job.id)  # the launch message itself was lost
        return "launch"
    pending = JudgeChunk.objects.filter(job=job, done=False)
    unfinished = pending.count()
    if unfinished:
        # Counts as a sign of life: the watchdog's next tick waits a whole stall again.
        pending.update(touched_at=timezone.now())
        enqueue_pending(job)
        return f"{unfinished} unfinished chunks"
    job_finish_if_complete(job.id)  # every chunk is done; the worker died before finishing the job
    return "the finish"
