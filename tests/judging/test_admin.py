"""Admin for judging: settings and prices are editable, cached LLM records and jobs
are read-only, and changelists stay cheap on big tables."""

import io
from decimal import Decimal

import pytest
from django.conf import settings
from django.contrib import admin
from django.urls import reverse
from PIL import Image

from judging.models import (
    Guideline,
    ImageDescription,
    JudgeChunk,
    JudgeConfig,
    JudgeJob,
    Judgment,
    PrepFailure,
    Price,
)
from tests.builders import build_world, finish_job, start_job

pytestmark = pytest.mark.django_db

JUDGING_MODELS = [JudgeConfig, Price, Guideline, ImageDescription, JudgeJob, JudgeChunk, Judgment, PrepFailure]
READ_ONLY_MODELS = [Guideline, ImageDescription, JudgeJob, JudgeChunk, Judgment, PrepFailure]


@pytest.fixture
def data(django_user_model):
    world = build_world(django_user_model)
    project = world["project"]
    finish_job(start_job(project, run=world["run"]))
    # Caption mode describes the stored image of the world's dress, so its file must exist.
    target = settings.MEDIA_ROOT / world["image"].stored_name
    target.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), (200, 30, 30)).save(buffer, format="JPEG")
    target.write_bytes(buffer.getvalue())
    JudgeConfig.objects.filter(project=project).update(mode="caption")
    caption_job = finish_job(start_job(project, run=world["run"], holes_only=False))
    for n in range(3):
        PrepFailure.objects.create(
            job=caption_job,
            step="description",
            image=world["image"],
            cache_key=f"{n}" * 64,
            error="image description failed: the model cannot take this input: HTTP 500: image input is not supported",
            model="gpt-4o-mini",
            prompt_version="d1",
        )
    Price.objects.create(model="gpt-4o-mini", input_per_million=Decimal("0.15"), output_per_million=Decimal("0.60"))
    return world


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # admin_client's user gets a real password; the default hasher costs ~1 s a test.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def url(model, view: str, *args) -> str:
    return reverse(f"admin:judging_{model._meta.model_name}_{view}", args=args)


def test_it_registers_every_judging_model():
    registered = {model for model in admin.site._registry if model._meta.app_label == "judging"}

    assert registered == set(JUDGING_MODELS)


@pytest.mark.parametrize("model", JUDGING_MODELS, ids=lambda m: m.__name__)
def test_it_loads_the_changelist_with_rows(admin_client, data, model, django_assert_max_num_queries):
    assert model.objects.exists()

    # Several rows per model: one lookup per row would push every changelist past this.
    with django_assert_max_num_queries(8):
        response = admin_client.get(url(model, "changelist"))

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) > 0


@pytest.mark.parametrize("model", JUDGING_MODELS, ids=lambda m: m.__name__)
def test_it_loads_the_page_of_one_row(admin_client, data, model):
    row = model.objects.order_by("id").first()

    response = admin_client.get(url(model, "change", row.id))

    assert response.status_code == 200


@pytest.mark.parametrize("model", READ_ONLY_MODELS, ids=lambda m: m.__name__)
def test_it_keeps_cached_llm_records_and_jobs_read_only(admin_client, data, model):
    row = model.objects.order_by("id").first()

    page = admin_client.get(url(model, "change", row.id))
    posted = admin_client.post(url(model, "change", row.id), {})
    deleted = admin_client.post(url(model, "delete", row.id), {"post": "yes"})

    assert 'name="_save"' not in page.content.decode()
    assert posted.status_code == 403
    assert deleted.status_code == 403
    assert admin_client.get(url(model, "add")).status_code == 403
    assert model.objects.filter(id=row.id).exists()


def test_it_shows_the_size_of_a_job_instead_of_its_pair_ids(admin_client, data):
    job = JudgeJob.objects.filter(project=data["project"]).order_by("id").first()

    content = admin_client.get(url(JudgeJob, "change", job.id)).content.decode()

    assert "pair_ids" not in content
    assert ">3<" in content


def test_it_edits_the_judge_config_of_a_project(admin_client, data, settings):
    settings.QRELAY_LLM_BASE_URLS = ["http://llm.internal:8000/v1"]  # the operator allows this endpoint
    config = JudgeConfig.objects.get(project=data["project"])
    form = {
        "project": config.project_id,
        "backend": "openai",
        "mode": "vision",
        "base_url": "http://llm.internal:8000/v1",
        "api_key_env": "QRELAY_LLM_KEY_VLLM",
        "guideline_model": "",
        "vision_model": "qwen2-vl",
        "judge_model": "qwen2-vl",
        "samples": 3,
        "max_in_flight": 16,
        "requests_per_minute": 600,
        "tokens_per_minute": 0,
    }

    response = admin_client.post(url(JudgeConfig, "change", config.id), form)

    config.refresh_from_db()
    assert response.status_code == 302
    assert (config.backend, config.mode, config.judge_model, config.samples) == ("openai", "vision", "qwen2-vl", 3)


def test_it_adds_and_edits_prices_in_the_list(admin_client, data):
    added = admin_client.post(
        url(Price, "add"), {"model": "gpt-4o", "input_per_million": "2.5", "output_per_million": "10"}
    )
    price = Price.objects.get(model="gpt-4o")
    other = Price.objects.get(model="gpt-4o-mini")
    edited = admin_client.post(
        url(Price, "changelist"),
        {
            "form-TOTAL_FORMS": "2",
            "form-INITIAL_FORMS": "2",
            "form-0-id": price.id,
            "form-0-input_per_million": "2.0",
            "form-0-output_per_million": "8.0",
            "form-1-id": other.id,
            "form-1-input_per_million": "0.15",
            "form-1-output_per_million": "0.60",
            "_save": "Save",
        },
    )

    price.refresh_from_db()
    assert added.status_code == edited.status_code == 302
    assert (price.input_per_million, price.output_per_million) == (Decimal("2.0"), Decimal("8.0"))


def test_it_cancels_active_jobs_with_an_action(admin_client, data):
    active = start_job(data["project"], pair_ids=[data["pairs"][0].id])
    finished = JudgeJob.objects.filter(status="done").first()

    response = admin_client.post(
        url(JudgeJob, "changelist"),
        {"action": "cancel_jobs", "_selected_action": [active.id, finished.id]},
    )

    active.refresh_from_db()
    finished.refresh_from_db()
    assert response.status_code == 302
    assert active.status == "cancelled"
    assert finished.status == "done"


@pytest.mark.parametrize(
    "field, value",
    [("api_key_env", "DATABASE_URL"), ("api_key_env", "SECRET_KEY"), ("base_url", "https://attacker.example/v1")],
)
def test_the_judge_config_refuses_key_variables_and_endpoints_the_operator_did_not_allow(
    admin_client, data, field, value
):
    # An admin could otherwise have the worker send DATABASE_URL as a bearer token to a host they run.
    config = JudgeConfig.objects.get(project=data["project"])
    form = {
        "project": config.project_id,
        "backend": "openai",
        "mode": "text",
        "base_url": "",
        "api_key_env": "OPENAI_API_KEY",
        "samples": 1,
        "requests_per_minute": 0,
        "tokens_per_minute": 0,
        field: value,
    }

    response = admin_client.post(url(JudgeConfig, "change", config.id), form)

    assert response.status_code == 200 and "not one the operator allows" in response.content.decode()
    config.refresh_from_db()
    assert getattr(config, field) != value
