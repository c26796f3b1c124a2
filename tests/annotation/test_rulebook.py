"""The rulebook as data: rules files, the RAIR preset on any scale, versions, the
create_project option, the API and the lead's page."""

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from annotation.models import Project, Rule
from annotation.rulebook import (
    RuleError,
    RuleSpec,
    category_matches,
    parse_rules,
    rair_levels,
    read_rules_file,
    rule_retire,
    rule_save,
)
from tests.builders import api_client, build_world


def test_a_rules_file_takes_strings_and_objects_and_names_what_is_wrong(tmp_path):
    specs = parse_rules(
        {"rules": ["Colour is a must.", {"id": "boots", "text": "Ankle ≠ knee-high", "category": "boots"}]}
    )
    assert specs == [RuleSpec("R1", "Colour is a must."), RuleSpec("boots", "Ankle ≠ knee-high", category="boots")]
    with pytest.raises(RuleError, match="rule 2: the text is empty"):
        parse_rules([{"id": "a", "text": "x"}, {"id": "b"}])
    with pytest.raises(RuleError, match="used twice: a"):
        parse_rules([{"id": "a", "text": "x"}, {"id": "a", "text": "y"}])
    with pytest.raises(RuleError, match="unknown field"):
        parse_rules([{"id": "a", "text": "x", "scope": "shoes"}])
    with pytest.raises(RuleError, match="must be 1-40 letters"):
        parse_rules([{"id": "a b", "text": "x"}])
    path = tmp_path / "rules.json"
    path.write_text(json.dumps([{"id": "neg", "text": "Negations hold.", "tag": "negation"}]))
    assert read_rules_file(path) == [RuleSpec("neg", "Negations hold.", query_tag="negation")]
    path.write_text("[not json")
    with pytest.raises(RuleError, match="not valid JSON"):
        read_rules_file(path)


def test_rair_levels_map_onto_any_scale_by_position():
    assert rair_levels(["L1", "L2", "L3", "L4"]) == {"L1": "L1", "L2": "L2", "L3": "L3", "L4": "L4"}
    three = rair_levels(["irrelevant", "acceptable substitute", "highly relevant"])
    assert three == {"L1": "irrelevant", "L2": "irrelevant", "L3": "acceptable substitute", "L4": "highly relevant"}
    assert rair_levels(["no", "yes"]) == {"L1": "no", "L2": "no", "L3": "yes", "L4": "yes"}
    assert rair_levels(list("abcde"))["L4"] == "e"


def test_category_scope_matches_a_segment_not_a_substring():
    assert category_matches("shoes", "Shoes")
    assert category_matches("boots", "Shoes > Boots")
    assert not category_matches("shoes", "Snowshoes")
    assert not category_matches("boots", "Clothing > Dresses")


def test_an_edit_is_a_new_version_and_an_unchanged_save_is_not(db):
    project = Project.objects.create(name="p")
    rule, outcome = rule_save(project, RuleSpec("R1", "Colour is a must."))
    assert (outcome, rule.version) == ("added", 1)
    assert rule_save(project, RuleSpec("R1", "Colour is a must."))[1] == "unchanged"
    rule, outcome = rule_save(project, RuleSpec("R1", "Colour is a must.", category="dresses"))
    assert (outcome, rule.version) == ("updated", 2)
    rule_retire(rule)
    rule, outcome = rule_save(project, RuleSpec("R1", "Colour is a must.", category="dresses"))
    assert (outcome, rule.version, rule.retired) == ("updated", 2, False)


def test_create_project_reads_a_yaml_rules_file_and_the_rair_preset(db, tmp_path, settings):
    call_command("create_project", "with-file", "--rules", str(settings.BASE_DIR / "docs/examples/rules.yaml"))
    rules = {r.rule_id: r for r in Project.objects.get(name="with-file").rules.all()}
    assert set(rules) == {"second-hand", "wrong-category", "boots-shaft", "negation"}
    assert (rules["boots-shaft"].category, rules["negation"].query_tag) == ("boots", "negation")

    call_command("create_project", "rair-default", "--rules", "rair")
    texts = dict(Project.objects.get(name="rair-default").rules.values_list("rule_id", "text"))
    assert '"irrelevant"' in texts["rair-second-hand"]
    assert '"irrelevant"' in texts["rair-missing-attribute"]  # L2 on a three-level scale
    call_command("create_project", "rair-esci", "--scale", "esci", "--rules", "rair")
    texts = dict(Project.objects.get(name="rair-esci").rules.values_list("rule_id", "text"))
    assert '"Complement"' in texts["rair-missing-attribute"]

    bad = tmp_path / "bad.yaml"
    bad.write_text("- id: x\n")
    with pytest.raises(CommandError, match="the text is empty"):
        call_command("create_project", "bad", "--rules", str(bad))
    assert not Project.objects.filter(name="bad").exists()


@pytest.fixture
def world(db, django_user_model):
    return build_world(django_user_model)


def test_the_api_lists_rules_to_members_and_lets_only_leads_change_them(world):
    project = world["project"]
    lead, annotator = api_client(world["lead"]), api_client(world["annotator"])
    base = f"/api/projects/{project.id}/rules/"

    answer = lead.post(base, {"id": "R1", "text": "Colour is a must.", "category": "dresses"}, format="json")
    assert answer.status_code == 201, answer.content
    assert answer.json()["version"] == 1
    assert annotator.post(base, {"id": "R2", "text": "x"}, format="json").status_code == 403
    assert annotator.patch(base + "R1/", {"text": "y"}, format="json").status_code == 403
    assert annotator.post(base + "R1/retire/").status_code == 403

    answer = lead.patch(base + "R1/", {"text": "Colour is a must, always."}, format="json")
    assert (answer.status_code, answer.json()["version"], answer.json()["category"]) == (200, 2, "dresses")
    assert lead.post(base, {"id": "R 1", "text": "x"}, format="json").status_code == 400
    answer = lead.patch(base + "R1/", {"category": "dresses"}, format="multipart")  # a form: unchanged
    assert (answer.status_code, answer.json()["version"]) == (200, 2)
    assert [r["id"] for r in annotator.get(base).json()] == ["R1"]
    assert annotator.get(f"/api/projects/{project.id}/").json()["rulebook"] == ["Colour is a must, always."]

    assert lead.post(base + "R1/retire/").json()["retired"] is True
    assert annotator.get(f"/api/projects/{project.id}/").json()["rulebook"] == []
    assert lead.post(base + "_preset/", {"preset": "rair"}, format="json").json()["added"] == 7
    assert api_client(world["lead"]).get(f"/api/projects/{world['other'].id}/rules/").status_code == 404


def test_the_rules_page_lets_a_lead_add_edit_and_retire_and_shows_annotators_the_rules(world, client):
    project = world["project"]
    client.force_login(world["lead"])
    save = reverse("rule_save", args=[project.id])
    answer = client.post(save, {"rule_id": "R1", "text": "Colour is a must."}, HTTP_HX_REQUEST="true")
    assert answer.status_code == 200
    assert b"Rule R1 added (version 1)" in answer.content and b"<html" not in answer.content
    client.post(save, {"rule_id": "R1", "text": "Colour is a must!", "category": "dresses"})
    rule = Rule.objects.get(project=project, rule_id="R1")
    assert (rule.version, rule.category) == (2, "dresses")
    assert client.post(save, {"rule_id": "", "text": "x"}).status_code == 400
    client.post(reverse("rule_retire", args=[project.id, rule.id]))
    assert Rule.objects.get(id=rule.id).retired
    client.post(reverse("rule_preset", args=[project.id]), {"preset": "rair"})
    assert project.rules.filter(rule_id__startswith="rair-").count() == 7

    client.force_login(world["annotator"])
    page = client.get(reverse("rules", args=[project.id]))
    assert page.status_code == 200 and b"Colour is a must!" in page.content and b"Add a rule" not in page.content
    assert client.post(save, {"rule_id": "R9", "text": "x"}).status_code == 403


def test_the_backfill_turns_each_old_rulebook_string_into_a_universal_rule(db):
    """Migration 0005 on a project whose old `rulebook` field held strings (the field is
    gone from today's schema, so the project rows come from a stand-in manager)."""
    import importlib

    from annotation.models import Rule

    backfill = importlib.import_module("annotation.migrations.0011_rule_book_backfill")
    project = Project.objects.create(name="old")
    project.rulebook = ["Colour is a must.", "  ", "'new' means this season"]

    class Projects:
        @staticmethod
        def exclude(**_):
            return type("Rows", (), {"iterator": staticmethod(lambda: iter([project]))})()

    class Apps:
        @staticmethod
        def get_model(app, name):
            return type("P", (), {"objects": Projects}) if name == "Project" else Rule

    backfill.forwards(Apps, None)
    backfill.forwards(Apps, None)  # again: nothing doubles

    assert list(Rule.objects.filter(project=project).values_list("rule_id", "text", "category", "version")) == [
        ("R1", "Colour is a must.", "", 1),
        ("R2", "'new' means this season", "", 1),
    ]
