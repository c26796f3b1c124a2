"""The one cache of agreement figures, stale-while-revalidate, for the dashboard page and
the REST API alike.

A first summary of a million labels takes tens of seconds (bench/bench_agreement.py);
later ones read the incrementally kept tallies (agreement/tallies.py) and take what the
pairs written since cost, still more than a request may take. So both read snapshots from Django's cache (Redis in the full
stack, shared by every web process and worker). A snapshot is stale when it is older than
MAX_AGE, when the project's label write count (`label_writes`, kept by database triggers
on every label insert, update and delete: imports, judging, reviews, the admin) has moved
since the snapshot read it, or after `dashboard_touch` (gold and policy changes, which
write no label). A stale one is still served, with its age, while one Celery task
recomputes it; a lock in the cache keeps a burst of reads from queueing a burst of
recomputations.

The page reads parts (`dashboard_part`): "core" (summary, annotators, charts) and one per
segment dimension, with the default options. Only a small project never computed waits
for its figures; a big one shows a "computing" page that polls until the first snapshot
is there. The API reads one agreement function with the caller's options
(`agreement_figures`): a missing snapshot is computed inline whatever the project's size
(an API answer carries figures, never "pending"), and `fresh` recomputes it now.
"""

import hashlib
import json
import time
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Sum

from annotation.models import Label, LabelWrites, Project

from ..agreement import (
    agreement_by_segment,
    annotator_agreement,
    human_pairwise_agreement,
    project_agreement_summary,
)
from ..agreement.stats import N_BOOT
from ..agreement.timeline import agreement_over_time, label_distribution
from ..routing import SEGMENT_DIMENSIONS

MAX_AGE = 300  # seconds a snapshot counts as fresh without a label write
LOCK_SECONDS = 600  # longer than a recomputation takes on a million labels
KEEP_SECONDS = 7 * 24 * 3600
INLINE_LABELS = 50_000  # up to this many labels, a first view computes inline (about 1 s)
SEGMENT_ROWS = 50  # segments per dimension on the page, largest first
PARTS = ("core", *(f"segments:{by}" for by in SEGMENT_DIMENSIONS))
# What the API reads by name, each with the caller's options (level, n_boot, seed, …).
FUNCTIONS = {
    f.__name__: f
    for f in (project_agreement_summary, agreement_by_segment, annotator_agreement, human_pairwise_agreement)
}


def _key(project: Project, part: str, suffix: str = "", *, options: dict | None = None) -> str:
    # The project's creation time is part of the key: ids are reused when a test (or a
    # restored backup) recreates the database, and the cache must not outlive them.
    born = int(project.created_at.timestamp() * 1e6)
    if options:
        part += ":" + hashlib.sha256(json.dumps(options, sort_keys=True).encode()).hexdigest()[:32]
    return f"qrelay:dashboard:{project.id}:{born}:{part}{suffix}"


def _touch_key(project: Project) -> str:
    return _key(project, "touched")


def compute_part(
    project: Project, part: str, options: dict | None = None, *, intervals: bool = True
) -> dict | list[dict]:
    """One part's data: a page part's dict, or what the agreement function named `part`
    returns (agreement_by_segment returns a list). `intervals=False`: the core part's
    point figures alone, without bootstrap CIs (seconds sooner on a big project)."""
    if part in FUNCTIONS:
        return FUNCTIONS[part](project, **(options or {}))
    if options:
        raise ValueError(f"the page's part {part!r} takes no options")
    if part == "core":
        n_boot = N_BOOT if intervals else 0
        return {
            "summary": project_agreement_summary(project, n_boot=n_boot),
            "annotators": annotator_agreement(project, n_boot=n_boot),
            "over_time": agreement_over_time(project),
            "distribution": label_distribution(project),
        }
    by = part.removeprefix("segments:")
    if part not in PARTS or by == part:
        raise ValueError(f"not a dashboard part: {part!r}")
    return {"by": by, "rows": agreement_by_segment(project, by, limit=SEGMENT_ROWS)}


def label_writes(project: Project) -> int:
    """How many label rows have been written to the project (inserted, updated or
    deleted), as committed so far: a sum over one row per database backend (LabelWrites).
    A few rows, one index scan: cheap enough to ask on every view."""
    if connection.vendor != "postgresql":
        return 0  # no trigger counts there (and no agreement figures either)
    return LabelWrites.objects.filter(project=project).aggregate(n=Sum("writes"))["n"] or 0


def _compute_and_store(project: Project, part: str, options: dict | None, *, intervals: bool = True) -> dict:
    started = time.time()
    # Read before the figures: a label committed while they are computed may or may not
    # be in them, but it is past this count, so the snapshot is stale at once and is
    # recomputed again; a label is never missed.
    writes = label_writes(project)
    data = compute_part(project, part, options, intervals=intervals)
    entry = {
        "data": data,
        "label_writes": writes,
        "timestamp": started,
        "computed_at": datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds"),
        "compute_seconds": round(time.time() - started, 3),
        "intervals": intervals,
    }
    cache.set(_key(project, part, options=options), entry, timeout=KEEP_SECONDS)
    return entry


def dashboard_refresh(*, project: Project, part: str, options: dict | None = None, on_points=None) -> dict:
    """Recompute one part and store it (what the refresh task runs).

    The core part of a snapshot that exists is stored twice: first its point figures
    (incremental tallies: seconds after a write even at a million labels), then again
    with the bootstrap CIs, which resample the whole table. `on_points(entry)` is called
    after the first store (the benchmark times it)."""
    if part == "core" and not options and cache.get(_key(project, part)) is not None:
        points = _compute_and_store(project, part, options, intervals=False)
        if on_points is not None:
            on_points(points)
    entry = _compute_and_store(project, part, options)
    cache.delete(_key(project, part, ":lock", options=options))
    return entry


def dashboard_touch(*, project: Project) -> None:
    """Mark the project's snapshots as behind its labels (after a label or gold write)."""
    cache.set(_touch_key(project), time.time(), timeout=KEEP_SECONDS)


def _stale(project: Project, entry: dict, max_age: float) -> bool:
    touched = cache.get(_touch_key(project)) or 0
    return (
        time.time() - entry["timestamp"] > max_age
        or touched > entry["timestamp"]
        or entry.get("label_writes") != label_writes(project)
    )


def _schedule(project: Project, part: str, options: dict | None = None) -> bool:
    if not cache.add(_key(project, part, ":lock", options=options), 1, timeout=LOCK_SECONDS):
        return False  # a refresh is already queued or running
    from ..tasks import (
        dashboard_refresh_task,  # tasks import services; the page must not need Celery to import
    )

    args = (project.id, part, options) if options else (project.id, part)
    transaction.on_commit(lambda: dashboard_refresh_task.delay(*args))
    return True


def _small(project: Project) -> bool:
    """Few enough labels to compute the figures while the lead waits (well under a second)."""
    return Label.objects.filter(project=project).order_by().values("id")[: INLINE_LABELS + 1].count() <= INLINE_LABELS


def dashboard_part(project: Project, part: str, *, max_age: float = MAX_AGE) -> dict:
    """{"data", "computed_at", "compute_seconds", "stale", "refreshing"} of one part, or
    {"data": None, "pending": True, …} while a big project's first figures are computed.

    Only a small project never computed waits for the figures; otherwise the cached
    snapshot comes back at once, and a stale one schedules its recomputation."""
    if part not in PARTS:
        raise ValueError(f"not a dashboard part: {part!r}")
    entry = cache.get(_key(project, part))
    if entry is None:
        if settings.CELERY_TASK_ALWAYS_EAGER or _small(project):
            return {**dashboard_refresh(project=project, part=part), "stale": False, "refreshing": False}
        # A big project's first view: the page says the figures are on their way and
        # polls, rather than holding a web worker for the seconds the aggregation takes.
        _schedule(project, part)
        return {"data": None, "pending": True, "stale": False, "refreshing": True}
    stale = _stale(project, entry, max_age)
    refreshing = _schedule(project, part) if stale else False
    return {
        **entry,
        "stale": stale,
        "refreshing": refreshing or (stale and cache.get(_key(project, part, ":lock")) is not None),
    }


def agreement_figures(project: Project, name: str, *, fresh: bool = False, **options) -> dict:
    """One agreement function's figures with `options`, as the API answers them:
    {"result", "computed_at" (ISO, UTC), "compute_seconds"}. From the snapshot when there
    is one (a stale one schedules its recomputation); computed now when there is none or
    when `fresh`."""
    if name not in FUNCTIONS:
        raise ValueError(f"not an agreement function: {name!r}")
    entry = None if fresh else cache.get(_key(project, name, options=options))
    if entry is None:
        entry = dashboard_refresh(project=project, part=name, options=options)
    elif _stale(project, entry, MAX_AGE):
        _schedule(project, name, options)
    return {"result": entry["data"], "computed_at": entry["computed_at"], "compute_seconds": entry["compute_seconds"]}
