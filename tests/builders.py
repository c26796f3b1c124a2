"""Builders that test modules of several apps share: a judging world (a project with
members, images, a run and a foreign project), and jobs started, launched and finished by
calling the job services directly (tests never talk to the broker here)."""

import uuid
from contextlib import contextmanager
from unittest import mock

from annotation.models import (
    Label,
    LabelSource,
    Membership,
    Pair,
    Product,
    ProductImage,
    Query,
    SearchResult,
    SearchRun,
)
from annotation.services import project_create
from judging import prompts
from judging.jobs import judge_chunk_run, judge_job_create, judge_job_launch
from judging.models import JudgeChunk, JudgeConfig, JudgeJob, Judgment
from judging.services import judge_config_for, models_for
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


def judge_now(pair: Pair, *, value: int | None = 2, confidence: float = 0.9, status: str = "ok") -> Judgment:
    """A judgment of the pair from the project's *current* model, mode and prompt (what a
    job, or its cache, would have written), with its Label(source=llm) when valid."""
    config = judge_config_for(pair.project)
    label = None
    if status == Judgment.Status.OK:
        label = Label.objects.create(
            project_id=pair.project_id,
            pair=pair,
            source=LabelSource.LLM,
            rater=models_for(config)["judge"],
            value=value,
            confidence=confidence,
        )
    return Judgment.objects.create(
        cache_key=uuid.uuid4().hex,
        model=models_for(config)["judge"],
        prompt_version=prompts.JUDGMENT_VERSION,
        project_id=pair.project_id,
        pair=pair,
        product_id=pair.product_id,
        label=label,
        backend=config.backend,
        mode=config.mode,
        status=status,
        value=value if label else None,
        confidence=confidence if label else None,
        samples=[value] if label else [],
    )


def labelled_run(project, *, seed: int, queries: int = 12, products: int = 40) -> SearchRun:
    """A run over `queries` queries with rank ties and unlabelled results, and random
    labels of both sources on most pairs (some pairs outside the run): several labels per
    pair and source, some with equal created_at (the id decides), some written later but
    dated earlier (as an import with timestamps writes them). Labels go in one at a time,
    in bulk and by raw INSERT … SELECT, the three ways the app writes them."""
    import random
    from datetime import timedelta

    from django.db import connection
    from django.utils import timezone

    from annotation.models import Label

    rng = random.Random(seed)
    query_rows = Query.objects.bulk_create(
        [Query(project=project, external_id=f"q{n}", text=f"query {n}") for n in range(queries)]
    )
    product_rows = Product.objects.bulk_create(
        [
            Product(project=project, external_id=f"p{n:03d}", title=f"product {n}", content_hash="h")
            for n in range(products)
        ]
    )
    run = SearchRun.objects.create(project=project, name=f"run-{seed}")
    results, pairs = [], []
    for query in query_rows:
        chosen = rng.sample(product_rows, rng.randint(3, 15))
        rank = 0
        for i, product in enumerate(chosen):
            pair = Pair.objects.create(project=project, query=query, product=product)
            pairs.append(pair)
            if i < len(chosen) - 2:  # the last two are judged pairs outside the run
                rank += rng.choice((0, 1, 1)) if rank else 1
                results.append(
                    SearchResult(run=run, query=query, product=product, pair=pair, rank=rank, score=100.0 - rank)
                )
    SearchResult.objects.bulk_create(results)
    base = timezone.now() - timedelta(days=1)
    one_by_one, in_bulk, raw = [], [], []
    for pair in pairs:
        if rng.random() < 0.15:
            continue  # never labelled
        for _ in range(rng.randint(1, 4)):
            source = rng.choice(("llm", "llm", "human"))
            created = base + timedelta(minutes=rng.choice((0, 5, 5, 10, 30)))  # ties on purpose
            label = Label(
                project=project, pair=pair, source=source, rater=source, value=rng.randint(0, 2), created_at=created
            )
            rng.choice((one_by_one, in_bulk, raw)).append(label)
    for label in one_by_one:
        label.save()
        Label.objects.filter(id=label.id).update(created_at=label.created_at)  # auto_now_add overrode it
    Label.objects.bulk_create(in_bulk)  # auto_now_add dates them now: an UPDATE dates them back
    for label in in_bulk:
        Label.objects.filter(id=label.id).update(created_at=label.created_at)
    with connection.cursor() as cursor:
        for label in raw:
            cursor.execute(
                "INSERT INTO annotation_label (project_id, pair_id, source, rater, value, rationale, created_at) "
                "VALUES (%s, %s, %s, %s, %s, '', %s)",
                [project.id, label.pair_id, label.source, label.rater, label.value, label.created_at],
            )
    return run


def product_photo(product: Product, *, colour: str = "#c0392b", size: tuple[int, int] = (600, 800)) -> ProductImage:
    """A stored image for a product: a plain picture, validated and stored like an import's."""
    import io

    from PIL import Image

    from annotation.images import image_store

    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    stored = image_store(data=buffer.getvalue())
    return ProductImage.objects.create(
        product=product,
        position=product.images.count(),
        source=f"{product.external_id}.png",
        status=ProductImage.Status.STORED,
        stored_name=stored.stored_name,
        sha256=stored.sha256,
        width=stored.width,
        height=stored.height,
    )


def review_queue(project, n: int, *, images: bool = False, rationale: str = "unsure about the colour") -> list[Pair]:
    """n pairs the LLM judged with low confidence (value 1), routed to review (one human
    each, no audits), optionally each with a stored product image."""
    import uuid

    from annotation.models import Label, LabelSource
    from judging.models import Judgment
    from reviews.models import RoutingPolicy
    from reviews.services.route import route_pairs

    RoutingPolicy.objects.get_or_create(project=project, version=1, defaults={"humans_per_pair": 1, "audit_rate": 0.0})
    pairs = []
    for i in range(n):
        query = Query.objects.create(
            project=project, external_id=f"q{i}", text=f"blue summer dress {i}", traffic=10 * (n - i)
        )
        product = Product.objects.create(
            project=project, external_id=f"p{i}", title=f"Linen dress no. {i}", brand="Acme", content_hash=f"{i:064d}"
        )
        if images:
            product_photo(product, colour=["#c0392b", "#2e86c1", "#27ae60"][i % 3])
        pair = Pair.objects.create(project=project, query=query, product=product)
        label = Label.objects.create(
            project=project, pair=pair, source=LabelSource.LLM, rater="fake-judge", value=1, confidence=0.3
        )
        Judgment.objects.create(
            cache_key=uuid.uuid4().hex,
            model="fake-judge",
            prompt_version="j1",
            project=project,
            pair=pair,
            product=product,
            label=label,
            backend="openai",
            mode="text",
            status=Judgment.Status.OK,
            value=1,
            confidence=0.3,
            samples=[1],
            rationale=rationale,
        )
        pairs.append(pair)
    route_pairs(project=project, pair_ids=[p.id for p in pairs])
    return pairs


def policy_form(**overrides) -> dict:
    """The policy page's form data for version-1 defaults without audits, with `overrides`."""
    data = {
        "min_confidence": "0.7",
        "route_sample_disagreement": "on",
        "route_style_sensitive": "on",
        "style_keywords": "",
        "route_invalid": "on",
        "audit_rate": "0",
        "humans_per_pair": "1",
        "note": "",
    }
    data.update(overrides)
    return data


def api_client(user):
    """An API client authenticating as the user with a real token (CSRF enforced)."""
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


# --- a real Celery worker, for tests marked `worker` ----------------------------------------


def broker_beside_the_runs(offset: int) -> str:
    """A Redis db of its own beside the run's broker db (TEST_BROKER_URL, default db 15)."""
    from django.conf import settings

    url = settings.CELERY_BROKER_URL.rstrip("/")
    server, _, db = url.rpartition("/")
    if not db.isdigit():
        server, db = url, "15"
    return f"{server}/{(int(db) - offset) % 16}"


class Worker:
    """A `celery worker` process started by start_worker, and its log."""

    def __init__(self, process, log):
        self.process = process
        self.log = log

    def kill(self) -> None:
        """SIGKILL the whole process group: the main process and any pool children."""
        import os
        import signal

        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def text(self) -> str:
        return self.log.read_text(errors="replace")


def start_worker(*, name: str, broker: str, directory, media_root, children: int = 0, **extra_env) -> Worker:
    """A ready `celery -A config worker` on the test database and `broker`, logging to
    directory/<name>.log: the solo pool (children=0: one task at a time, in the main
    process) or prefork with that many children. extra_env adds to its environment."""
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path
    from urllib.parse import quote

    from django.db import connection

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
    pool = ["--pool=prefork", f"--concurrency={children}"] if children else ["--pool=solo"]
    celery = Path(sys.executable).with_name("celery")
    command = [str(celery), "-A", "config", "worker", *pool, "-Q", "qrelay", "--without-gossip",
               "--without-mingle", "--without-heartbeat", "--loglevel=INFO", "-n", f"{name}@%h"]  # fmt: skip
    log = Path(directory) / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=Path(__file__).resolve().parents[1], env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    worker = Worker(process, log)
    deadline = time.monotonic() + 60
    while " ready." not in worker.text():
        if process.poll() is not None or time.monotonic() > deadline:
            worker.kill()
            raise AssertionError(f"the worker did not start:\n{worker.text()[-3000:]}")
        time.sleep(0.1)
    return worker


@contextmanager
def publishing_to(url: str):
    """Point this process's Celery app (the publisher) at url for a while; yields a Redis
    client on it. The pools are only forgotten, not closed: kombu keeps one pool per URL
    and hands it out again."""
    import os

    import redis

    from config.celery import app

    def use(environment: str | None, configured: str) -> None:
        # Celery prefers the environment variable to its configuration.
        if environment is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = environment
        app.conf.broker_url = configured
        app._pool = None
        if "amqp" in app.__dict__:
            app.__dict__["amqp"]._producer_pool = None

    previous = (os.environ.get("CELERY_BROKER_URL"), app.conf.broker_url)
    use(url, url)
    try:
        yield redis.Redis.from_url(url)
    finally:
        use(*previous)


@contextmanager
def celery_worker(*, name: str, broker: str, directory, media_root, **extra_env):
    """A ready worker (solo pool, start_worker) with this process publishing to its
    broker while it runs; killed afterwards. Yields the Worker."""
    worker = start_worker(name=name, broker=broker, directory=directory, media_root=media_root, **extra_env)
    try:
        with publishing_to(broker):
            yield worker
    finally:
        worker.kill()


def held_transaction(write, done, go) -> None:
    """A thread's body for concurrency tests: in the thread's own connection, run `write()`
    in a transaction, set the `done` event, and commit only once `go` is set (10 s at most),
    so the test can act while the write is uncommitted and holds its locks."""
    from django.db import connections, transaction

    try:
        with transaction.atomic():
            write()
            done.set()
            go.wait(10)
    finally:
        connections.close_all()
