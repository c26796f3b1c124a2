"""Judge jobs through a real `celery worker` process (prefork, 2 children) against Redis
and the test database, with the fake LLM server on loopback. The data is committed
(transactional tests) so the worker sees it; the broker is a Redis db of its own."""

import time
from collections import Counter

import pytest
import redis
from django.conf import settings as django_settings

from annotation.models import Label, LabelSource, Pair
from judging.jobs import judge_job_create
from judging.models import JudgeChunk, JudgeJob, Judgment
from tests.builders import Worker, broker_beside_the_runs, publishing_to, start_worker

from .conftest import KEY_ENV, grid

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# Redis dbs of their own, chosen from the run's (TEST_BROKER_URL, default db 15): one for
# the shared worker, one for the crash test's workers (13 and 14 beside db 15), so two
# test runs on one machine with broker dbs at least 3 apart never share a queue.
SHARED_BROKER = broker_beside_the_runs(2)
CRASH_BROKER = broker_beside_the_runs(1)
# CELERY_TASK_TIME_LIMIT is the settings' floor (10 s): the broker's visibility timeout
# (twice that) is how long a killed worker's unacknowledged tasks wait for re-delivery.
TIME_LIMIT = 10
VISIBILITY_TIMEOUT = 2 * TIME_LIMIT


def start_judging_worker(*, name: str, broker: str, directory, media_root, **extra_env) -> Worker:
    """A ready worker as `make worker` runs it (prefork, 2 children), with the tasks'
    short time limit and the fake server's key."""
    env = {"CELERY_TASK_TIME_LIMIT": TIME_LIMIT, KEY_ENV: "test-key", **extra_env}
    return start_worker(name=name, broker=broker, directory=directory, media_root=media_root, children=2, **env)


@pytest.fixture(scope="module")
def shared_worker(django_db_setup, tmp_path_factory):
    """One worker for the tests that do not crash it, started once for the module."""
    directory = tmp_path_factory.mktemp("shared-worker")
    broker = redis.Redis.from_url(SHARED_BROKER)
    broker.flushdb()
    worker = start_judging_worker(name="judging-shared", broker=SHARED_BROKER, directory=directory,
                                  media_root=directory / "media", QRELAY_JUDGE_CHUNK_SIZE=5)  # fmt: skip
    yield worker, directory / "media"
    worker.kill()  # before the test database is dropped
    broker.flushdb()


@pytest.fixture
def worker(shared_worker, transactional_db, settings, fake_llm):
    worker, media_root = shared_worker
    settings.MEDIA_ROOT = media_root  # where the worker reads the images from
    with publishing_to(SHARED_BROKER):
        yield worker


@pytest.fixture
def crash_workers(transactional_db, fake_llm, tmp_path):
    """start() → a fresh worker on a broker db of its own, flushed before and after.
    Every worker started is killed at teardown, before the database is flushed."""
    started: list[Worker] = []

    def start(**extra_env) -> Worker:
        worker = start_judging_worker(name=f"judging-crash-{len(started) + 1}", broker=CRASH_BROKER,
                                      directory=tmp_path, media_root=django_settings.MEDIA_ROOT, **extra_env)  # fmt: skip
        started.append(worker)
        return worker

    with publishing_to(CRASH_BROKER) as broker:
        broker.flushdb()
        try:
            yield start, broker
        finally:
            for worker in started:
                worker.kill()
            broker.flushdb()


def wait_for(job: JudgeJob, *, until, timeout: float = 60.0, workers: list[Worker] = ()) -> JudgeJob:
    deadline = time.monotonic() + timeout
    while True:
        job.refresh_from_db()
        if until(job):
            return job
        if time.monotonic() > deadline:
            logs = "\n".join(w.text()[-2000:] for w in workers)
            raise AssertionError(
                f"job {job.id} stuck: status {job.status}, {job.done}/{job.total} done, error {job.error!r}\n{logs}"
            )
        time.sleep(0.1)


def assert_each_pair_judged_once(project, total: int) -> None:
    pairs = set(Pair.objects.filter(project=project).values_list("id", flat=True))
    assert len(pairs) == total
    judgments = Counter(Judgment.objects.filter(project=project).values_list("pair_id", flat=True))
    labels = Counter(Label.objects.filter(project=project, source=LabelSource.LLM).values_list("pair_id", flat=True))
    assert judgments == Counter(dict.fromkeys(pairs, 1))
    assert labels == Counter(dict.fromkeys(pairs, 1))
    assert not Judgment.objects.filter(project=project, label__isnull=True).exists()


def test_a_worker_judges_a_whole_job_once(worker, llm_project, catalogue, fake_llm):
    project = llm_project("caption", max_in_flight=4)
    run = catalogue(project).run("A", grid("q1 q2 q3", "p1 p2 p3 p4"))

    job = judge_job_create(project=project, run=run)
    job = wait_for(job, until=lambda j: j.status not in JudgeJob.ACTIVE, workers=[worker])

    assert (job.status, job.total, job.done, job.failed, job.error) == ("done", 12, 12, 0, "")
    assert (job.prep_done, job.prep_total, job.chunks_done, job.chunks_total) == (1, 1, 3, 3)
    assert fake_llm.calls_by_task == Counter({"guideline": 3, "description": 4, "judgment": 12})
    assert list(JudgeChunk.objects.filter(job=job).values_list("attempts", flat=True)) == [1, 1, 1, 1]
    assert_each_pair_judged_once(project, 12)
    assert job.calls == 19 and job.tokens_in > 0
    assert "Traceback" not in worker.text()


def test_a_chunk_whose_calls_keep_failing_is_retried_by_celery(worker, llm_project, catalogue, fake_llm):
    project = llm_project("text", max_in_flight=1)  # one call at a time: the first pair takes every fault
    run = catalogue(project).run("A", grid("q1", "p1 p2 p3"))
    fake_llm.inject("500", count=3, match_task="judgment")

    job = judge_job_create(project=project, run=run)
    job = wait_for(job, until=lambda j: j.status not in JudgeJob.ACTIVE, workers=[worker])

    assert (job.status, job.done, job.failed) == ("done", 3, 0)
    assert JudgeChunk.objects.get(job=job, phase="judge").attempts == 2
    assert fake_llm.calls_by_task["judgment"] == 3 + 2 + 1
    assert_each_pair_judged_once(project, 3)


def test_killing_a_worker_mid_job_loses_nothing_and_duplicates_nothing(crash_workers, llm_project, catalogue, fake_llm):
    start, broker = crash_workers
    fake_llm.set_latency(1.0)
    first = start(QRELAY_JUDGE_CHUNK_SIZE=4)
    project = llm_project("text", max_in_flight=4)
    run = catalogue(project).run("A", grid("q1 q2 q3", "p1 p2 p3 p4 p5 p6 p7 p8"))
    total = Pair.objects.filter(project=project).count()

    job = judge_job_create(project=project, run=run)
    # Kill while a judge chunk is half-way: one done, LLM calls of others in flight.
    wait_for(job, until=lambda j: j.chunks_done >= 1 and fake_llm.in_flight > 0, workers=[first])
    first.kill()
    unacked = broker.zrange("unacked_index", 0, -1, withscores=True)
    assert unacked, "the killed worker held unacknowledged chunk tasks"
    judged_before = Judgment.objects.filter(job=job).count()
    assert judged_before < total

    # The broker hands a dead worker's tasks to another one after the visibility timeout.
    time.sleep(max(0.0, max(score for _, score in unacked) + VISIBILITY_TIMEOUT + 0.5 - time.time()))
    second = start(QRELAY_JUDGE_CHUNK_SIZE=4)
    job = wait_for(job, until=lambda j: j.status not in JudgeJob.ACTIVE, workers=[first, second])

    assert (job.status, job.total, job.done, job.failed) == ("done", total, total, 0)
    assert job.chunks_done == job.chunks_total == JudgeChunk.objects.filter(job=job, phase="judge", done=True).count()
    assert_each_pair_judged_once(project, total)
    assert fake_llm.calls_by_task["judgment"] > total, "the killed chunks' calls were made again"
    assert JudgeChunk.objects.filter(job=job, attempts__gte=2).exists(), "a killed chunk was delivered again"
