"""Review figures, run status, "evaluate run", agreement (the figures the agreement
services compute), and a judge job started, followed and cancelled through the API."""

import json

import pytest

from judging.models import JudgeJob
from reviews.agreement import (
    agreement_by_segment,
    annotator_agreement,
    project_agreement_summary,
)
from reviews.models import ReviewTask
from tests.builders import enqueue_spy, launch_job

pytestmark = pytest.mark.django_db


def url(world, tail: str) -> str:
    return f"/api/projects/{world['project'].id}/{tail}"


def task(world, pair, reason: str, *, kind: str = "label", status: str = "open") -> ReviewTask:
    return ReviewTask.objects.create(
        project=world["project"], pair=pair, kind=kind, reason=reason, reasons=[reason], policy_version=1, status=status
    )


def test_review_stats_count_the_queue_per_reason_and_show_leads_more(lead_api, annotator_api, world):
    pairs = world["pairs"]
    task(world, pairs[2], "low-confidence")
    task(world, pairs[1], "audit")
    task(world, pairs[0], "low-confidence", kind="adjudication")
    task(world, pairs[0], "style-sensitive", status="flagged")

    lead = lead_api.get(url(world, "review-stats/")).json()
    annotator = annotator_api.get(url(world, "review-stats/")).json()

    assert lead["label_queue"] == {
        "total": 2,
        "by_reason": [
            {"reason": "audit", "name": "Random audit", "count": 1},
            {"reason": "low-confidence", "name": "Low LLM confidence", "count": 1},
        ],
    }
    assert (lead["adjudication_queue"], lead["flagged"], lead["policy_version"]) == (1, 1, 1)
    assert annotator["label_queue"] == lead["label_queue"]
    assert (annotator["adjudication_queue"], annotator["flagged"]) == (None, None)
    assert annotator["labels_today"] == 1  # the human label of the red dress


def test_run_status_says_where_the_runs_pairs_stand(lead_api, world):
    task(world, world["pairs"][2], "low-confidence")

    data = lead_api.get(url(world, f"runs/{world['run'].id}/status/")).json()

    assert data == {
        "total": 3,
        "judged": 0,
        "unjudged": 3,
        "in_review": 1,
        "gold": {"human": 1, "llm-auto": 1},
        "active_job": None,
    }


def test_a_lead_evaluates_a_run_once_at_a_time(lead_api, world):
    evaluate = url(world, f"runs/{world['run'].id}/evaluate/")

    with enqueue_spy() as launch:
        first = lead_api.post(evaluate)
        second = lead_api.post(evaluate)

    assert first.status_code == 201
    job = JudgeJob.objects.get(id=first.json()["id"])
    assert (job.run, job.on_done, job.total, first.json()["status"]) == (world["run"], "reviews.route_job", 3, "queued")
    launch.assert_called_once_with(job.id)
    assert second.status_code == 409
    assert second.json() == {"detail": f"Judging job {job.id} of this run is still queued."}
    status = lead_api.get(url(world, f"runs/{world['run'].id}/status/")).json()
    assert status["active_job"] == job.id


def test_agreement_is_the_summary_the_service_computes(lead_api, world):
    response = lead_api.get(url(world, "agreement/?boot=50&seed=4&level=nominal"))

    assert response.status_code == 200
    data = response.json()
    expected = project_agreement_summary(world["project"], level="nominal", n_boot=50, seed=4)
    assert data["result"] == json.loads(json.dumps(expected))
    assert data["result"]["counts"]["pairs_human_and_llm"] == 1
    assert set(data) == {"result", "computed_at", "compute_seconds"}


def test_only_leads_may_force_a_recomputation_of_agreement(lead_api, annotator_api, world):
    assert annotator_api.get(url(world, "agreement/")).status_code == 200
    assert annotator_api.get(url(world, "agreement/?fresh=true")).status_code == 403
    assert annotator_api.get(url(world, "agreement/?boot=50")).status_code == 403  # other options recompute too
    assert lead_api.get(url(world, "agreement/?boot=50&fresh=true")).status_code == 200


def test_agreement_per_segment_and_per_annotator(lead_api, world):
    segments = lead_api.get(url(world, "agreement/segments/?by=tag&boot=0")).json()
    annotators = lead_api.get(url(world, "agreement/annotators/?boot=0")).json()

    expected = agreement_by_segment(world["project"], "tag", n_boot=0, limit=50)
    assert segments["result"] == json.loads(json.dumps(expected))
    # Only the red dress has labels to compare, and its query is the tagged one.
    assert [row["segment"] for row in segments["result"]] == ["style-sensitive"]
    per_annotator = json.loads(json.dumps(annotator_agreement(world["project"], n_boot=0)))
    assert annotators["result"]["annotators"] == per_annotator["annotators"]
    assert [a["rater"] for a in annotators["result"]["annotators"]] == ["ann"]
    assert annotators["result"]["human_pairs"] == []


@pytest.mark.parametrize(
    ("tail", "expected"),
    [
        ("agreement/?boot=2001", {"boot": ["Ensure this value is less than or equal to 2000."]}),
        ("agreement/?level=fuzzy", {"level": ['"fuzzy" is not a valid choice.']}),
        ("agreement/segments/", {"by": ["This field is required."]}),
        ("agreement/segments/?by=annotator", {"by": ['"annotator" is not a valid choice.']}),
    ],
)
def test_bad_agreement_parameters_are_400(lead_api, world, tail, expected):
    response = lead_api.get(url(world, tail))

    assert response.status_code == 400
    assert response.json() == expected


def test_a_judge_job_is_started_followed_and_cancelled_through_the_api(lead_api, world):
    with enqueue_spy() as launch:
        started = lead_api.post(url(world, "judge-jobs/"), {"run": "bm25", "mode": "text"}, format="json")
    job = launch_job(JudgeJob.objects.get(id=started.json()["id"]))
    JudgeJob.objects.filter(id=job.id).update(done=2)

    progress = lead_api.get(url(world, f"judge-jobs/{job.id}/")).json()
    listed = lead_api.get(url(world, "judge-jobs/")).json()
    cancelled = lead_api.post(url(world, f"judge-jobs/{job.id}/cancel/"))
    again = lead_api.post(url(world, f"judge-jobs/{job.id}/cancel/"))

    assert started.status_code == 201
    launch.assert_called_once_with(job.id)
    assert (progress["status"], progress["done"], progress["total"]) == ("running", 2, 3)
    assert isinstance(progress["eta_seconds"], int)
    assert [j["id"] for j in listed["results"]] == [job.id]
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert again.status_code == 409
