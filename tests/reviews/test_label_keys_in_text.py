"""The commands' text for people and the judge-vs-humans pages name a level by its key and
name ("2 · mid"), as the review card does; --json keeps the stored values. On a scale of
10/20/30 a stored value can never pass for a key: keys are 1/2/3."""

import io
import json
import re

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from annotation.models import GoldProvenance, Label, LabelSource, Pair, Role
from annotation.services import project_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(db):
    # Overrides the conftest's 0/1/2 project: the fixtures built on it use this scale.
    return project_create(name="tens", labels="low:10:0,mid:20:1,high:30:2")


@pytest.fixture
def settled(project, judge, member):
    """Three pairs the LLM labelled 10, 20, 30 and hugo settled as 30, 20, 30 (human gold)."""
    human = member("hugo")
    for llm, gold in [(10, 30), (20, 20), (30, 30)]:
        pair = judge(value=llm, confidence=0.9).pair
        Label.objects.create(
            project_id=pair.project_id, pair=pair, source=LabelSource.HUMAN, rater="hugo", user=human, value=gold
        )
        Pair.objects.filter(id=pair.id).update(gold_value=gold, gold_provenance=GoldProvenance.HUMAN)


def run(name: str, *args) -> str:
    out = io.StringIO()
    call_command(name, "--project", "tens", "--boot", "0", *args, stdout=out)
    return out.getvalue()


def test_agreement_prints_the_scale_the_cut_and_the_confusion_by_key_and_name(settled):
    text = run("agreement")
    data = json.loads(run("agreement", "--json"))

    # The scale line maps what people see to the values the files and --json use.
    assert "Scale: 1 · low = 10, 2 · mid = 20, 3 · high = 30; relevant from 2 · mid;" in text
    assert "acc@2: relevant from 2 · mid;" in text
    confusion = text.split("Confusion, LLM vs human gold (rows: human gold, columns: LLM)\n")[1].splitlines()
    cells = [re.split(r"\s{2,}", line.strip()) for line in confusion[:5]]
    assert cells[0] == ["1 · low", "2 · mid", "3 · high"]  # the columns (the LLM)
    assert cells[2:] == [["1 · low", "0", "0", "0"], ["2 · mid", "0", "1", "0"], ["3 · high", "1", "0", "1"]]
    # Machines keep stored values.
    assert data["relevant_from"] == 20
    assert data["llm_vs_gold"]["confusion"]["values"] == [10, 20, 30]


def test_calibrate_names_the_acc2_cut_by_key_and_name(settled):
    text = run("calibrate")

    assert "acc@2 counts 2 · mid and above as relevant." in text


def test_the_judge_vs_humans_page_and_the_dashboard_name_the_acc2_cut_by_key_and_name(settled, member, policy):
    client = Client()
    client.force_login(member("lea", Role.LEAD))
    project_id = Pair.objects.values_list("project_id", flat=True).first()

    calibration = client.get(reverse("reviews:calibration", args=[project_id])).content.decode()
    dashboard = client.get(reverse("reviews:dashboard", args=[project_id])).content.decode()

    assert "acc@2 counts <kbd>2</kbd> mid and above as relevant." in calibration
    assert "acc@2: relevant (from <kbd>2</kbd> mid up)" in dashboard
