"""Judge jobs through a real `celery worker` process (prefork, 2 children) against Redis
and the test database, with the fake LLM server on loopback. The data is committed
(transactional tests) so the worker sees it; the broker is a Redis db of its own."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection

from annotation.models import Label, LabelSource, Pair
from config.celery import app as celery_app
from judging.jobs import judge_job_create
from judging.models import JudgeChunk, JudgeJob, Judgment

from .conftest import KEY_ENV, grid

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
CELERY = Path(sys.executable).with_name("celery")


def _broker_beside_the_runs(offset: int) -> str:
    """A Redis db of its own, chosen from the run's (TEST_BROKER_URL, default db 15):
    two test runs on one machine with broker dbs at least 3 apart never share a queue."""
    url = django_settings.CELERY_BROKER_URL.rstrip("/")
    server, _, db = url.rpartition("/")
    if not db.isdigit():
        server, db = url, "15"
    return f"{server}/{(int(db) - offset) % 16}"


# Redis dbs of their own: one for the shared worker, one for the crash test's workers
# (13 and 14 beside the default run db 15).
SHARED_BROKER = _broker_beside_the_runs(2)
CRASH_BROKER = _broker_beside_the_runs(1)
# CELERY_TASK_TIME_LIMIT is the settings' floor (10 s): the broker's visibility timeout
# (twice that) is how long a killed worker's unacknowledged tasks wait for re-delivery.
TIME_LIMIT = 10
VISIBILITY_TIMEOUT = 2 * TIME_LIMIT


@contextmanager
def publishing_to(url: str):
    """Point this process's Celery app (the publisher) at url for a while. The pools are
    only forgotten, not closed: kombu keeps one pool per URL and hands it out again."""

    def use(environment: str | None, configured: str) -> None:
        # Celery prefers the environment variable to its configuration.
        if environment is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = environment
        celery_app.conf.broker_url = configured
        celery_app._pool = None
        if "amqp" in celery_app.__dict__:
            celery_app.__dict__["amqp"]._producer_pool = None

    previous = (os.environ.get("CELERY_BROKER_URL"), celery_app.conf.broker_url)
    use(url, url)
    try:
        yield redis.Redis.from_url(url)
    finally:
        use(*previous)


class Worker:
    def __init__(self, process: subprocess.Popen, log: Path):
        self.process = process
        self.log = log

    def kill(self) -> None:
        """SIGKILL the whole process group: the main process and its pool children."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def text(self) -> str:
        return self.log.read_text(errors="replace")


def start_worker(*, name: str, broker: str, directory: Path, media_root: Path, **extra_env) -> Worker:
    """A ready `celery -A config worker` (prefork, 2 children) on the test database."""
    db = connection.settings_dict
    database_url = f"postgres://{quote(db['USER'] or '')}:{quote(db['PASSWORD'] or '')}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker,
        "QRELAY_REDIS_URL": broker,
        "QRELAY_MEDIA_ROOT": str(media_root),
        "QRELAY_DATA_DIR": str(directory / "data"),
        "CELERY_TASK_TIME_LIMIT": str(TIME_LIMIT),
        KEY_ENV: "test-key",
        **{k: str(v) for k, v in extra_env.items()},
    }
    command = [
        str(CELERY), "-A", "config", "worker", "--pool=prefork", "--concurrency=2", "-Q", "qrelay",
        "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=INFO", "-n", f"{name}@%h",
    ]  # fmt: skip
    log = directory / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    worker = Worker(process, log)
    deadline = time.monotonic() + 60
    while " ready." not in worker.text():
        if process.poll() is not None or time.monotonic() > deadline:
            worker.kill()
            raise AssertionError(f"the worker did not start:\n{worker.text()[-3000:]}")
        time.sleep(0.1)
    return worker


@pytest.fixture(scope="module")
def shared_worker(django_db_setup, tmp_path_factory):
    """One worker for the tests that do not crash it, started once for the module."""
    directory = tmp_path_factory.mktemp("shared-worker")
    broker = redis.Redis.from_url(SHARED_BROKER)
    broker.flushdb()
    worker = start_worker(name="judging-shared", broker=SHARED_BROKER, directory=directory, media_root=directory / "media",
                          QRELAY_JUDGE_CHUNK_SIZE=5)  # fmt: skip
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
        worker = start_worker(name=f"judging-crash-{len(started) + 1}", broker=CRASH_BROKER, directory=tmp_path,
                              media_root=django_settings.MEDIA_ROOT, **extra_env)  # fmt: skip
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
