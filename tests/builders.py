"""Builders that test modules of several apps share: a judging world (a project with
members, images, a run and a foreign project), and jobs started, launched and finished by
calling the job services directly (tests never talk to the broker here)."""

from contextlib import contextmanager
from unittest import mock

from annotation.models import Membership, Pair, Product, ProductImage, Query, SearchResult, SearchRun
from annotation.services import project_create
from judging.jobs import judge_chunk_run, judge_job_create, judge_job_launch
from judging.models import JudgeChunk, JudgeConfig, JudgeJob
from judging.tasks import judge_job_launch_task

HTMX = {"HTTP_HX_REQUEST": "true"}
PANEL = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "judging-panel"}


@contextmanager
def enqueue_spy():
    """Catches what would be sent to the broker: the launch task (after commit) and
    chunk enqueues. Yields the launch mock."""
    with (
        mock.patch.object(judge_job_launch_task, "delay_on_commit") as launch,
        mock.patch("judging.jobs.launch.enqueue_pending"),
    ):
        yield launch


def start_job(project, **kwargs) -> JudgeJob:
    with enqueue_spy():
        return judge_job_create(project=project, **kwargs)


def launch_job(job: JudgeJob) -> JudgeJob:
    """Queued → running, chunks made, none run."""
    with enqueue_spy():
        judge_job_launch(job_id=job.id)
    job.refresh_from_db()
    return job


def finish_job(job: JudgeJob) -> JudgeJob:
    """Run the whole job in-process, as the workers would: launch, prep chunks, judge chunks."""
    with enqueue_spy():
        judge_job_launch(job_id=job.id)
        for phase in (JudgeChunk.Phase.PREP, JudgeChunk.Phase.JUDGE):
            for chunk_id in (
                JudgeChunk.objects.filter(job=job, phase=phase).order_by("index").values_list("id", flat=True)
            ):
                judge_chunk_run(chunk_id=chunk_id)
    job.refresh_from_db()
    return job


def build_world(django_user_model) -> dict:
    """fashion-DE (offline judge) with a lead, an annotator, one run over three pairs;
    electronics-FR, foreign to both, with its own run, pair and job."""
    project = project_create(name="fashion-DE")
    JudgeConfig.objects.create(project=project, backend="offline", mode="text")
    lead = django_user_model.objects.create_user(username="lena")
    annotator = django_user_model.objects.create_user(username="ann")
    Membership.objects.create(project=project, user=lead, role="lead")
    Membership.objects.create(project=project, user=annotator, role="annotator")

    red = Query.objects.create(project=project, external_id="q1", text="red dress", locale="en-GB", traffic=500)
    boots = Query.objects.create(project=project, external_id="q2", text="black boots", traffic=90)
    dress = Product.objects.create(
        project=project,
        external_id="p1",
        title="Scarlet Silk Evening Dress – Red",
        brand="Acme",
        category="Clothing > Dresses",
        attributes={"colour": "red", "material": "silk"},
        description="A long red dress.",
        content_hash="h1",
    )
    shirt = Product.objects.create(
        project=project,
        external_id="p2",
        title="Cotton T-Shirt – Green",
        category="Clothing > Shirts",
        attributes={"colour": "green"},
        content_hash="h2",
    )
    boot = Product.objects.create(
        project=project,
        external_id="p3",
        title="Leather Ankle Boots – Black",
        category="Shoes > Boots",
        attributes={"colour": "black"},
        content_hash="h3",
    )
    image = ProductImage.objects.create(
        product=dress,
        position=0,
        source="https://shop.example/d.jpg",
        status="stored",
        stored_name="ab/dress.jpg",
        sha256="a" * 64,
        width=4,
        height=3,
    )
    run = SearchRun.objects.create(project=project, name="bm25")
    pairs = []
    for query, product, rank in [(red, dress, 1), (red, shirt, 2), (boots, boot, 1)]:
        pair = Pair.objects.create(project=project, query=query, product=product)
        SearchResult.objects.create(run=run, query=query, product=product, pair=pair, rank=rank)
        pairs.append(pair)

    other = project_create(name="electronics-FR")
    JudgeConfig.objects.create(project=other, backend="offline")
    other_query = Query.objects.create(project=other, external_id="x1", text="usb cable")
    other_product = Product.objects.create(project=other, external_id="y1", title="Cable", content_hash="h9")
    other_pair = Pair.objects.create(project=other, query=other_query, product=other_product)
    other_run = SearchRun.objects.create(project=other, name="secret-run")
    SearchResult.objects.create(run=other_run, query=other_query, product=other_product, pair=other_pair, rank=1)
    other_job = start_job(other, run=other_run)
    return {
        "project": project,
        "lead": lead,
        "annotator": annotator,
        "run": run,
        "pairs": pairs,
        "image": image,
        "other": other,
        "other_run": other_run,
        "other_pair": other_pair,
        "other_job": other_job,
    }


# --- a real Celery worker, for tests marked `worker` ----------------------------------------


def broker_beside_the_runs(offset: int) -> str:
    """A Redis db of its own beside the run's broker db (TEST_BROKER_URL, default db 15)."""
    from django.conf import settings

    url = settings.CELERY_BROKER_URL.rstrip("/")
    server, _, db = url.rpartition("/")
    if not db.isdigit():
        server, db = url, "15"
    return f"{server}/{(int(db) - offset) % 16}"


@contextmanager
def celery_worker(*, name: str, broker: str, directory, media_root, **extra_env):
    """A ready `celery -A config worker` (solo pool) on the test database and `broker`,
    with this process publishing to that broker while it runs; killed afterwards."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path
    from urllib.parse import quote

    from django.db import connection

    from config.celery import app

    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{quote(db['USER'] or '')}:{quote(db['PASSWORD'] or '')}@"
        f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "CELERY_BROKER_URL": broker,
        "QRELAY_REDIS_URL": broker,
        "QRELAY_MEDIA_ROOT": str(media_root),
        "QRELAY_DATA_DIR": str(Path(directory) / "data"),
        **{k: str(v) for k, v in extra_env.items()},
    }
    celery = Path(sys.executable).with_name("celery")
    command = [str(celery), "-A", "config", "worker", "--pool=solo", "-Q", "qrelay", "--without-gossip",
               "--without-mingle", "--without-heartbeat", "--loglevel=INFO", "-n", f"{name}@%h"]  # fmt: skip
    log = Path(directory) / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=Path(__file__).resolve().parents[1], env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    previous = (os.environ.get("CELERY_BROKER_URL"), app.conf.broker_url)

    def publish_to(environment, configured) -> None:
        # Celery prefers the environment variable to its configuration; pools are per URL.
        if environment is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = environment
        app.conf.broker_url = configured
        app._pool = None
        if "amqp" in app.__dict__:
            app.__dict__["amqp"]._producer_pool = None

    try:
        deadline = time.monotonic() + 60
        while b" ready." not in log.read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the worker did not start:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.1)
        publish_to(broker, broker)
        yield log
    finally:
        publish_to(*previous)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
