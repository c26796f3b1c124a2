"""Queries with reference images and conditions (MERIT) through a judge job: the fake
OpenAI-compatible server, at its HTTP boundary, sees the reference images in vision mode,
their cached descriptions in caption mode, and the conditions in every mode; a changed
reference image is judged again, an unchanged one is not."""

import base64
import json
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from annotation.importers import queries_import
from annotation.models import QueryImage
from judging import prompts
from judging.jobs import judge_job_create
from judging.models import ImageDescription, Judgment

from .conftest import grid, png

pytestmark = pytest.mark.django_db

CONDITIONS = [{"text": "a dress with the colour of"}, {"image": 0}, {"text": "and the cut of"}, {"image": 1}]


def _bodies(server, task: str) -> list[dict]:
    return [r["body"] for r in server.requests if r["task"] == task]


def _user_parts(body: dict) -> list[dict]:
    return next(m["content"] for m in body["messages"] if m["role"] == "user")


def _sent_images(body: dict) -> list[bytes]:
    urls = [p["image_url"]["url"] for p in _user_parts(body) if p["type"] == "image_url"]
    return [base64.b64decode(url.partition(",")[2]) for url in urls]


def _reference_bytes(project) -> list[bytes]:
    images = QueryImage.objects.filter(query__project=project).order_by("position")
    return [(Path(django_settings.MEDIA_ROOT) / image.stored_name).read_bytes() for image in images]


def _give_q1_reference_images(project, directory: Path, colours=((200, 20, 20), (20, 20, 200))) -> None:
    for name, colour in zip(("ref-a.png", "ref-b.png"), colours):
        (directory / name).write_bytes(png(colour, (16, 16)))
    row = {"query_id": "q1", "query": "red dress", "locale": "en-GB", "image": ["ref-a.png", "ref-b.png"],
           "conditions": CONDITIONS}  # fmt: skip
    (directory / "refs.jsonl").write_text(json.dumps(row) + "\n")
    queries_import(project=project, path=directory / "refs.jsonl")


def test_vision_mode_sends_the_reference_images_to_the_guideline_and_every_judgment(
    llm_project, catalogue, drive, fake_llm
):
    project = llm_project("vision")
    books = catalogue(project)
    run = books.run("A", grid("q1", "p1 p2"))
    _give_q1_reference_images(project, books.directory)

    drive(judge_job_create(project=project, run=run))

    references = _reference_bytes(project)
    assert len(references) == 2
    [guideline] = _bodies(fake_llm, "guideline")
    assert _sent_images(guideline) == references
    assert prompts.CONDITIONS_NOTE in [p.get("text") for p in _user_parts(guideline)]
    assert prompts.extract_input(guideline["messages"])["conditions"] == [
        {"text": "a dress with the colour of"}, {"image": 1}, {"text": "and the cut of"}, {"image": 2}
    ]  # fmt: skip
    judgments = _bodies(fake_llm, "judgment")
    assert len(judgments) == 2
    for body in judgments:
        # The product's own image first, then the query's reference images in order.
        assert _sent_images(body)[1:] == references
        assert len(prompts.extract_input(body["messages"])["conditions"]) == 4


def test_caption_mode_describes_reference_images_once_and_judges_on_their_descriptions(
    llm_project, catalogue, drive, fake_llm
):
    project = llm_project("caption")
    books = catalogue(project)
    run = books.run("A", grid("q1", "p1 p2"))
    _give_q1_reference_images(project, books.directory)

    drive(judge_job_create(project=project, run=run))

    # Two product images and two reference images, each described once.
    assert fake_llm.calls_by_task == Counter({"guideline": 1, "description": 4, "judgment": 2})
    described = {d.query_image.position: d.text for d in ImageDescription.objects.filter(query_image__isnull=False)}
    assert set(described) == {0, 1}
    for body in _bodies(fake_llm, "judgment"):
        assert _sent_images(body) == []
        conditions = prompts.extract_input(body["messages"])["conditions"]
        assert conditions[1] == {"image": 1, "description": described[0]}
        assert conditions[3] == {"image": 2, "description": described[1]}


def test_text_mode_sends_the_conditions_but_no_reference_image(llm_project, catalogue, drive, fake_llm):
    project = llm_project("text")
    books = catalogue(project)
    run = books.run("A", grid("q1", "p1"))
    _give_q1_reference_images(project, books.directory)

    drive(judge_job_create(project=project, run=run))

    for task in ("guideline", "judgment"):
        [body] = _bodies(fake_llm, task)
        assert _sent_images(body) == []
        assert prompts.extract_input(body["messages"])["conditions"][1] == {"image": 1}


def test_a_changed_reference_image_is_judged_again_and_an_unchanged_one_is_not(llm_project, catalogue, drive, fake_llm):
    project = llm_project("vision")
    books = catalogue(project)
    run = books.run("A", grid("q1 q2", "p1"))
    _give_q1_reference_images(project, books.directory)
    drive(judge_job_create(project=project, run=run))
    fake_llm.reset()

    _give_q1_reference_images(project, books.directory)  # the same images again
    again = drive(judge_job_create(project=project, run=run, holes_only=False)).job
    assert (fake_llm.calls_by_task, again.cached) == (Counter(), 2)

    _give_q1_reference_images(project, books.directory, colours=((20, 200, 20), (20, 20, 200)))
    drive(judge_job_create(project=project, run=run, holes_only=False))

    # Only q1's pair: a new guideline and a new judgment; q2's cached judgment is reused.
    assert fake_llm.calls_by_task == Counter({"guideline": 1, "judgment": 1})
    assert _sent_images(_bodies(fake_llm, "judgment")[0])[1:] == _reference_bytes(project)


def test_caption_mode_sends_a_pair_to_humans_when_its_reference_image_cannot_be_described(
    llm_project, catalogue, drive, fake_llm
):
    project = llm_project("caption")
    books = catalogue(project)
    run = books.run("A", grid("q1 q2", "p1"))
    drive(judge_job_create(project=project, run=run))  # product images described already
    _give_q1_reference_images(project, books.directory)
    fake_llm.reset()
    fake_llm.inject("refusal", count=100, match_task="description")

    job = drive(judge_job_create(project=project, run=run, holes_only=False)).job

    assert fake_llm.calls_by_task["judgment"] == 0  # q1's pair waits for humans; q2's is cached
    [invalid] = Judgment.objects.filter(job=job, status=Judgment.Status.INVALID)
    assert invalid.pair.query.external_id == "q1" and "image description failed" in invalid.error
    assert (job.failed, job.cached) == (1, 1)
