"""The judge against gold, RAIR's way: acc@2 / acc@4 / macro-F1 / α overall and per
intent, subset and rule, in `agreement --json` and on the dashboard."""

import io
import json

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from annotation.models import Pair
from annotation.services import project_create
from reviews.agreement.data import scale_of
from reviews.agreement.subsets import judge_figures, judge_vs_gold
from reviews.models import PairSubset

pytestmark = pytest.mark.django_db


def test_the_figures_split_the_scale_as_rair_does():
    project = project_create(name="rair", scale="rair")  # L1..L4, values 1..4
    scale = scale_of(project)
    # L2 vs gold L1: both irrelevant (acc@2 right, acc@4 wrong); L3 vs gold L4 both relevant.
    figures = judge_figures([2, 3, 4, 1], [1, 4, 4, 3], scale)
    assert figures["n"] == 4
    assert figures["acc@2"]["value"] == pytest.approx(3 / 4)
    assert figures["acc@4"]["value"] == pytest.approx(1 / 4)
    assert figures["alpha"]["value"] is not None
    assert 0 < figures["macro_f1"]["value"] < 1


@pytest.fixture
def graded(project, judge, lead):
    """Four pairs with human gold and a judgment; one with LLM-auto gold (left out)."""
    cases = [  # (judge, gold, tags, applied rules, provenance)
        (2, 2, ["negation"], ["colour"], "human"),
        (1, 0, ["negation", "needs:colour"], ["colour"], "human"),
        (0, 0, [], [], "adjudicated"),
        (2, 1, ["alternatives"], [], "imported"),
        (2, 0, [], ["colour"], "llm-auto"),
    ]
    pairs = []
    for value, gold, tags, rules, provenance in cases:
        judged = judge(value=value, tags=tags)
        judged.judgment.applied_rules = rules
        judged.judgment.save(update_fields=["applied_rules"])
        Pair.objects.filter(id=judged.pair.id).update(gold_value=gold, gold_provenance=provenance)
        pairs.append(judged.pair)
    PairSubset.objects.create(project=project, name="hard", threshold=0.5, pair_ids=[pairs[1].id, pairs[3].id])
    return pairs


def test_judge_vs_gold_reports_overall_intent_subset_and_rule(project, graded):
    result = judge_vs_gold(project)

    assert result["relevant_from"] == "acceptable substitute"
    assert result["overall"]["n"] == 4  # the llm-auto gold is not counted
    assert result["overall"]["acc@4"]["value"] == pytest.approx(2 / 4)
    assert result["overall"]["acc@2"]["value"] == pytest.approx(3 / 4)
    assert {k: f["n"] for k, f in result["by_intent"].items()} == {"negation": 2, "needs:colour": 1, "alternatives": 1}
    assert result["by_subset"]["hard"]["n"] == 2
    assert result["by_subset"]["hard"]["acc@4"]["value"] == 0
    assert result["by_rule"]["colour"]["n"] == 2
    assert result["by_rule"]["colour"]["acc@4"]["value"] == pytest.approx(1 / 2)


def test_agreement_json_and_the_dashboard_carry_the_figures(project, policy, graded, lead):
    out = io.StringIO()
    call_command("agreement", "--project", project.name, "--json", "--boot", "50", stdout=out)
    figures = json.loads(out.getvalue())["judge_vs_gold"]
    assert figures["by_subset"]["hard"]["n"] == 2
    assert figures["overall"]["acc@2"]["ci"] is not None  # bootstrapped as asked

    client = Client()
    client.force_login(lead)
    html = client.get(reverse("reviews:dashboard", args=[project.id])).content.decode()
    assert "data-judge-vs-gold" in html and "subset: hard" in html and "rule: colour" in html
    assert "intent: negation" in html


def test_agreement_without_json_prints_the_figures_per_subset_as_a_table(project, policy, graded):
    out = io.StringIO()
    call_command("agreement", "--project", project.name, "--boot", "0", stdout=out)
    text = out.getvalue()

    assert "Judge vs human gold, RAIR's figures (acc@2: relevant from 2 · acceptable substitute" in text
    lines = {line.split("  ")[0]: line.split() for line in text.splitlines()}
    assert lines["segment"] == ["segment", "pairs", "acc@2", "acc@4", "macro-F1", "α"]
    # all pairs: 4 (LLM-auto gold left out), acc@2 3/4, acc@4 2/4
    assert lines["all pairs"][2:5] == ["4", "0.750", "0.500"]
    assert lines["subset: hard"][2:5] == ["2", "0.500", "0.000"]
    assert lines["rule: colour"][2:5] == ["2", "0.500", "0.500"]  # judge 1 vs gold 0 crosses the cut
    assert lines["intent: negation"][2] == "2"


def test_agreement_says_so_when_no_pair_has_a_judgment_and_human_gold(project, policy):
    out = io.StringIO()
    call_command("agreement", "--project", project.name, "--boot", "0", stdout=out)

    assert "no pair has both a valid judgment and human gold" in out.getvalue()
