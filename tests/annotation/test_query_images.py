"""Queries with reference images and interleaved conditions (MERIT): imported from CSV
(`|`-separated) or JSONL (a list, optional `conditions`), validated and re-encoded like
product images, and served only to members of the query's project."""

import json
from pathlib import Path

import pytest
from django.urls import reverse
from PIL import Image

from annotation.importers import ImportFailed, ImportProblem, queries_import
from annotation.models import Membership, ProductImage, Query, QueryImage
from annotation.services import project_create

from .conftest import image_bytes

pytestmark = pytest.mark.django_db


def test_csv_queries_carry_pipe_separated_images_and_default_conditions(default_project, write, png_rgba, jpeg):
    write("img/pattern.png", png_rgba)
    write("img/cloth.jpg", jpeg)
    path = write("queries.csv", "query_id,query,locale,image\nq1,dress like this,en-GB,img/pattern.png|img/cloth.jpg\n")

    summary = queries_import(project=default_project, path=Path(path))

    query = Query.objects.get()
    assert summary.counts["images written"] == 2
    assert query.conditions == [{"text": "dress like this"}, {"image": 0}, {"image": 1}]
    assert len(query.reference_hash) == 64
    images = list(query.images.order_by("position"))
    assert [(i.position, i.source, i.status) for i in images] == [
        (0, "img/pattern.png", "stored"),
        (1, "img/cloth.jpg", "stored"),
    ]


def test_stored_reference_images_are_re_encoded_jpegs(default_project, write, png_rgba, settings):
    write("a.png", png_rgba)
    queries_import(project=default_project, path=Path(write("q.csv", "query_id,query,image\nq1,red,a.png\n")))

    image = QueryImage.objects.get()
    with Image.open(settings.MEDIA_ROOT / image.stored_name) as stored:
        assert stored.format == "JPEG" and stored.size == (8, 6)


def test_jsonl_queries_take_an_image_list_and_interleaved_conditions(default_project, write, jpeg):
    write("a.jpg", jpeg)
    conditions = [{"text": "the pattern of"}, {"image": 1}, {"text": "in the colour of"}, {"image": 0}]
    row = {"query_id": "q1", "query": "pattern and colour", "image": ["a.jpg", "https://cdn.example/b.png"],
           "conditions": conditions}  # fmt: skip
    queries_import(project=default_project, path=Path(write("q.jsonl", json.dumps(row) + "\n")))

    query = Query.objects.get()
    assert query.conditions == conditions
    assert list(query.images.values_list("position", "status", "stored_name")) == [
        (0, "stored", QueryImage.objects.get(position=0).stored_name),
        (1, "remote", ""),
    ]


def test_a_bad_reference_image_is_a_clear_import_problem_and_nothing_is_written(default_project, write):
    write("broken.png", b"not an image at all")
    path = write("q.csv", "query_id,query,image\nq1,red dress,broken.png\nq2,boots,missing.jpg\n")

    with pytest.raises(ImportFailed) as failure:
        queries_import(project=default_project, path=Path(path))

    problems = sorted(failure.value.problems, key=lambda p: p.line or 0)
    assert [(p.line, p.column) for p in problems] == [(2, "image"), (3, "image")]
    assert "broken.png: not an image in an accepted format" in problems[0].message
    assert problems[1].message == "image file not found: missing.jpg"
    assert not Query.objects.exists() and not QueryImage.objects.exists()


@pytest.mark.parametrize(
    ("conditions", "message"),
    [
        ('[{"image": 2}]', "image 2 is not one of the query's 1 image(s)"),
        ('[{"colour": "red"}]', 'each condition is {"text": ...} or {"image": n}'),
        ('{"text": "x"}', "must be a JSON list"),
    ],
)
def test_malformed_conditions_are_reported_on_their_line(default_project, write, jpeg, conditions, message):
    write("a.jpg", jpeg)
    row = json.dumps({"query_id": "q1", "query": "x", "image": ["a.jpg"], "conditions": json.loads(conditions)})

    with pytest.raises(ImportFailed) as failure:
        queries_import(project=default_project, path=Path(write("q.jsonl", row + "\n")))

    [problem] = failure.value.problems
    assert (problem.line, problem.column) == (1, "conditions") and message in problem.message


def test_reimport_is_unchanged_and_a_changed_reference_image_changes_the_hash(default_project, write, jpeg):
    write("a.jpg", jpeg)
    path = Path(write("q.csv", "query_id,query,image\nq1,red,a.jpg\nq2,plain,\n"))
    queries_import(project=default_project, path=path)
    before = Query.objects.get(external_id="q1").reference_hash
    assert Query.objects.get(external_id="q2").reference_hash == ""

    again = queries_import(project=default_project, path=path)
    assert (again.counts["unchanged"], "images written" in again.counts) == (2, False)

    write("a.jpg", image_bytes("JPEG", (10, 7), "RGB", (250, 250, 0)))
    changed = queries_import(project=default_project, path=path)

    query = Query.objects.get(external_id="q1")
    assert changed.counts["updated"] == 1 and changed.counts["images written"] == 1
    assert query.reference_hash != before
    assert query.images.count() == 1


def test_a_query_image_path_outside_the_files_folder_is_refused(default_project, write):
    path = write("data/q.csv", "query_id,query,image\nq1,red,../../etc/passwd\n")

    with pytest.raises(ImportFailed) as failure:
        queries_import(project=default_project, path=Path(path))

    assert failure.value.problems == [
        ImportProblem("q.csv", 2, "image", "image path '../../etc/passwd' points outside the file's folder")
    ]


def _stored_query_image(project, jpeg_bytes, write) -> QueryImage:
    write("ref.jpg", jpeg_bytes)
    queries_import(project=project, path=Path(write("q.csv", "query_id,query,image\nq1,red,ref.jpg\n")))
    return QueryImage.objects.get(query__project=project)


def test_reference_images_are_served_to_members_only(default_project, write, jpeg, client, django_user_model):
    image = _stored_query_image(default_project, jpeg, write)
    member = django_user_model.objects.create_user(username="member")
    outsider = django_user_model.objects.create_user(username="outsider")
    Membership.objects.create(project=default_project, user=member)
    project_create(name="other")
    url = reverse("query_image", args=[image.id])

    assert client.get(url).status_code == 302  # anonymous: to the login page
    client.force_login(outsider)
    assert client.get(url).status_code == 404
    client.force_login(member)
    response = client.get(url)
    assert response.status_code == 200
    assert (response["Content-Type"], response["X-Content-Type-Options"]) == ("image/jpeg", "nosniff")


def test_a_remote_reference_image_is_not_served_until_fetched(default_project, client, django_user_model):
    query = Query.objects.create(project=default_project, external_id="q1", text="red")
    image = QueryImage.objects.create(
        query=query, position=0, source="https://x/a.png", status=ProductImage.Status.REMOTE
    )
    member = django_user_model.objects.create_user(username="member")
    Membership.objects.create(project=default_project, user=member)
    client.force_login(member)

    assert client.get(reverse("query_image", args=[image.id])).status_code == 404


def test_the_readme_example_file_imports(default_project, settings):
    example = Path(settings.BASE_DIR) / "docs" / "examples" / "queries_with_images.jsonl"

    summary = queries_import(project=default_project, path=example)

    assert summary.counts == {"queries created": 3, "updated": 0, "unchanged": 0, "images written": 4}
    assert Query.objects.get(external_id="m3").conditions == [{"text": "navy scarf"}, {"image": 0}]
    assert QueryImage.objects.filter(status="stored").count() == 4
