"""The judge-vs-humans report: its figures equal scikit-learn's and krippendorff's on the
same labels, its routing curve matches an independent recount, configurations are kept
apart, and the command prints and exports it."""

import io
import json
import random
from pathlib import Path

import krippendorff
import numpy as np
import pytest
from django.conf import settings
from django.core.management import call_command
from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score

from annotation.models import GoldProvenance, Label, LabelSource, Pair
from reviews.calibration import calibration_report
from reviews.calibration.figures import Compared, routing_curve, threshold_for_errors_caught


def human(pair, value, rater="ann"):
    Label.objects.create(project_id=pair.project_id, pair=pair, source=LabelSource.HUMAN, rater=rater, value=value)


@pytest.fixture
def labelled(judge, make_pair):
    """60 pairs with a human label and a judgment: a judge that is right 70% of the time,
    more confident when right, on queries in two locales."""
    rng = random.Random(7)
    rows = []
    for i in range(60):
        truth = rng.choice([0, 1, 2, 2])
        right = rng.random() < 0.7
        value = truth if right else rng.choice([v for v in (0, 1, 2) if v != truth])
        confidence = round(rng.uniform(0.6, 1.0) if right else rng.uniform(0.3, 0.8), 2)
        pair = make_pair(f"query {i}", tags=["brand"] if i % 3 == 0 else [])
        pair.query.locale = "de-DE" if i % 2 else "en-GB"
        pair.query.save(update_fields=["locale"])
        human(pair, truth)
        judge(value=value, confidence=confidence, pair=pair)
        rows.append((truth, value, confidence))
    return rows


def test_the_report_equals_sklearn_and_krippendorff_on_the_same_labels(project, labelled):
    report = calibration_report(project, min_confidence=0.7, n_boot=200)

    (entry,) = report["configurations"]
    truth = [t for t, _, _ in labelled]
    judged = [v for _, v, _ in labelled]
    figures = entry["figures"]
    assert entry["n_compared"] == 60 and entry["n_invalid"] == 0
    assert figures["accuracy"]["value"] == pytest.approx(accuracy_score(truth, judged), abs=1e-6)
    assert figures["macro_f1"]["value"] == pytest.approx(f1_score(truth, judged, average="macro"), abs=1e-6)
    assert figures["kappa"]["value"] == pytest.approx(cohen_kappa_score(truth, judged), abs=1e-6)
    assert figures["weighted_kappa"]["value"] == pytest.approx(
        cohen_kappa_score(truth, judged, weights="linear"), abs=1e-6
    )
    relevant = [int(t >= 1) for t in truth], [int(v >= 1) for v in judged]  # gains 0/1/2: relevant from 1
    assert figures["binary_accuracy"]["value"] == pytest.approx(accuracy_score(*relevant), abs=1e-6)
    expected_alpha = krippendorff.alpha(
        reliability_data=np.array([truth, judged], dtype=float), level_of_measurement="ordinal"
    )
    assert figures["alpha"]["value"] == pytest.approx(expected_alpha, abs=1e-6)
    assert all(figures[name]["ci"][0] <= figures[name]["value"] <= figures[name]["ci"][1] for name in figures)
    assert entry["confusion"] == [
        [sum(1 for t, v, _ in labelled if (t, v) == (row, column)) for column in range(3)] for row in range(3)
    ]
    locales = {row["segment"]: row["n"] for row in entry["segments"]["locale"]}
    assert locales == {"de-DE": 30, "en-GB": 30}
    assert [row["segment"] for row in entry["segments"]["tag"]] == ["brand"]


def test_the_routing_curve_matches_an_independent_recount(project, labelled):
    report = calibration_report(project, min_confidence=0.7, n_boot=0)

    (entry,) = report["configurations"]
    errors = sum(1 for t, v, _ in labelled if t != v)
    for point in entry["curve"]:
        t = point["threshold"] if point["threshold"] is not None else float("inf")
        routed = [(tr, v) for tr, v, c in labelled if c < t]
        auto = [(tr, v) for tr, v, c in labelled if c >= t]
        assert point["to_humans"] == pytest.approx(len(routed) / 60)
        assert point["errors_caught"] == pytest.approx(sum(1 for tr, v in routed if tr != v) / errors)
        if auto:
            assert point["auto_accuracy"] == pytest.approx(sum(1 for tr, v in auto if tr == v) / len(auto))
    at_policy = entry["at_policy"]
    routed = [(tr, v) for tr, v, c in labelled if c < 0.7]
    assert at_policy["to_humans"] == pytest.approx(len(routed) / 60)
    # More confident when right: what is auto-accepted is more accurate than what is routed.
    assert at_policy["auto_accuracy"] > at_policy["routed_accuracy"]
    thresholds = [p["threshold"] for p in entry["curve"][:-1]]
    assert thresholds == sorted({0.0, *(c for _, _, c in labelled)})


def test_the_cheapest_threshold_that_catches_the_target_share_of_errors():
    compared = Compared(
        reference=np.array([0, 0, 0, 0, 1]),
        judged=np.array([1, 1, 0, 0, 1]),
        confidence=np.array([0.2, 0.6, 0.5, 0.9, 0.95]),
    )
    curve = routing_curve(compared)

    half = threshold_for_errors_caught(curve, 0.5)
    assert (half["threshold"], half["to_humans"], half["errors_caught"]) == (0.5, 0.2, 0.5)
    everything = threshold_for_errors_caught(curve, 1.0)
    assert (everything["threshold"], everything["to_humans"]) == (0.9, 0.6)


def test_human_gold_outranks_labels_and_ties_go_to_the_lower_label(project, judge, make_pair):
    settled, tied = make_pair("a"), make_pair("b")
    human(settled, 0, "x")
    Pair.objects.filter(id=settled.id).update(gold_value=2, gold_provenance=GoldProvenance.ADJUDICATED)
    human(tied, 2, "x")
    human(tied, 1, "y")
    judge(value=2, pair=settled)
    judge(value=1, pair=tied)

    (entry,) = calibration_report(project, min_confidence=0.7, n_boot=0, segments=False)["configurations"]

    assert entry["figures"]["accuracy"]["value"] == 1.0


def test_configurations_are_compared_separately_and_invalid_answers_counted(project, judge, make_pair):
    pairs = [make_pair(f"q{i}") for i in range(4)]
    for pair in pairs:
        human(pair, 2)
        judge(value=2, pair=pair)
    cheap = judge(value=0, pair=pairs[0]).judgment
    cheap.model = "cheap-model"
    cheap.save(update_fields=["model"])
    broken = judge(status="invalid", pair=pairs[1]).judgment
    broken.model = "cheap-model"
    broken.save(update_fields=["model"])

    report = calibration_report(project, min_confidence=0.7, n_boot=0, segments=False)

    by_model = {e["configuration"]["model"]: e for e in report["configurations"]}
    assert by_model["fake-judge"]["figures"]["accuracy"]["value"] == 1.0
    assert (by_model["cheap-model"]["n_compared"], by_model["cheap-model"]["n_invalid"]) == (1, 1)
    assert by_model["cheap-model"]["figures"]["accuracy"]["value"] == 0.0


def test_the_command_prints_the_table_and_json(project, labelled):
    text, data = io.StringIO(), io.StringIO()
    call_command("calibrate", project=project.name, boot=0, stdout=text)
    call_command("calibrate", project=project.name, boot=0, json=True, min_confidence=0.5, stdout=data)

    assert "fake-judge · text · prompt j1 · k=1" in text.getvalue()
    assert "at min confidence 0.70" in text.getvalue()
    report = json.loads(data.getvalue())
    assert report["min_confidence"] == 0.5 and report["configurations"][0]["n_compared"] == 60


ESCI_SAMPLE = Path(settings.BASE_DIR).parent / "shared" / "data" / "esci-calibration.csv"


@pytest.mark.skipif(not ESCI_SAMPLE.exists(), reason=f"the real ESCI sample is not at {ESCI_SAMPLE}")
def test_a_real_esci_file_is_imported_judged_without_a_run_and_calibrated(db, drive, no_broker):
    from annotation.services import project_create
    from judging.models import JudgeJob

    project = project_create(name="esci", scale="esci")
    out = io.StringIO()
    call_command("import_labels", str(ESCI_SAMPLE), project="esci", rater="esci", stdout=out)
    assert "200 row(s) read; labels added 200" in out.getvalue()

    call_command("judge", project="esci", pairs="labelled", no_wait=True, stdout=io.StringIO())
    (job,) = JudgeJob.objects.filter(project=project)
    assert job.run is None and job.total == 200
    assert drive(job).job.status == JudgeJob.Status.DONE

    data = io.StringIO()
    call_command("calibrate", project="esci", boot=50, json=True, stdout=data)
    (entry,) = json.loads(data.getvalue())["configurations"]
    assert entry["n_compared"] + entry["n_invalid"] == 200
    assert entry["figures"]["accuracy"]["n"] == entry["n_compared"]
    assert {row["segment"] for row in entry["segments"]["locale"]} <= {"us", "es", "jp"}


# --- the page and the policy page's curve ---------------------------------------------


def test_the_judge_vs_humans_page_is_for_leads(client, project, labelled, lead, member):
    client.force_login(lead)
    page = client.get(f"/projects/{project.id}/agreement/judge/")
    client.force_login(member("ann"))
    refused = client.get(f"/projects/{project.id}/agreement/judge/")

    assert page.status_code == 200 and refused.status_code == 403
    text = page.content.decode()
    assert "fake-judge · text · prompt j1 · k=1" in text and "Routing value" in text and "<svg" in text
    assert f"/projects/{project.id}/review/policy/?min_confidence=" in text  # every point picks a threshold


def test_the_policy_page_puts_the_threshold_that_catches_the_asked_share_of_errors_in_the_form(
    client, project, policy, labelled, lead
):
    client.force_login(lead)
    report = calibration_report(project, min_confidence=policy.min_confidence, n_boot=0, segments=False)
    target = threshold_for_errors_caught(report["configurations"][0]["curve"], 0.5)

    page = client.get(f"/projects/{project.id}/review/policy/?catch=0.5")
    picked = client.get(f"/projects/{project.id}/review/policy/?min_confidence=0.42")

    assert page.status_code == 200
    assert page.context["form"].initial["min_confidence"] == target["threshold"]
    assert f"catches {target['errors_caught']:.0%} of the judge" in page.content.decode()
    assert picked.context["form"].initial["min_confidence"] == 0.42
    assert policy.min_confidence == 0.7 and project.policies.count() == 1  # nothing saved


def test_the_evaluate_command_judges_the_holes_routes_and_prints_where_pairs_went(
    project, policy, judge, make_pair, drive, monkeypatch
):
    from annotation.models import LabelSource
    from judging.management.commands.judge import Command as JudgeCommand
    from judging.models import JudgeConfig, JudgeJob
    from reviews.models import ReviewTask

    JudgeConfig.objects.create(project=project, backend="offline")
    confident, doubtful = judge(value=2, confidence=0.95), judge(value=1, confidence=0.2)
    hole = make_pair("linen dress")  # not judged yet
    for pair in (confident.pair, doubtful.pair, hole):
        human(pair, 2)
    watched = JudgeCommand._watch

    def drive_then_watch(self, job_id):  # no broker in tests: run the job's tasks here
        drive(JudgeJob.objects.get(id=job_id))
        watched(self, job_id)

    monkeypatch.setattr(JudgeCommand, "_watch", drive_then_watch)
    out = io.StringIO()
    call_command("evaluate", project=project.name, pairs="labelled", stdout=out)

    text = out.getvalue()
    assert "3 pairs of fashion-reviews: 3 pair(s)" in text
    assert Pair.objects.get(id=confident.pair.id).gold_provenance == GoldProvenance.LLM_AUTO
    assert ReviewTask.objects.filter(pair=doubtful.pair, reason="low-confidence").exists()
    assert Label.objects.filter(pair=hole, source=LabelSource.LLM).exists()  # the hole was judged
    assert "Low LLM confidence" in text and "gold (llm-auto)" in text
