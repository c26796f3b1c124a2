"""Judge jobs through their task bodies, against the fake OpenAI-compatible server.

The broker is never touched (see the `no_broker` fixture): the tests call
judge_job_launch and judge_chunk_run themselves, prep chunks first, then judge chunks,
and re-run a chunk that asks for a Celery retry. Only the LLM is fake, at its HTTP
boundary; PostgreSQL is real.
"""

import base64
import json
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
import redis
from django.conf import settings as django_settings

from annotation.models import Label, LabelSource, Pair, ProductImage
from judging import jobs, prompts
from judging.jobs import (
    create,
    finish,
    judge_chunk,
    judge_chunk_run,
    judge_job_cancel,
    judge_job_create,
    judge_job_launch,
)
from judging.models import Guideline, ImageDescription, JudgeChunk, JudgeConfig, JudgeJob, Judgment, Price
from tests.fakes.openai_server import FakeOpenAIServer, count_completion_tokens, count_prompt_tokens

from .conftest import KEY_ENV, grid, pair_ids

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_backoff")]

LEVEL_NAMES = ["irrelevant", "acceptable substitute", "highly relevant"]


# --- helpers ------------------------------------------------------------------------


def bodies(server, task: str) -> list[dict]:
    return [r["body"] for r in server.requests if r["task"] == task]


def user_parts(body: dict) -> list[dict]:
    return next(m["content"] for m in body["messages"] if m["role"] == "user")


def image_parts(body: dict) -> list[dict]:
    return [part for part in user_parts(body) if part["type"] == "image_url"]


def llm_labels(project):
    return Label.objects.filter(project=project, source=LabelSource.LLM)


def labels_per_pair(project) -> Counter:
    return Counter(llm_labels(project).values_list("pair_id", flat=True))


def judgments_per_pair(project) -> Counter:
    return Counter(Judgment.objects.filter(project=project).values_list("pair_id", flat=True))


def data_url_bytes(url: str) -> bytes:
    header, _, data = url.partition(",")
    assert header == "data:image/jpeg;base64"
    return base64.b64decode(data)


def stored_bytes(image: ProductImage) -> bytes:
    return (Path(django_settings.MEDIA_ROOT) / image.stored_name).read_bytes()


# --- the whole flow, caching and reuse ---------------------------------------------


def test_a_job_judges_every_pair_once_with_one_llm_label_each(llm_project, catalogue, drive, fake_llm):
    project = llm_project("text")
    run = catalogue(project).run("A", grid("q1 q2 q3", "p1 p2 p3 p4"))

    result = drive(judge_job_create(project=project, run=run))

    job = result.job
    pairs = set(Pair.objects.filter(project=project).values_list("id", flat=True))
    assert (job.status, job.total, job.done, job.failed, job.cached) == ("done", 12, 12, 0, 0)
    assert (job.prep_done, job.prep_total, job.chunks_done, job.chunks_total) == (1, 1, 1, 1)
    assert fake_llm.calls_by_task == Counter({"guideline": 3, "judgment": 12})
    assert judgments_per_pair(project) == Counter(dict.fromkeys(pairs, 1))
    assert labels_per_pair(project) == Counter(dict.fromkeys(pairs, 1))
    for judgment in Judgment.objects.filter(project=project).select_related("label", "guideline"):
        assert judgment.status == Judgment.Status.OK
        assert judgment.guideline.query_id == judgment.pair.query_id
        label = judgment.label
        assert (label.pair_id, label.value, label.rater, label.guideline_version) == (
            judgment.pair_id,
            judgment.value,
            "fake-judge",
            judgment.guideline.version,
        )
    # The guideline's tags are merged into the query's (the routing policy keys on them).
    for guideline in Guideline.objects.filter(project=project).select_related("query"):
        assert guideline.tags and set(guideline.tags) <= set(guideline.query.tags)
    # The fake answers with the offline judge: a red dress is highly relevant to "red dress".
    red_dress = Judgment.objects.get(pair__query__external_id="q1", pair__product__external_id="p1")
    assert red_dress.value == 2
    assert result.retries == []


def test_a_second_run_sharing_80_percent_of_pairs_pays_only_for_the_new_pairs(llm_project, catalogue, drive, fake_llm):
    project = llm_project("text")
    data = catalogue(project)
    first = data.run("A", grid("q1 q2 q3 q4", "p1 p2 p3 p4 p5"))
    drive(judge_job_create(project=project, run=first))
    assert fake_llm.calls_by_task == Counter({"guideline": 4, "judgment": 20})
    # 16 of the second run's 20 pairs are shared; q5 is a new query.
    second = data.run("B", grid("q1 q2 q3 q4", "p1 p2 p3 p4") + grid("q5", "p1 p2 p3 p6"))
    fake_llm.reset()

    job = drive(judge_job_create(project=project, run=second)).job

    assert (job.status, job.total, job.done) == ("done", 4, 4)
    assert fake_llm.calls_by_task == Counter({"guideline": 1, "judgment": 4})
    assert {body["model"] for body in bodies(fake_llm, "judgment")} == {"fake-judge"}
    assert {prompts.extract_input(b["messages"])["query"] for b in bodies(fake_llm, "judgment")} == {"green jacket"}
    assert labels_per_pair(project) == Counter(
        dict.fromkeys(Pair.objects.filter(project=project).values_list("id", flat=True), 1)
    )
    assert job.calls == 5


def test_a_job_over_judged_pairs_counts_them_as_cached_and_calls_only_for_the_rest(
    llm_project, catalogue, drive, fake_llm
):
    project = llm_project("text")
    data = catalogue(project)
    drive(judge_job_create(project=project, run=data.run("A", grid("q1 q2 q3 q4", "p1 p2 p3 p4 p5"))))
    second = data.run("B", grid("q1 q2 q3 q4", "p1 p2 p3 p4") + grid("q5", "p1 p2 p3 p6"))
    fake_llm.reset()

    job = drive(judge_job_create(project=project, run=second, holes_only=False)).job

    assert (job.status, job.total, job.done, job.cached, job.failed) == ("done", 20, 20, 16, 0)
    assert fake_llm.calls_by_task == Counter({"guideline": 1, "judgment": 4})
    assert llm_labels(project).count() == 24  # 20 from run A + 4 new: no second label for a shared pair
    assert Judgment.objects.filter(job=job).count() == 4


def test_caption_mode_describes_each_new_image_once_and_reuses_descriptions(llm_project, catalogue, drive, fake_llm):
    project = llm_project("caption")
    data = catalogue(project)
    drive(judge_job_create(project=project, run=data.run("A", grid("q1 q2", "p1 p2 p3 p4 p5"))))
    assert fake_llm.calls_by_task == Counter({"guideline": 2, "description": 5, "judgment": 10})
    second = data.run("B", grid("q1 q2", "p1 p2 p3 p4") + grid("q3", "p6 p7"))
    fake_llm.reset()

    job = drive(judge_job_create(project=project, run=second)).job

    assert (job.status, job.total, job.done) == ("done", 2, 2)
    assert fake_llm.calls_by_task == Counter({"guideline": 1, "description": 2, "judgment": 2})
    described = [prompts.extract_input(b["messages"])["product_title"] for b in bodies(fake_llm, "description")]
    assert sorted(described) == ["Black Cotton Dress", "Red Leather Boots"]
    assert ImageDescription.objects.count() == 7


def test_products_sharing_an_image_share_one_description_and_both_are_judged_with_it(
    llm_project, catalogue, drive, fake_llm
):
    project = llm_project("caption")
    data = catalogue(project)
    # p1 and p7 use the same image file: the same bytes, so the same cache key.
    run = data.run("A", grid("q1", "p1 p7"), image_for={"p1": "dress.png", "p7": "dress.png"})

    drive(judge_job_create(project=project, run=run))

    assert fake_llm.calls_by_task["description"] == 1
    description = ImageDescription.objects.get()
    for body in bodies(fake_llm, "judgment"):
        assert prompts.extract_input(body["messages"])["product"]["image_descriptions"] == [description.text]
    # A later job over the same products pays for no description at all.
    fake_llm.reset()
    drive(judge_job_create(project=project, run=data.run("B", grid("q7", "p1 p7"))))
    assert fake_llm.calls_by_task == Counter({"guideline": 1, "judgment": 2})


def test_queries_with_the_same_text_in_two_projects_each_get_their_own_guideline(
    llm_project, catalogue, drive, fake_llm
):
    first, second = llm_project("text"), llm_project("text")
    drive(judge_job_create(project=first, run=catalogue(first).run("A", grid("q1", "p1 p2"))))
    data = catalogue(second)
    run = data.run("A", grid("q1", "p1 p2"))
    fake_llm.reset()

    drive(judge_job_create(project=second, run=run))
    drive(judge_job_create(project=second, run=data.run("B", grid("q1", "p3"))))

    guideline = Guideline.objects.get(project=second)
    assert guideline.query.project_id == second.id
    assert fake_llm.calls_by_task == Counter({"guideline": 1, "judgment": 3})
    for judgment in Judgment.objects.filter(project=second):
        assert judgment.guideline_id == guideline.id
    for body in bodies(fake_llm, "judgment"):
        assert prompts.extract_input(body["messages"])["guideline"]["text"] == guideline.text != ""


# --- request shapes per mode ----------------------------------------------------------


def test_text_mode_sends_no_images_and_a_json_schema_with_the_label_enum(llm_project, catalogue, drive, fake_llm):
    project = llm_project("text")
    drive(judge_job_create(project=project, run=catalogue(project).run("A", grid("q1 q2", "p1 p2"))))

    assert fake_llm.calls_by_task == Counter({"guideline": 2, "judgment": 4})
    assert all(image_parts(r["body"]) == [] for r in fake_llm.requests)
    for body in bodies(fake_llm, "judgment"):
        assert body["model"] == "fake-judge"
        assert body["response_format"]["type"] == "json_schema"
        schema = body["response_format"]["json_schema"]
        assert schema["name"] == "judgment" and schema["strict"] is True
        assert schema["schema"]["properties"]["label"]["enum"] == LEVEL_NAMES
        payload = prompts.extract_input(body["messages"])
        assert payload["mode"] == "text" and payload["labels"] == LEVEL_NAMES
        assert payload["product"]["image_descriptions"] == []
        assert payload["guideline"]["requirements"], "the guideline's requirements go into the judgment"
        assert "n" not in body and "logprobs" not in body
    for body in bodies(fake_llm, "guideline"):
        assert body["model"] == "fake-guide"
        assert body["response_format"]["json_schema"]["name"] == "guideline"
        assert prompts.extract_input(body["messages"])["catalogue_vocabulary"]["colours"]


def test_caption_mode_describes_images_with_the_vision_model_and_judges_on_the_descriptions(
    llm_project, catalogue, drive, fake_llm
):
    project = llm_project("caption")
    drive(judge_job_create(project=project, run=catalogue(project).run("A", grid("q1 q2", "p1 p2 p3"))))

    assert fake_llm.calls_by_task == Counter({"guideline": 2, "description": 3, "judgment": 6})
    images = {image.id: image for image in ProductImage.objects.filter(product__project=project)}
    sent = []
    for body in bodies(fake_llm, "description"):
        assert body["model"] == "fake-vision"
        assert body["response_format"]["json_schema"]["name"] == "image_description"
        (part,) = image_parts(body)
        sent.append(data_url_bytes(part["image_url"]["url"]))
    assert sorted(sent) == sorted(stored_bytes(image) for image in images.values())
    texts = {d.image.product.external_id: d.text for d in ImageDescription.objects.select_related("image__product")}
    assert len(set(texts.values())) == 3
    for body in bodies(fake_llm, "judgment"):
        assert image_parts(body) == []
        payload = prompts.extract_input(body["messages"])
        assert payload["mode"] == "caption"
        assert payload["product"]["image_descriptions"] == [texts[payload["product"]["product_id"]]]


def test_vision_mode_sends_the_stored_images_as_data_urls_in_judgments(llm_project, catalogue, drive, fake_llm):
    project = llm_project("vision")
    drive(judge_job_create(project=project, run=catalogue(project).run("A", grid("q1", "p1 p2 p3"))))

    assert fake_llm.calls_by_task == Counter({"guideline": 1, "judgment": 3})
    stored = {i.product.external_id: stored_bytes(i) for i in ProductImage.objects.select_related("product")}
    for body in bodies(fake_llm, "judgment"):
        payload = prompts.extract_input(body["messages"])
        (part,) = image_parts(body)
        assert data_url_bytes(part["image_url"]["url"]) == stored[payload["product"]["product_id"]]
        assert payload["mode"] == "vision"
        assert body["response_format"]["json_schema"]["schema"]["properties"]["label"]["enum"] == LEVEL_NAMES


# --- faults -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, count, calls",
    [("429", 1, 3), ("500", 2, 4), ("hang", 1, 3)],
)
def test_transient_errors_are_retried_in_the_task_and_nothing_is_lost(
    kind, count, calls, llm_project, catalogue, drive, fake_llm, fast_backoff, settings
):
    settings.QRELAY_LLM_TIMEOUT = 1.5  # a hang (5 s) becomes a client timeout
    fake_llm.retry_after = "2.5"
    project = llm_project("text")
    run = catalogue(project).run("A", grid("q1", "p1 p2"))
    fake_llm.inject(kind, count=count, match_task="judgment")

    result = drive(judge_job_create(project=project, run=run))

    assert (result.job.status, result.job.done, result.job.failed) == ("done", 2, 0)
    assert result.retries == []  # handled inside the task, no Celery retry needed
    assert fake_llm.calls_by_task["judgment"] == calls
    assert [r["fault"] for r in fake_llm.requests if r["task"] == "judgment"].count(kind) == count
    assert sum(labels_per_pair(project).values()) == 2
    assert len(fast_backoff) == count
    if kind == "429":
        assert fast_backoff[0] >= 2.5, "Retry-After is a floor for the backoff"
    # The failed attempts are not billed as calls of the pair (no usage came back).
    assert sorted(Judgment.objects.values_list("calls", flat=True)) == [1, 1]


@pytest.mark.parametrize("kind", ["invalid_json", "wrong_label", "refusal", "truncated", "missing_field"])
def test_an_invalid_answer_is_retried_and_a_later_valid_one_is_used(kind, llm_project, catalogue, drive, fake_llm):
    project = llm_project("text")
    run = catalogue(project).run("A", [("q1", "p1")])
    fake_llm.inject(kind, count=2, match_task="judgment")

    job = drive(judge_job_create(project=project, run=run)).job

    assert (job.status, job.done, job.failed) == ("done", 1, 0)
    assert fake_llm.calls_by_task["judgment"] == 3
    judgment = Judgment.objects.get()
    assert (judgment.status, judgment.value, judgment.calls, len(judgment.raw_response)) == ("ok", 2, 3, 3)
    assert judgment.label.value == 2


@pytest.mark.parametrize("kind", ["invalid_json", "wrong_label", "refusal", "truncated", "missing_field"])
def test_answers_that_stay_invalid_give_an_invalid_judgment_and_no_label(kind, llm_project, catalogue, drive, fake_llm):
    project = llm_project("text")
    run = catalogue(project).run("A", [("q1", "p1")])
    fake_llm.inject(kind, count=3, match_task="judgment")

    job = drive(judge_job_create(project=project, run=run)).job

    assert (job.status, job.done, job.failed) == ("done", 0, 1)
    assert fake_llm.calls_by_task["judgment"] == 3, "bounded: 1 + INVALID_RETRIES attempts"
    judgment = Judgment.objects.get()
    assert (judgment.status, judgment.value, judgment.confidence, judgment.label) == ("invalid", None, None, None)
    assert "no valid label" in judgment.error
    assert judgment.calls == 3 and judgment.tokens_in > 0
    assert not llm_labels(project).exists()
    assert job.failures == {judgment.error: 1}
    # The pair stays a hole: its invalid judgment sent it to a human, and a later job asks again.
    again = drive(judge_job_create(project=project, run=run)).job
    assert (again.status, again.total, again.done, again.failed) == ("done", 1, 1, 0)
    assert Judgment.objects.filter(pair=judgment.pair).latest("id").status == "ok"


def test_persistent_server_errors_retry_the_chunk_then_complete_it_with_those_pairs_failed(
    llm_project, catalogue, drive, fake_llm, settings
):
    settings.QRELAY_JUDGE_CHUNK_RETRIES = 2
    project = llm_project("text")
    run = catalogue(project).run("A", grid("q1", "p1 p2"))
    fake_llm.inject("500", count=1000, match_task="judgment")

    result = drive(judge_job_create(project=project, run=run))

    job = result.job
    assert result.retries == [5.0, 10.0]  # exponential backoff between Celery attempts
    assert (job.status, job.done, job.failed, job.chunks_done) == ("done", 0, 2, 1)
    chunk = JudgeChunk.objects.get(job=job, phase="judge")
    assert (chunk.done, chunk.attempts, chunk.failed) == (True, 3, 2)
    assert "HTTP 500" in chunk.error
    assert fake_llm.calls_by_task["judgment"] == 3 * 3 * 2  # attempts × in-task tries × pairs
    assert not Judgment.objects.exists() and not llm_labels(project).exists()

    # Nothing is lost: the failed pairs are holes that the next job judges.
    fake_llm.clear_faults()
    again = drive(judge_job_create(project=project, run=run)).job
    assert (again.status, again.total, again.done) == ("done", 2, 2)
    assert sum(labels_per_pair(project).values()) == 2


def test_a_chunk_retry_waits_at_least_the_servers_retry_after(llm_project, catalogue, drive, fake_llm, settings):
    settings.QRELAY_JUDGE_CHUNK_RETRIES = 1
    fake_llm.retry_after = "40"
    project = llm_project("text")
    run = catalogue(project).run("A", [("q1", "p1")])
    fake_llm.inject("429", count=3, match_task="judgment")

    result = drive(judge_job_create(project=project, run=run))

    assert result.retries == [40.0]
    assert (result.job.status, result.job.done, result.job.failed) == ("done", 1, 0)


def test_results_are_written_in_batches_while_calls_go_on_and_counted_once(
    llm_project, catalogue, drive, fake_llm, monkeypatch, settings
):
    settings.QRELAY_JUDGE_CHUNK_SIZE = 500  # one chunk (by default 20 windows: 20 pairs here)
    monkeypatch.setattr(judge_chunk, "WRITE_BATCH_MIN", 5)
    project = llm_project("text", max_in_flight=1)  # one call at a time, batches of 5 judgments
    run = catalogue(project).run("A", grid("q1 q2 q3 q4 q5 q6", "p1 p2 p3 p4 p5 p6 p7 p8"))
    fake_llm.inject("500", count=3, match_task="judgment")  # one pair fails in the first attempt

    result = drive(judge_job_create(project=project, run=run))

    job = result.job
    assert (job.status, job.total, job.done, job.failed, job.cached) == ("done", 48, 48, 0, 0)
    assert result.retries == [5.0]
    chunk = JudgeChunk.objects.get(job=job, phase="judge")
    assert (chunk.judged, chunk.cached, chunk.failed, chunk.attempts) == (48, 0, 0, 2)
    assert fake_llm.calls_by_task["judgment"] == 48 + 3
    assert (
        judgments_per_pair(project)
        == labels_per_pair(project)
        == Counter(dict.fromkeys(Pair.objects.filter(project=project).values_list("id", flat=True), 1))
    )


def test_the_last_window_is_written_in_small_batches_as_its_calls_return(
    llm_project, catalogue, drive, fake_llm, monkeypatch
):
    # Batches of 100 would hold all 16 judgments until the last call returned; once
    # fewer than max_in_flight (4) calls are unfinished, each finished one is written
    # (tail batch: max(4 // 10, 1) = 1), so the write after the last call is one row.
    sizes: list[int] = []
    write = judge_chunk._write_judgments
    monkeypatch.setattr(
        judge_chunk, "_write_judgments", lambda job, pairs, *rest: sizes.append(len(pairs)) or write(job, pairs, *rest)
    )
    project = llm_project("text", max_in_flight=4)
    run = catalogue(project).run("A", grid("q1 q2", "p1 p2 p3 p4 p5 p6 p7 p8"))

    job = drive(judge_job_create(project=project, run=run)).job

    assert (job.status, job.done, job.failed) == ("done", 16, 0)
    assert sizes == [13, 1, 1, 1]
    assert sum(labels_per_pair(project).values()) == 16


def test_a_retried_chunk_calls_only_for_the_pairs_that_failed(llm_project, catalogue, drive, fake_llm):
    project = llm_project("text", max_in_flight=1)  # one call at a time: the first pair takes every fault
    run = catalogue(project).run("A", grid("q1", "p1 p2 p3 p4"))
    fake_llm.inject("500", count=3, match_task="judgment")

    result = drive(judge_job_create(project=project, run=run))

    assert result.retries == [5.0]
    assert (result.job.status, result.job.done, result.job.failed) == ("done", 4, 0)
    assert fake_llm.calls_by_task["judgment"] == 3 + 3 + 1
    assert JudgeChunk.objects.get(job=result.job, phase="judge").attempts == 2
    assert sum(judgments_per_pair(project).values()) == 4 == sum(labels_per_pair(project).values())


def test_prep_steps_recover_from_faults_too(llm_project, catalogue, drive, fake_llm):
    project = llm_project("caption")
    run = catalogue(project).run("A", grid("q1 q2", "p1 p2"))
    fake_llm.inject("500", count=1, match_task="guideline")
    fake_llm.inject("429", count=1, match_task="description")
    fake_llm.inject("invalid_json", count=1, match_task="description")

    job = drive(judge_job_create(project=project, run=run)).job

    assert (job.status, job.done) == ("done", 4)
    assert fake_llm.calls_by_task == Counter({"guideline": 3, "description": 4, "judgment": 4})
    assert Guideline.objects.filter(project=project).count() == 2
    assert ImageDescription.objects.count() == 2
    assert all(d.text and not d.text.startswith("(") for d in ImageDescription.objects.all())


def test_a_wrong_api_key_fails_the_job_with_a_clear_error_and_no_retries(llm_project, catalogue, drive, monkeypatch):
    with FakeOpenAIServer(api_key="the-right-key") as server:
        project = llm_project("text", server=server)
        monkeypatch.setenv(KEY_ENV, "a-wrong-key")
        run = catalogue(project).run("A", grid("q1 q2", "p1 p2"))

        result = drive(judge_job_create(project=project, run=run))

        job = result.job
        assert job.status == "failed"
        assert "401" in job.error and "Incorrect API key" in job.error
        assert server.calls_by_task == Counter({"guideline": 2}), "one try per call, no judgments"
        assert result.retries == []
    assert not Judgment.objects.exists() and not llm_labels(project).exists()


def test_a_missing_api_key_refuses_the_job_naming_the_variable(llm_project, catalogue, fake_llm, monkeypatch, settings):
    # OpenAI's own endpoint (no base URL anywhere) needs a key; a server of your own does not.
    project = llm_project("text", base_url="")
    settings.OPENAI_BASE_URL = ""
    monkeypatch.delenv(KEY_ENV)
    run = catalogue(project).run("A", [("q1", "p1")])

    with pytest.raises(jobs.JobError, match=KEY_ENV):
        judge_job_create(project=project, run=run)

    assert not JudgeJob.objects.filter(project=project).exists()
    assert fake_llm.calls_by_task == Counter()


def test_the_projects_request_budget_is_drawn_from_the_shared_redis_bucket(llm_project, catalogue, drive, fake_llm):
    project = llm_project("text", requests_per_minute=60)  # 1 request/s, 10 in a burst
    bucket = redis.Redis.from_url(django_settings.QRELAY_REDIS_URL)
    key = f"qrelay:rl:project{project.id}:req"
    bucket.delete(key)  # ids restart with each test database
    run = catalogue(project).run("A", grid("q1", "p1 p2 p3 p4 p5"))
    started = time.time()

    drive(judge_job_create(project=project, run=run))

    level, ts = (float(v) for v in bucket.hmget(key, "level", "ts"))
    bucket.delete(key)
    assert len(fake_llm.requests) == 6
    # Six requests were taken from the 10; at most (ts - started) × 1/s came back since.
    assert level <= 10 - 6 + (ts - started) * 1.0 + 1e-6


# --- cost and confidence --------------------------------------------------------------


def test_job_cost_is_the_sum_of_its_rows_and_tokens_are_the_servers(llm_project, catalogue, drive, fake_llm):
    Price.objects.create(model="fake-judge", input_per_million=Decimal("0.15"), output_per_million=Decimal("0.60"))
    Price.objects.create(model="fake-guide", input_per_million=Decimal("2.50"), output_per_million=Decimal("10.00"))
    project = llm_project("text")
    run = catalogue(project).run("A", grid("q1 q2", "p1 p2 p3"))

    job = drive(judge_job_create(project=project, run=run)).job

    rows = list(Judgment.objects.filter(job=job)) + list(Guideline.objects.filter(job=job))
    assert job.calls == len(fake_llm.requests) == 8
    assert job.tokens_in == sum(count_prompt_tokens(r["body"]["messages"]) for r in fake_llm.requests)
    prices = {"fake-judge": (Decimal("0.15"), Decimal("0.60")), "fake-guide": (Decimal("2.50"), Decimal("10.00"))}
    for row in rows:
        (response,) = row.raw_response
        content = response["choices"][0]["message"]["content"]
        assert row.tokens_out == count_completion_tokens(content) == response["usage"]["completion_tokens"]
        price_in, price_out = prices[row.model]
        expected = (price_in * row.tokens_in + price_out * row.tokens_out) / Decimal(1_000_000)
        assert abs(row.cost_eur - expected) <= Decimal("0.0000005")  # stored with 6 decimals
    assert job.tokens_out == sum(row.tokens_out for row in rows)
    assert job.cost_eur == sum(row.cost_eur for row in rows) > 0


def test_self_consistency_confidence_is_the_majority_share_of_k_samples(llm_project, catalogue, drive, fake_llm):
    fake_llm.sample_noise = 0.5
    project = llm_project("text", samples=3)
    run = catalogue(project).run("A", grid("q1 q2 q6", "p1 p2 p6"))

    drive(judge_job_create(project=project, run=run))

    assert all(body["n"] == 3 and body["temperature"] == 0.7 for body in bodies(fake_llm, "judgment"))
    by_name = {name: value for value, name in enumerate(LEVEL_NAMES)}
    confidences = set()
    for judgment in Judgment.objects.select_related("label"):
        (response,) = judgment.raw_response
        votes = Counter(by_name[json.loads(c["message"]["content"])["label"]] for c in response["choices"])
        top = max(votes.values())
        assert judgment.value == min(v for v, n in votes.items() if n == top)  # ties go to the lower label
        assert judgment.confidence == pytest.approx(top / 3)
        assert judgment.label.confidence == judgment.confidence
        assert sorted(judgment.samples) == sorted(votes.elements())
        confidences.add(round(judgment.confidence, 3))
    assert confidences - {1.0}, "the noise made some samples disagree"


def test_logprobs_give_the_label_tokens_probability_as_confidence(llm_project, catalogue, drive, fake_llm):
    fake_llm.label_prob = 0.8
    project = llm_project("text", use_logprobs=True)
    run = catalogue(project).run("A", grid("q1", "p1 p2 p3"))

    drive(judge_job_create(project=project, run=run))

    # Every label of the (3-level) scale and two more, to renormalise the label's probability over them.
    assert all(b["logprobs"] is True and b["top_logprobs"] == 5 and "n" not in b for b in bodies(fake_llm, "judgment"))
    assert [j.confidence for j in Judgment.objects.all()] == pytest.approx([0.8] * 3)
    assert [label.confidence for label in llm_labels(project)] == pytest.approx([0.8] * 3)


# --- the configuration a job records ------------------------------------------------------


def test_a_job_keeps_the_models_and_mode_it_was_created_with_when_the_lead_changes_them(
    llm_project, catalogue, drive, fake_llm
):
    project = llm_project("caption", samples=1)
    run = catalogue(project).run("A", grid("q1 q2", "p1 p2"))
    job = judge_job_create(project=project, run=run)
    JudgeConfig.objects.filter(project=project).update(
        mode="text", guideline_model="new-guide", vision_model="new-vision", judge_model="new-judge", samples=3
    )

    result = drive(job)

    assert (result.job.status, result.job.done) == ("done", 4)
    judgments = Judgment.objects.filter(project=project)
    assert {(j.model, j.mode, j.backend) for j in judgments} == {("fake-judge", "caption", "openai")}
    assert set(llm_labels(project).values_list("rater", flat=True)) == {"fake-judge"}
    assert set(Guideline.objects.filter(project=project).values_list("model", flat=True)) == {"fake-guide"}
    assert set(ImageDescription.objects.values_list("model", flat=True)) == {"fake-vision"}
    assert {body["model"] for body in bodies(fake_llm, "judgment")} == {"fake-judge"}
    assert all(body.get("n", 1) == 1 for body in bodies(fake_llm, "judgment"))  # k = 1, as recorded
    # Caption mode, as recorded: the judge read the image descriptions, no image.
    assert not any(image_parts(body) for body in bodies(fake_llm, "judgment"))


def test_a_job_records_what_its_chunks_read_and_the_keys_variable_name_not_the_key(llm_project, no_broker, fake_llm):
    project = llm_project("vision", samples=3, requests_per_minute=600)

    job = judge_job_create(project=project, pair_ids=[])

    assert job.config == {
        "backend": "openai",
        "mode": "vision",
        "base_url": fake_llm.base_url,
        "api_key_env": KEY_ENV,
        "guideline_model": "fake-guide",
        "vision_model": "fake-vision",
        "judge_model": "fake-judge",
        "samples": 3,
        "use_logprobs": False,
        "preset": "hosted",
        "max_in_flight": 8,
        "timeout": 60,
        "max_tokens": 1024,
        "stop": [],
        "requests_per_minute": 600,
        "tokens_per_minute": 0,
        "llama_cpp": False,
        "endpoint_note": "",
    }
    assert "test-key" not in json.dumps(job.config)


def test_a_job_made_before_jobs_recorded_their_configuration_runs_with_the_projects(
    llm_project, catalogue, drive, fake_llm
):
    project = llm_project("text")
    job = judge_job_create(project=project, run=catalogue(project).run("A", grid("q1", "p1 p2")))
    JudgeJob.objects.filter(id=job.id).update(config={})
    JudgeConfig.objects.filter(project=project).update(judge_model="new-judge")

    result = drive(job)

    assert result.job.status == "done"
    assert set(Judgment.objects.filter(project=project).values_list("model", flat=True)) == {"new-judge"}


# --- exactly once, cancel, on_done ----------------------------------------------------


def test_running_a_done_chunk_again_changes_nothing(llm_project, catalogue, drive, fake_llm):
    project = llm_project("text")
    job = drive(judge_job_create(project=project, run=catalogue(project).run("A", grid("q1 q2", "p1 p2 p3")))).job
    before = (
        fake_llm.calls_by_task,
        llm_labels(project).count(),
        Judgment.objects.count(),
        list(JudgeChunk.objects.values()),
    )

    for chunk in JudgeChunk.objects.filter(job=job):
        assert judge_chunk_run(chunk_id=chunk.id) == jobs.ChunkOutcome()
    judge_job_launch(job_id=job.id)

    after = (
        fake_llm.calls_by_task,
        llm_labels(project).count(),
        Judgment.objects.count(),
        list(JudgeChunk.objects.values()),
    )
    assert after == before
    refreshed = JudgeJob.objects.get(id=job.id)
    assert (refreshed.done, refreshed.chunks_done, refreshed.status) == (6, 1, "done")


def test_a_redelivered_launch_re_enqueues_without_making_chunks_twice(llm_project, catalogue, no_broker, settings):
    settings.QRELAY_JUDGE_CHUNK_SIZE = 2
    project = llm_project("text")
    job = judge_job_create(project=project, run=catalogue(project).run("A", grid("q1", "p1 p2 p3")))
    assert no_broker["launch"] == [job.id]

    judge_job_launch(job_id=job.id)
    chunks = list(JudgeChunk.objects.filter(job=job).values_list("id", "phase", "index"))
    judge_job_launch(job_id=job.id)

    assert list(JudgeChunk.objects.filter(job=job).values_list("id", "phase", "index")) == chunks
    assert [phase for _, phase, _ in chunks] == ["judge", "judge", "prep"]
    assert no_broker["pending"] == [job.id]  # the second launch only re-enqueues what is not done


@pytest.mark.parametrize(("setting", "sizes"), [(None, [40, 8]), (30, [30, 18])])
def test_judge_chunks_hold_twenty_windows_unless_the_size_is_set(
    llm_project, catalogue, no_broker, settings, setting, sizes
):
    """By default a judge chunk is 20 × the job's calls in flight (2 here): its last
    window's run-down and its read weigh little. QRELAY_JUDGE_CHUNK_SIZE overrides it."""
    settings.QRELAY_JUDGE_CHUNK_SIZE = setting
    project = llm_project("text", max_in_flight=2)
    pairs = grid("q1 q2 q3 q4 q5 q6 q7 q8", "p1 p2 p3 p4 p5 p6")  # 48
    job = judge_job_create(project=project, run=catalogue(project).run("A", pairs))
    judge_job_launch(job_id=job.id)

    chunks = JudgeChunk.objects.filter(job=job, phase=JudgeChunk.Phase.JUDGE).order_by("index")
    assert [len(c.items["pairs"]) for c in chunks] == sizes


def test_two_jobs_over_the_same_pairs_pay_once_and_add_one_label_per_pair(
    llm_project, catalogue, drive, fake_llm, no_broker
):
    project = llm_project("text")
    run = catalogue(project).run("A", grid("q1 q2", "p1 p2"))
    first = judge_job_create(project=project, run=run)
    # Not a second job of the run (one active job per run), the same pairs listed.
    second = judge_job_create(project=project, pair_ids=jobs.run_pair_ids(run))
    judge_job_launch(job_id=second.id)  # its prep chunk is planned before any guideline exists

    drive(first)
    result = drive(second)

    assert fake_llm.calls_by_task == Counter({"guideline": 2, "judgment": 4})
    assert (result.job.status, result.job.done, result.job.cached) == ("done", 4, 4)
    assert labels_per_pair(project) == Counter(dict.fromkeys(Pair.objects.values_list("id", flat=True), 1))


def test_cancel_stops_the_chunks_not_yet_run(llm_project, catalogue, fake_llm, no_broker, settings):
    settings.QRELAY_JUDGE_CHUNK_SIZE = 2
    project = llm_project("text")
    job = judge_job_create(project=project, run=catalogue(project).run("A", grid("q1", "p1 p2 p3 p4 p5 p6")))
    judge_job_launch(job_id=job.id)
    prep, first, *rest = JudgeChunk.objects.filter(job=job).order_by("-phase", "index")
    judge_chunk_run(chunk_id=prep.id)
    judge_chunk_run(chunk_id=first.id)

    assert judge_job_cancel(job=job) is True
    for chunk in rest:
        judge_chunk_run(chunk_id=chunk.id)

    job.refresh_from_db()
    assert (job.status, job.done, job.chunks_done, job.chunks_total) == ("cancelled", 2, 1, 3)
    assert job.finished_at is not None
    assert fake_llm.calls_by_task == Counter({"guideline": 1, "judgment": 2})
    assert llm_labels(project).count() == 2
    assert JudgeChunk.objects.filter(job=job, done=False).count() == 2
    assert judge_job_cancel(job=job) is False


def test_the_on_done_task_is_sent_once_when_the_job_finishes(
    llm_project, catalogue, drive, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(finish, "current_app", SimpleNamespace(send_task=lambda name, args: sent.append((name, args))))
    project = llm_project("text")
    run = catalogue(project).run("A", grid("q1", "p1 p2"))
    job = judge_job_create(project=project, run=run, on_done="reviews.route_judged")

    with django_capture_on_commit_callbacks(execute=True):
        drive(job)
    with django_capture_on_commit_callbacks(execute=True):
        for chunk in JudgeChunk.objects.filter(job=job):
            judge_chunk_run(chunk_id=chunk.id)

    assert sent == [("reviews.route_judged", [job.id])]
    # A job with nothing left to judge finishes at launch and still hands over.
    empty = judge_job_create(project=project, run=run, on_done="reviews.route_judged")
    assert empty.total == 0
    with django_capture_on_commit_callbacks(execute=True):
        judge_job_launch(job_id=empty.id)
    empty.refresh_from_db()
    assert empty.status == "done"
    assert sent == [("reviews.route_judged", [job.id]), ("reviews.route_judged", [empty.id])]


def test_an_explicit_pair_list_is_judged_and_foreign_pairs_are_refused(llm_project, catalogue, drive, fake_llm):
    project, other = llm_project("text"), llm_project("text")
    catalogue(project).run("A", grid("q1 q2", "p1 p2"))
    catalogue(other).run("A", [("q1", "p1")])
    wanted = pair_ids(project, [("q2", "p1"), ("q2", "p2")])

    job = drive(judge_job_create(project=project, pair_ids=wanted)).job

    assert (job.status, job.total, job.done) == ("done", 2, 2)
    assert sorted(labels_per_pair(project)) == wanted
    with pytest.raises(jobs.JobError, match="do not belong"):
        judge_job_create(
            project=project, pair_ids=wanted + list(Pair.objects.filter(project=other).values_list("id", flat=True))
        )


# --- one active job per run -------------------------------------------------------------


def test_a_second_job_of_a_run_is_refused_while_the_first_is_active(llm_project, catalogue, no_broker):
    project = llm_project("text")
    run = catalogue(project).run("A", grid("q1 q2", "p1 p2"))
    first = judge_job_create(project=project, run=run)

    with pytest.raises(jobs.JobConflict, match=f"job {first.id} of run A is still active"):
        judge_job_create(project=project, run=run)
    # An explicit list of the run's pairs is the run's job too.
    with pytest.raises(jobs.JobConflict):
        judge_job_create(project=project, run=run, pair_ids=jobs.run_pair_ids(run), holes_only=False)
    # The refusal left the caller's transaction usable (a savepoint) and nothing was enqueued twice.
    assert list(JudgeJob.objects.values_list("id", flat=True)) == [first.id]
    assert no_broker["launch"] == [first.id]

    jobs.judge_job_launch(job_id=first.id)  # running: still active
    with pytest.raises(jobs.JobConflict):
        judge_job_create(project=project, run=run)
    assert judge_job_cancel(job=first)
    again = judge_job_create(project=project, run=run, holes_only=False)
    assert again.status == JudgeJob.Status.QUEUED and again.total == 4


def test_a_conflict_is_a_job_error_so_every_caller_answers_with_its_message(llm_project, catalogue, no_broker):
    project = llm_project("text")
    run = catalogue(project).run("A", grid("q1", "p1"))
    judge_job_create(project=project, run=run)
    with pytest.raises(jobs.JobError, match="still active"):
        judge_job_create(project=project, run=run)
    # Jobs without a run are not the run's: they are not limited.
    ids = jobs.run_pair_ids(run)
    assert judge_job_create(project=project, pair_ids=ids).id != judge_job_create(project=project, pair_ids=ids).id


@pytest.mark.django_db(transaction=True)
def test_two_requests_racing_over_one_run_make_one_job(llm_project, catalogue, no_broker):
    import threading

    from django.db import connection

    project = llm_project("text")
    run = catalogue(project).run("A", grid("q1 q2", "p1 p2"))
    barrier, made, refused, errors = threading.Barrier(4), [], [], []

    def request():
        try:
            barrier.wait()
            made.append(judge_job_create(project=project, run=run).id)
        except jobs.JobConflict as exc:
            refused.append(str(exc))
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=request) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(made) == 1 and len(refused) == 3
    assert list(JudgeJob.objects.filter(run=run).values_list("id", flat=True)) == made


def test_the_pages_and_the_api_answer_409_when_the_database_refuses_the_second_job(django_user_model, monkeypatch):
    """The views check for an active job first; the index decides when two requests
    both pass that check (simulated by a check that sees nothing)."""
    from django.test import Client
    from django.urls import reverse
    from rest_framework.test import APIClient

    from judging import selectors
    from tests.builders import PANEL, build_world, start_job

    world = build_world(django_user_model)
    project, run = world["project"], world["run"]
    first = start_job(project, run=run)
    monkeypatch.setattr(selectors, "run_has_active_job", lambda run: False)
    client = Client()
    client.force_login(world["lead"])
    page = client.post(reverse("judging:run_judge_start", args=[project.id, run.id]), **PANEL)
    assert page.status_code == 409 and f"job {first.id} of run bm25 is still active" in page.content.decode()

    api = APIClient()
    api.force_authenticate(world["lead"])
    answer = api.post(reverse("judging_api:job_list", args=[project.id]), {"run": run.id}, format="json")
    assert answer.status_code == 409 and "still active" in answer.json()["detail"]
    assert list(JudgeJob.objects.filter(run=run).values_list("id", flat=True)) == [first.id]


def test_the_migration_keeps_the_oldest_of_a_runs_active_jobs_and_cancels_the_others(django_user_model):
    import importlib

    from django.apps import apps
    from django.db import connection

    from tests.builders import build_world, start_job

    world = build_world(django_user_model)
    with connection.cursor() as cursor:  # as before 0003 (rolled back with the test)
        cursor.execute(f"DROP INDEX {create.ONE_ACTIVE_PER_RUN}")
    first, second = start_job(world["project"], run=world["run"]), start_job(world["project"], run=world["run"])

    importlib.import_module("judging.migrations.0003_judgejob_one_active_per_run").cancel_duplicate_active_jobs(
        apps, None
    )

    statuses = dict(JudgeJob.objects.values_list("id", "status"))
    assert (statuses[first.id], statuses[second.id], statuses[world["other_job"].id]) == (
        "queued",
        "cancelled",
        "queued",
    )
    assert JudgeJob.objects.get(id=second.id).error == f"cancelled: job {first.id} judges the same run"
