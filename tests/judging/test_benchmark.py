"""Hard-case mining: the hard subset (k samples disagree under the lead's threshold),
exported as a benchmark directory and imported again into another project."""

import json

import pytest
from django.core.management import call_command

from annotation.models import Pair, ProductImage
from annotation.rulebook import RuleSpec, rule_save
from annotation.services import project_create
from judging.jobs import judge_job_create
from judging.models import Judgment
from reviews.benchmark import BenchmarkError, benchmark_export, benchmark_import, subset_build
from reviews.models import PairSubset

from .conftest import grid


def judgment_of(project, query: str, product: str) -> Judgment:
    return Judgment.objects.get(pair__query__external_id=query, pair__product__external_id=product, project=project)


@pytest.fixture
def judged(llm_project, catalogue, drive):
    project = llm_project("text", samples=3)
    rule_save(project, RuleSpec("colour", "A product in another colour is irrelevant.", category="dresses"))
    drive(judge_job_create(project=project, run=catalogue(project).run("A", grid("q1 q2", "p1 p2"))))
    hard = judgment_of(project, "q1", "p1")
    hard.samples, hard.applied_rules = [2, 1, 0], ["colour"]
    hard.save()
    Judgment.objects.filter(id=judgment_of(project, "q1", "p2").id).update(samples=[0, 0, 1])
    Pair.objects.filter(id=hard.pair_id).update(gold_value=1, gold_provenance="human")
    return project


def test_the_hard_subset_keeps_pairs_whose_majority_share_is_under_the_threshold(judged):
    assert [judgment_of(judged, "q2", p).samples for p in ("p1", "p2")] != [[], []]  # k = 3 everywhere
    subset = subset_build(judged, threshold=0.5)
    assert subset.pair_ids == [judgment_of(judged, "q1", "p1").pair_id]
    subset = subset_build(judged, threshold=0.7)  # rebuilt under the same name
    assert sorted(subset.pair_ids) == sorted(judgment_of(judged, "q1", p).pair_id for p in ("p1", "p2"))
    assert PairSubset.objects.filter(project=judged).count() == 1
    with pytest.raises(BenchmarkError):
        subset_build(judged, threshold=0)


def test_a_hard_subset_exported_and_imported_again_keeps_queries_products_images_rules_and_gold(judged, tmp_path):
    subset = subset_build(judged, name="hard", threshold=0.7)
    path = benchmark_export(subset, tmp_path / "bench")

    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["query_id"], r["product_id"]) for r in rows] == [("q1", "p1"), ("q1", "p2")]
    first = rows[0]
    assert (first["query"], first["title"], first["gold"], first["subset"]) == (
        "red dress", "Red Silk Evening Dress", "acceptable substitute", "hard",
    )  # fmt: skip
    assert first["samples"] == ["highly relevant", "acceptable substitute", "irrelevant"]
    assert first["majority_share"] == pytest.approx(1 / 3)
    assert first["rules"] == [
        {"id": "colour", "text": "A product in another colour is irrelevant.", "category": "dresses", "query_tag": ""}
    ]
    assert (tmp_path / "bench" / first["images"][0]).is_file()
    assert rows[1]["gold"] is None

    other = project_create(name="benchmark-copy")
    counts = benchmark_import(other, path)

    assert counts == {"pairs": 2, "gold": 1, "rules": 1, "subset": "hard"}
    copy = PairSubset.objects.get(project=other, name="hard")
    pairs = {(p.query.external_id, p.product.external_id): p for p in Pair.objects.filter(id__in=copy.pair_ids)}
    assert set(pairs) == {("q1", "p1"), ("q1", "p2")}
    assert (pairs["q1", "p1"].gold_value, pairs["q1", "p1"].gold_provenance) == (1, "imported")
    assert pairs["q1", "p2"].gold_value is None
    assert pairs["q1", "p1"].query.tags == sorted(first["tags"])
    image = ProductImage.objects.get(product=pairs["q1", "p1"].product)
    original = ProductImage.objects.get(product__project=judged, product__external_id="p1")
    assert (image.status, image.sha256) == ("stored", original.sha256)
    assert other.rules.get(rule_id="colour").category == "dresses"
    assert sorted(p.name for p in tmp_path.joinpath("bench").iterdir()) == ["benchmark.jsonl", "images"]

    # Exported again from the copy, the file is the same but for the judge's samples.
    again = benchmark_export(copy, tmp_path / "again")
    strip = ("samples", "majority_share", "rules")
    assert [
        {k: v for k, v in r.items() if k not in strip} for r in map(json.loads, again.read_text().splitlines())
    ] == [{k: v for k, v in r.items() if k not in strip} for r in rows]


def test_the_commands_build_export_and_import(judged, tmp_path):
    call_command("hard_subset", judged.name, "--threshold", "0.5", "--out", str(tmp_path / "b"))
    other = project_create(name="from-command")
    call_command("import_benchmark", other.name, str(tmp_path / "b" / "benchmark.jsonl"), "--subset", "rair-hard")
    assert len(PairSubset.objects.get(project=other, name="rair-hard").pair_ids) == 1


def test_a_lead_builds_the_hard_subset_from_the_rules_page(judged, client, django_user_model):
    from django.urls import reverse

    from annotation.models import Membership

    lead = django_user_model.objects.create_user(username="lead")
    annotator = django_user_model.objects.create_user(username="ann")
    Membership.objects.create(project=judged, user=lead, role="lead")
    Membership.objects.create(project=judged, user=annotator, role="annotator")
    url = reverse("reviews:hard_subset", args=[judged.id])

    client.force_login(lead)
    assert b"Build the hard subset" in client.get(reverse("rules", args=[judged.id])).content
    answer = client.post(url, {"threshold": "0.7"}, HTTP_HX_REQUEST="true")
    assert answer.status_code == 200 and b"2 pairs" in answer.content
    assert len(PairSubset.objects.get(project=judged, name="hard").pair_ids) == 2
    assert client.post(url, {"threshold": "zero"}).status_code == 400

    client.force_login(annotator)
    assert client.post(url, {"threshold": "0.5"}).status_code == 403


def test_a_lead_downloads_the_hard_subset_as_a_zip_that_imports_again(judged, client, django_user_model, tmp_path):
    import io
    import zipfile

    from django.urls import reverse

    from annotation.models import Membership

    lead = django_user_model.objects.create_user(username="lead")
    annotator = django_user_model.objects.create_user(username="ann")
    Membership.objects.create(project=judged, user=lead, role="lead")
    Membership.objects.create(project=judged, user=annotator, role="annotator")
    download = reverse("reviews:hard_subset_download", args=[judged.id])
    client.force_login(lead)
    assert client.get(download).status_code == 404  # nothing built yet
    subset_build(judged, name="hard", threshold=0.7)

    shown = client.get(reverse("reviews:hard_subset", args=[judged.id]), HTTP_HX_REQUEST="true").content.decode()
    response = client.get(download)

    assert f'href="{download}"' in shown  # the rules page's panel links to it
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert 'filename="' in response["Content-Disposition"] and ".zip" in response["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    names = archive.namelist()
    assert "benchmark.jsonl" in names
    rows = [json.loads(line) for line in archive.read("benchmark.jsonl").decode().splitlines()]
    assert [(r["query_id"], r["product_id"], r["gold"]) for r in rows] == [
        ("q1", "p1", "acceptable substitute"),
        ("q1", "p2", None),
    ]
    assert all(image in names for row in rows for image in row["images"] if not image.startswith("http"))

    archive.extractall(tmp_path / "unzipped")
    other = project_create(name="from-zip")
    assert benchmark_import(other, tmp_path / "unzipped" / "benchmark.jsonl") == {
        "pairs": 2, "gold": 1, "rules": 1, "subset": "hard",
    }  # fmt: skip
    assert ProductImage.objects.filter(product__project=other, status="stored").exists()

    client.force_login(annotator)
    assert client.get(download).status_code == 403
