"""What a job does with the failures a real server produces: images a model cannot read,
image descriptions and guidelines that failed, answers that stayed invalid, prompts over
the context size, and an endpoint that starts refusing midway. Each failed pair keeps
its reason, reaches a human (llm-invalid) and is asked again by a later job; the job's
counts agree with the rows it wrote; its reasons reach the CLI and the pages.

Jobs run through their task bodies (the `drive` fixture) against the fake server."""

from collections import Counter

import pytest
from django.urls import reverse

from annotation.models import Pair
from judging.jobs import judge_job_create
from judging.models import Guideline, ImageDescription, JudgeJob, Judgment, PrepFailure
from reviews.models import ReviewTask
from reviews.services.route import route_job
from tests.fakes.openai_server import FakeOpenAIServer

from .conftest import SERVED, grid

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_backoff")]

UNREADABLE = (
    "the model cannot take this input: HTTP 500: image input is not supported - hint: if this is unexpected, "
    "you may need to provide the mmproj"
)


def rows_agree_with_counts(job: JudgeJob) -> None:
    """done/failed/cached on the job say what its rows say."""
    mine = Counter(Judgment.objects.filter(job=job).values_list("status", flat=True))
    assert job.done - job.cached == mine["ok"]
    assert job.failed >= mine["invalid"]
    assert sum(job.failures.values()) == job.failed


def sent_to_humans_as_invalid(job: JudgeJob) -> set[int]:
    """Route the job's pairs as reviews does when the job is done; the pairs it sent to
    people because their LLM output was invalid."""
    route_job(job_id=job.id)
    tasks = ReviewTask.objects.filter(pair_id__in=job.pair_ids).values_list("pair_id", "reasons")
    return {pair_id for pair_id, reasons in tasks if "llm-invalid" in reasons}


# --- images a model cannot read (item 5) --------------------------------------------------


def test_images_a_text_only_model_cannot_read_fail_their_pairs_at_once_and_go_to_a_human(llm_project, catalogue, drive):
    with FakeOpenAIServer(text_only=True, models=SERVED) as server:
        project = llm_project("vision", server=server)
        run = catalogue(project).run("A", grid("q1", "p1 p2 p3 p4"))

        result = drive(judge_job_create(project=project, run=run))

        calls = server.calls_by_task["judgment"]
    job = result.job
    assert (job.status, job.done, job.failed) == ("done", 0, 4)
    assert calls == 4, "one call per pair: no retry can make a text-only model read an image"
    assert result.retries == []
    assert job.failures == {UNREADABLE: 4}
    assert set(Judgment.objects.filter(job=job).values_list("status", "error")) == {("invalid", UNREADABLE)}
    rows_agree_with_counts(job)
    assert sent_to_humans_as_invalid(job) == set(job.pair_ids)


# --- caption mode: failed descriptions (item 6) ---------------------------------------------


def test_caption_pairs_whose_image_description_failed_are_not_judged_or_cached_and_go_to_a_human(
    llm_project, catalogue, drive
):
    with FakeOpenAIServer(text_only=True, models=SERVED) as server:
        project = llm_project("caption", server=server)
        run = catalogue(project).run("A", grid("q1 q2", "p1 p2"))

        job = drive(judge_job_create(project=project, run=run)).job

        assert server.calls_by_task == Counter({"guideline": 2, "description": 2}), "no judgment without its images"
        reason = f"image description failed: {UNREADABLE}"
        assert (job.status, job.done, job.failed, job.failures) == ("done", 0, 4, {reason: 4})
        assert set(Judgment.objects.filter(job=job).values_list("status", "error")) == {("invalid", reason)}
        assert not ImageDescription.objects.exists()
        assert PrepFailure.objects.filter(job=job, step="description").count() == 2
        rows_agree_with_counts(job)
        assert sent_to_humans_as_invalid(job) == set(job.pair_ids)

        # Nothing was cached as done: once the model reads images, a later job describes
        # the images and judges every pair.
        server.text_only = False
        server.reset()
        again = drive(judge_job_create(project=project, run=run)).job

        assert (again.status, again.total, again.done, again.failed) == ("done", 4, 4, 0)
        assert server.calls_by_task == Counter({"description": 2, "judgment": 4})
    assert ImageDescription.objects.count() == 2


# --- invalid guidelines (items 6, 7) -------------------------------------------------------


def test_an_invalid_guideline_is_never_sent_as_one_and_its_pairs_go_to_a_human(llm_project, catalogue, drive, fake_llm):
    project = llm_project("text", max_in_flight=1)  # one call at a time: q1's guideline takes the faults
    run = catalogue(project).run("A", grid("q1", "p1 p2") + grid("q2", "p1"))
    fake_llm.inject("truncated", count=3, match_task="guideline")  # every try truncated

    job = drive(judge_job_create(project=project, run=run)).job

    reason = "guideline invalid: answer truncated (finish_reason=length)"
    assert (job.status, job.done, job.failed, job.failures) == ("done", 1, 2, {reason: 2})
    assert fake_llm.calls_by_task == Counter({"guideline": 4, "judgment": 1})
    assert list(Guideline.objects.values_list("query__external_id", flat=True)) == ["q2"]
    failure = PrepFailure.objects.get(job=job)
    assert (failure.step, failure.query.external_id, failure.error, failure.calls) == ("guideline", "q1", reason, 3)
    assert job.calls == 3 + 1 + 1, "the invalid guideline's three calls were paid for and are counted"
    rows_agree_with_counts(job)
    assert sent_to_humans_as_invalid(job) == set(
        Pair.objects.filter(query__external_id="q1").values_list("id", flat=True)
    )

    fake_llm.reset()
    again = drive(judge_job_create(project=project, run=run)).job
    assert (again.total, again.done, again.failed) == (2, 2, 0)
    assert fake_llm.calls_by_task == Counter({"guideline": 1, "judgment": 2})


# --- invalid judgments are asked again (item 8) -------------------------------------------


def test_a_later_job_asks_again_for_pairs_whose_judgment_was_invalid_and_keeps_the_record(
    llm_project, catalogue, drive, fake_llm
):
    project = llm_project("text", max_in_flight=1)  # one call at a time: the first pair takes the faults
    run = catalogue(project).run("A", grid("q1", "p1 p2"))
    fake_llm.inject("wrong_label", count=3, match_task="judgment")
    first = drive(judge_job_create(project=project, run=run)).job
    (invalid,) = Judgment.objects.filter(job=first, status="invalid")
    assert invalid.error == "no valid label in the answer: label 'not-a-label' is not on the scale"
    assert first.failures == {invalid.error: 1}

    fake_llm.reset()
    second = drive(judge_job_create(project=project, run=run)).job  # holes: the invalid pair only

    assert (second.total, second.done, second.cached, second.failed) == (1, 1, 0, 0)
    assert fake_llm.calls_by_task == Counter({"judgment": 1})
    history = list(Judgment.objects.filter(pair=invalid.pair).order_by("id").values_list("status", "job_id"))
    assert history == [("invalid", first.id), ("ok", second.id)]
    # The valid judgment is the cache now: a job over every pair pays for nothing.
    fake_llm.reset()
    third = drive(judge_job_create(project=project, run=run, holes_only=False)).job
    assert (third.total, third.done, third.cached) == (2, 2, 2)
    assert fake_llm.calls_by_task == Counter()


# --- counts match rows (item 9) --------------------------------------------------------------


def test_prompts_over_the_context_size_fail_their_pairs_only_and_the_counts_match_the_rows(
    llm_project, catalogue, drive, fake_llm
):
    project = llm_project("text", max_in_flight=1)
    run = catalogue(project).run("A", grid("q1", "p1 p2 p3 p4 p5"))
    fake_llm.inject("context_size", count=2, match_task="judgment", after=3)

    result = drive(judge_job_create(project=project, run=run))

    job = result.job
    assert (job.status, job.done, job.failed, job.cached) == ("done", 3, 2, 0)
    assert result.retries == [] and fake_llm.calls_by_task["judgment"] == 5
    assert Counter(Judgment.objects.filter(job=job).values_list("status", flat=True)) == {"ok": 3, "invalid": 2}
    # One reason, however many tokens each prompt had; each row keeps its own numbers.
    assert job.failures == {
        "the model cannot take this input: HTTP 400: request (N tokens) exceeds the available context size "
        "(N tokens), try increasing it": 2
    }
    assert all(
        "tokens) exceeds the available context size" in error and "(N tokens)" not in error
        for error in Judgment.objects.filter(job=job, status="invalid").values_list("error", flat=True)
    )
    rows_agree_with_counts(job)


def test_an_endpoint_that_starts_refusing_midway_fails_the_job_with_counts_of_what_it_stored(
    llm_project, catalogue, drive, fake_llm
):
    project = llm_project("text", max_in_flight=1)
    run = catalogue(project).run("A", grid("q1", "p1 p2 p3 p4 p5"))
    fake_llm.inject("bad_request", count=1000, match_task="judgment", after=3)

    job = drive(judge_job_create(project=project, run=run)).job

    refused = "HTTP 400: Unsupported parameter (fake server)."
    assert job.status == "failed" and job.error == f"the LLM endpoint refused the request: {refused}"
    assert (job.done, job.failed, job.failures) == (3, 2, {refused: 2})
    assert Judgment.objects.filter(job=job, status="ok").count() == 3
    rows_agree_with_counts(job)


# --- reasons are shown (item 7) --------------------------------------------------------------


def test_the_run_panel_and_the_job_list_show_why_pairs_failed(client, django_user_model):
    from tests.builders import HTMX, build_world, finish_job, start_job

    world = build_world(django_user_model)
    project, run = world["project"], world["run"]
    job = finish_job(start_job(project, run=run))
    JudgeJob.objects.filter(id=job.id).update(
        done=0, failed=3, failures={"guideline invalid: <b>truncated</b>": 2, "image description failed: HTTP 500": 1}
    )
    client.force_login(world["lead"])

    panel = client.get(reverse("judging:run_judging_panel", args=[project.id, run.id]), **HTMX).content.decode()
    listing = client.get(reverse("judging:job_list", args=[project.id])).content.decode()

    for body in (panel, listing):
        assert "2 × guideline invalid: &lt;b&gt;truncated&lt;/b&gt;" in body
        assert "1 × image description failed: HTTP 500" in body
    assert "Why pairs failed" in panel


def test_pairs_without_a_label_from_a_failed_step_stay_holes_of_their_run(llm_project, catalogue, drive, fake_llm):
    project = llm_project("text")
    run = catalogue(project).run("A", grid("q1", "p1 p2"))
    fake_llm.inject("truncated", count=3, match_task="guideline")
    drive(judge_job_create(project=project, run=run))

    # The run's holes are what a later job over them (holes_only, the default) takes.
    later = judge_job_create(project=project, run=run)
    pairs = set(Pair.objects.filter(project=project).values_list("id", flat=True))
    assert (later.total, set(later.pair_ids)) == (2, pairs)
