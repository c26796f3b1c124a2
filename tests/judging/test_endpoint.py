"""The endpoint a job talks to: how hard it drives it (presets, the environment's values
read when the job starts, a lead's own values) and what the job checks at creation on
/v1/models (reachable, the models served, images readable, llama.cpp or not)."""

import importlib
import socket
import time
from collections import Counter
from io import StringIO

import pytest
from django.apps import apps
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from annotation.services import project_create
from config import env
from judging.jobs import JobError, judge_job_create
from judging.models import JudgeConfig, JudgeJob, Judgment, Preset
from judging.services import judge_config_for
from tests.fakes.openai_server import FakeOpenAIServer

from .conftest import SERVED, grid

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_backoff")]


def dead_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once the socket closes
    return f"http://127.0.0.1:{port}/v1"


def judgment_bodies(server) -> list[dict]:
    return [r["body"] for r in server.requests if r["task"] == "judgment"]


# --- endpoint settings: presets and the environment (item 3) ---------------------------------


def test_the_presets_are_the_projects_choices_and_hosted_keeps_the_old_defaults():
    assert set(django_settings.QRELAY_LLM_PRESETS) == set(Preset.values)
    assert django_settings.QRELAY_LLM_PRESETS["hosted"] == {
        "max_in_flight": 32,
        "timeout": 60,
        "max_tokens": 1024,
        "stop": [],
    }
    cpu = django_settings.QRELAY_LLM_PRESETS["local-cpu"]
    assert (cpu["timeout"], cpu["max_tokens"]) == (300, 512) and cpu["max_in_flight"] <= 8


def test_a_new_project_copies_no_endpoint_settings(db):
    config = judge_config_for(project_create(name="fresh"))

    assert (config.preset, config.max_in_flight, config.timeout, config.max_tokens, config.stop) == (
        "",
        None,
        None,
        None,
        None,
    )


def test_a_job_reads_the_environments_endpoint_settings_when_it_starts_and_its_chunks_use_them(
    llm_project, catalogue, drive, fake_llm, settings
):
    project = llm_project("text", max_in_flight=None)
    data = catalogue(project)
    settings.QRELAY_LLM_PRESET = "local-cpu"

    first = drive(judge_job_create(project=project, run=data.run("A", grid("q1", "p1"))))

    assert {k: first.job.config[k] for k in ("preset", "max_in_flight", "timeout", "max_tokens", "stop")} == {
        "preset": "local-cpu",
        "max_in_flight": settings.QRELAY_LLM_PRESETS["local-cpu"]["max_in_flight"],
        "timeout": 300,
        "max_tokens": 512,
        "stop": [],
    }
    assert judgment_bodies(fake_llm)[0]["max_completion_tokens"] == 512
    # Changed later: the next job reads the new values (nothing was copied into the project).
    settings.QRELAY_LLM_MAX_IN_FLIGHT = 2
    settings.QRELAY_LLM_MAX_TOKENS = 300
    settings.QRELAY_LLM_STOP = ["\n\n\n"]
    fake_llm.reset()

    second = drive(judge_job_create(project=project, run=data.run("B", grid("q2", "p2"))))

    config = second.job.config
    assert (config["max_in_flight"], config["timeout"], config["max_tokens"], config["stop"]) == (
        2,
        300,
        300,
        ["\n\n\n"],
    )
    assert (judgment_bodies(fake_llm)[0]["max_completion_tokens"], judgment_bodies(fake_llm)[0]["stop"]) == (
        300,
        ["\n\n\n"],
    )
    assert JudgeConfig.objects.get(project=project).max_in_flight is None


def test_a_leads_own_values_and_preset_win_over_the_environment(llm_project, no_broker, catalogue, settings):
    settings.QRELAY_LLM_MAX_IN_FLIGHT = 2
    settings.QRELAY_LLM_TIMEOUT = 20
    project = llm_project("text", max_in_flight=None, preset="local-gpu", timeout=45)

    job = judge_job_create(project=project, run=catalogue(project).run("A", grid("q1", "p1")))

    assert {k: job.config[k] for k in ("preset", "max_in_flight", "timeout", "max_tokens")} == {
        "preset": "local-gpu",
        "max_in_flight": 16,  # the project's preset, not the environment's 2
        "timeout": 45,  # the project's own value
        "max_tokens": 1024,
    }


def test_a_job_recorded_before_endpoint_settings_were_recorded_takes_the_environments(
    llm_project, catalogue, drive, fake_llm, settings
):
    project = llm_project("text")
    job = judge_job_create(project=project, run=catalogue(project).run("A", grid("q1", "p1")))
    old_record = {k: v for k, v in job.config.items() if k not in ("preset", "timeout", "max_tokens", "stop")}
    JudgeJob.objects.filter(id=job.id).update(config=old_record)
    settings.QRELAY_LLM_MAX_TOKENS = 200

    assert drive(job).job.status == "done"
    assert judgment_bodies(fake_llm)[0]["max_completion_tokens"] == 200


def test_the_migration_forgets_the_in_flight_default_projects_copied_and_keeps_a_leads_value(db):
    first, second = project_create(name="copied"), project_create(name="chosen")
    JudgeConfig.objects.create(project=first, max_in_flight=32)
    JudgeConfig.objects.create(project=second, max_in_flight=12)

    migration = importlib.import_module("judging.migrations.0005_endpoint_settings_and_failure_reasons")
    migration.forget_copied_defaults(apps, None)

    assert dict(JudgeConfig.objects.values_list("project__name", "max_in_flight")) == {"copied": None, "chosen": 12}


def test_malformed_endpoint_variables_stop_start_up(monkeypatch):
    monkeypatch.setenv("QRELAY_LLM_STOP", "\\n\\n")
    with pytest.raises(ImproperlyConfigured, match="QRELAY_LLM_STOP must be a JSON list"):
        env.env_json_strings("QRELAY_LLM_STOP")
    monkeypatch.setenv("QRELAY_LLM_STOP", '["\\n\\n", 3]')
    with pytest.raises(ImproperlyConfigured, match="non-empty strings"):
        env.env_json_strings("QRELAY_LLM_STOP")
    monkeypatch.setenv("QRELAY_LLM_STOP", '["\\n\\n\\n", "###"]')
    assert env.env_json_strings("QRELAY_LLM_STOP") == ["\n\n\n", "###"]
    monkeypatch.setenv("QRELAY_LLM_TIMEOUT", "soon")
    with pytest.raises(ImproperlyConfigured, match="QRELAY_LLM_TIMEOUT must be an integer"):
        env.env_int_or_none("QRELAY_LLM_TIMEOUT", minimum=1)
    monkeypatch.setenv("QRELAY_LLM_TIMEOUT", "")
    assert env.env_int_or_none("QRELAY_LLM_TIMEOUT", minimum=1) is None
    monkeypatch.setenv("QRELAY_LLM_PRESET", "local-tpu")
    with pytest.raises(ImproperlyConfigured, match="QRELAY_LLM_PRESET must be one of"):
        env.env_choice("QRELAY_LLM_PRESET", "hosted", set(django_settings.QRELAY_LLM_PRESETS))


# --- the endpoint check at creation (item 4) -------------------------------------------------


def test_an_unreachable_endpoint_is_refused_at_creation_in_seconds_naming_its_url(llm_project, catalogue, no_broker):
    url = dead_url()
    project = llm_project("text", base_url=url)
    run = catalogue(project).run("A", grid("q1", "p1 p2"))
    started = time.monotonic()

    with pytest.raises(JobError) as refused:
        judge_job_create(project=project, run=run)

    assert time.monotonic() - started < 10
    assert str(refused.value).startswith(
        f"cannot reach the LLM endpoint at {url}: connection failed: Connection error."
    )
    assert refused.value.status == 400
    assert not JudgeJob.objects.exists() and no_broker["launch"] == []


def test_judge_without_a_reachable_server_fails_in_seconds_with_the_url(db, catalogue, settings, monkeypatch):
    url = dead_url()
    settings.OPENAI_BASE_URL = url
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    project = project_create(name="shop")
    catalogue(project).run("A", grid("q1", "p1"))
    started = time.monotonic()

    with pytest.raises(CommandError, match=f"cannot reach the LLM endpoint at {url}: connection failed"):
        call_command("judge", "--project", "shop", "--backend", "openai", stdout=StringIO())

    assert time.monotonic() - started < 10
    assert not JudgeJob.objects.exists()


def test_a_model_the_server_does_not_serve_is_refused_with_the_names_it_does(llm_project, catalogue, no_broker):
    with FakeOpenAIServer(llama_cpp=True, models=["smollm2-135m"]) as server:
        url = server.base_url
        project = llm_project("text", server=server, guideline_model="smollm2-135m", judge_model="gpt-4o-mini")
        run = catalogue(project).run("A", grid("q1", "p1"))

        with pytest.raises(JobError) as refused:
            judge_job_create(project=project, run=run)

    assert str(refused.value) == (
        f"model gpt-4o-mini is not served by {url}; it serves smollm2-135m: "
        "set QRELAY_JUDGE_MODEL or the project's judge model"
    )
    assert server.calls_by_task == {}, "no chat call was made"


@pytest.mark.parametrize("answer", ["404", "401"])
def test_an_endpoint_without_a_models_list_is_noted_and_not_refused(answer, llm_project, catalogue, drive):
    options = {"list_models": False} if answer == "404" else {"api_key": "another-key"}
    with FakeOpenAIServer(models=SERVED, **options) as server:
        url = server.base_url
        project = llm_project("text", server=server)

        job = judge_job_create(project=project, run=catalogue(project).run("A", grid("q1", "p1")))

    note = job.config["endpoint_note"]
    assert note.startswith(f"GET {url}/models answered HTTP {answer}") and "not checked" in note
    assert job.config["llama_cpp"] is False


def test_llama_cpp_is_recognised_at_creation_and_asked_for_its_post_grammar_probabilities(
    llm_project, catalogue, drive
):
    with FakeOpenAIServer(llama_cpp=True, models=SERVED, label_prob=0.8) as server:
        project = llm_project("text", server=server, use_logprobs=True)
        job = judge_job_create(project=project, run=catalogue(project).run("A", grid("q1", "p1 p2")))

        result = drive(job)

        bodies = judgment_bodies(server)
    assert job.config["llama_cpp"] is True and result.job.status == "done"
    assert all(body["post_sampling_probs"] is True for body in bodies)
    assert [j.confidence for j in Judgment.objects.filter(job=job)] == pytest.approx([0.8, 0.8])


def test_other_servers_are_not_sent_llama_cpps_parameters(llm_project, catalogue, drive, fake_llm):
    project = llm_project("text", use_logprobs=True)

    job = drive(judge_job_create(project=project, run=catalogue(project).run("A", grid("q1", "p1")))).job

    assert job.config["llama_cpp"] is False
    assert all("post_sampling_probs" not in body for body in judgment_bodies(fake_llm))


@pytest.mark.parametrize(
    "mode, reader, hint",
    [("vision", "fake-judge", "--mode caption"), ("caption", "fake-vision", "QRELAY_VISION_MODEL")],
)
def test_image_modes_are_refused_when_the_model_that_gets_the_images_reads_none(
    mode, reader, hint, llm_project, catalogue, no_broker
):
    with FakeOpenAIServer(llama_cpp=True, text_only=True, models=SERVED) as server:
        url = server.base_url
        project = llm_project(mode, server=server)
        run = catalogue(project).run("A", grid("q1", "p1"))

        with pytest.raises(JobError) as refused:
            judge_job_create(project=project, run=run)

        # Text mode sends no image: the same model is fine for it.
        assert judge_job_create(project=project, run=run, mode="text").total == 1

    message = str(refused.value)
    assert message.startswith(f"model {reader} at {url} reads no images (its input: text)")
    assert "--mode text" in message and hint in message


def test_a_job_with_nothing_to_judge_does_not_need_the_endpoint(llm_project, no_broker):
    project = llm_project("text")
    JudgeConfig.objects.filter(project=project).update(base_url=dead_url())

    job = judge_job_create(project=project, pair_ids=[])

    assert job.total == 0 and job.config["endpoint_note"] == ""


@pytest.mark.parametrize(
    "changes",
    [{"api_key_env": "DATABASE_URL"}, {"base_url": "https://attacker.example/v1"}],
)
def test_a_configuration_saved_around_the_admins_checks_makes_no_job(llm_project, catalogue, fake_llm, changes):
    # The checks hold when a job is made too: a row written without the admin's form (shell, SQL).
    project = llm_project("text")
    JudgeConfig.objects.filter(project=project).update(**changes)
    run = catalogue(project).run("A", [("q1", "p1")])

    with pytest.raises(JobError, match="not one the operator allows"):
        judge_job_create(project=project, run=run)

    assert not JudgeJob.objects.filter(project=project).exists()
    assert fake_llm.calls_by_task == Counter()
