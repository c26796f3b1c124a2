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


def api_client(user):
    """An API client authenticating as the user with a real token (CSRF enforced)."""
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client
