"""`python manage.py agreement`: tables for people, JSON for machines."""

import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command

from annotation.models import LabelSource, Project

pytestmark = pytest.mark.django_db

ROWS = [
    # query, product, rater, label, source
    ("q1", "p1", "anna", 2, "human"),
    ("q1", "p1", "ben", 2, "human"),
    ("q1", "p2", "anna", 0, "human"),
    ("q1", "p2", "ben", 1, "human"),
    ("q2", "p3", "anna", 1, "human"),
    ("q2", "p3", "ben", 1, "human"),
    ("q2", "p4", "anna", 0, "human"),
    ("q2", "p4", "ben", 0, "human"),
    ("q1", "p1", "gpt-x", 2, "llm"),
    ("q1", "p2", "gpt-x", 1, "llm"),
    ("q2", "p3", "gpt-x", 2, "llm"),
    ("q2", "p4", "gpt-x", 0, "llm"),
]


def run(*args) -> str:
    out = io.StringIO()
    call_command("agreement", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def project(tmp_path) -> Project:
    call_command("create_project", "cmd-agreement", stdout=io.StringIO())  # 0 / 1 / 2
    for source in (LabelSource.HUMAN, LabelSource.LLM):
        path = tmp_path / f"{source}.csv"
        with path.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["query_id", "product_id", "label", "rater", "query", "product_title"])
            for query, product, rater, label, row_source in ROWS:
                if row_source == source:
                    writer.writerow([query, product, label, rater, f"text {query}", f"title {product}"])
        call_command("import_labels", "--project", "cmd-agreement", "--source", source, str(path), stdout=io.StringIO())
    return Project.objects.get(name="cmd-agreement")


def test_it_prints_the_main_figures_as_a_table(project):
    out = run("--project", "cmd-agreement", "--boot", "50")
    assert "Agreement for project cmd-agreement — level ordinal" in out
    assert "α, all raters (LLM as one rater)" in out
    assert "LLM vs human gold: acc@2 (relevant or not)" in out
    assert "Confusion, LLM vs human labels (rows: human, columns: LLM)" in out
    assert "no pair has both an LLM label and human gold" in out  # no gold yet: said, not crashed


def test_json_gives_the_summary_for_machines(project):
    data = json.loads(run("--project", "cmd-agreement", "--json", "--boot", "0"))
    assert data["project"]["name"] == "cmd-agreement" and data["level"] == "ordinal"
    assert data["counts"]["human_raters"] == 2 and data["counts"]["pairs"] == 4
    assert data["counts"]["pairs_human_and_llm"] == 4
    assert data["human_vs_human"]["agreement"] == {"value": 0.75, "ci": None, "n": 4, "reason": None}
    assert data["llm_vs_human"]["agreement"]["value"] == pytest.approx(5 / 8)
    assert data["llm_vs_human"]["confusion"]["matrix"] == [[2, 1, 0], [0, 1, 2], [0, 0, 2]]


def test_the_level_can_be_chosen(project):
    nominal = json.loads(run("--project", "cmd-agreement", "--json", "--boot", "0", "--level", "nominal"))
    interval = json.loads(run("--project", "cmd-agreement", "--json", "--boot", "0", "--level", "interval"))
    assert nominal["level"] == "nominal" and interval["level"] == "interval"
    assert nominal["alpha"]["value"] != interval["alpha"]["value"]
    assert nominal["llm_vs_human"]["weighted_kappa"]["value"] is None


@pytest.mark.parametrize("by", ["tag", "category", "locale", "reason", "label", "model", "prompt", "mode"])
def test_by_segment_adds_a_row_per_segment(project, by):
    out = run("--project", "cmd-agreement", "--boot", "20", "--by", by)
    assert f"By {by} (n = items behind each figure)" in out
    data = json.loads(run("--project", "cmd-agreement", "--json", "--boot", "0", "--by", by))
    assert data["segments"]["by"] == by
    assert sum(row["n_pairs"] for row in data["segments"]["rows"]) >= data["summary"]["counts"]["pairs_compared"]


def test_by_annotator_shows_annotators_positions_and_rater_pairs(project):
    out = run("--project", "cmd-agreement", "--boot", "20", "--by", "annotator")
    assert "By annotator" in out and "anna" in out and "ben" in out
    assert "By position in the annotator's day" in out and "1–50" in out
    assert "Pairs of human raters" in out
    data = json.loads(run("--project", "cmd-agreement", "--json", "--boot", "0", "--by", "annotator"))
    assert [a["rater"] for a in data["annotators"]["annotators"]] == ["anna", "ben"]
    assert data["human_pairs"][0]["n"] == 4


def test_the_krippendorff_example_through_the_command(tmp_path):
    from tests.reviews.test_agreement import PUBLISHED, kripp_project

    kripp_project(tmp_path, name="kripp-cmd")
    for level, expected in PUBLISHED.items():
        data = json.loads(run("--project", "kripp-cmd", "--json", "--boot", "0", "--level", level))
        assert round(data["alpha"]["value"], 3) == expected


def test_names_from_files_cannot_write_terminal_escapes(project):
    from annotation.models import Label

    Label.objects.filter(rater="anna").update(rater="an\x1b[31mna")
    out = run("--project", "cmd-agreement", "--boot", "0", "--by", "annotator")
    assert "\x1b" not in out and "an?[31mna" in out


def test_unknown_project_and_bad_options_are_errors(project):
    with pytest.raises(CommandError, match="no project"):
        run("--project", "nope")
    with pytest.raises(CommandError):
        run("--project", "cmd-agreement", "--boot", "-1")
    with pytest.raises(CommandError):
        run("--project", "cmd-agreement", "--by", "price")
