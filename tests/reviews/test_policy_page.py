"""The policy page's editing aids: inline errors from the live preview, the audit rate in
the hours estimate, reverting to an earlier version, and the progress of a rerouting
that runs in a worker."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from annotation.models import GoldProvenance, Pair
from reviews.models import Reason, RerouteJob, ReviewTask, RoutingPolicy
from reviews.services import reroute
from reviews.services.reroute import policy_change, reroute_run
from reviews.services.route import route_pairs
from reviews.tasks import reroute_job_task
from tests.builders import policy_form

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def lead_client(lead):
    client = Client()
    client.force_login(lead)
    return client


@pytest.fixture
def routed(project, policy, judge):
    """Six pairs auto-accepted at 0.8 and two waiting for reviewers at 0.5, under version 1."""
    judged = [judge(value=2, confidence=0.8) for _ in range(6)] + [judge(value=1, confidence=0.5) for _ in range(2)]
    route_pairs(project=project, pair_ids=[j.pair.id for j in judged])
    return [j.pair for j in judged]


def preview(client, project, **fields):
    return client.post(reverse("reviews:policy_preview", args=[project.id]), policy_form(**fields), **HTMX)


def error_slot(content: str, name: str) -> str:
    match = re.search(rf'<div id="err-{name}" class="rv-field-errors" hx-swap-oob="true">(.*?)</div>', content, re.S)
    assert match, f"no out-of-band error slot for {name}"
    return match.group(1)


def test_an_out_of_range_confidence_shows_its_error_inline_and_no_preview(project, lead_client, routed):
    response = preview(lead_client, project, min_confidence="1.7")

    content = response.content.decode()
    assert response.status_code == 200 and response.context_data["preview"] is None
    assert "less than or equal to 1" in error_slot(content, "min_confidence")
    assert error_slot(content, "audit_rate").strip() == ""
    assert "auto-accepted pairs to reviewers" not in content
    assert "Nothing to preview until these are fixed" in content


def test_a_corrected_value_clears_the_inline_error_and_previews_again(project, lead_client, routed):
    preview(lead_client, project, min_confidence="1.7")

    response = preview(lead_client, project, min_confidence="0.9")

    content = response.content.decode()
    assert error_slot(content, "min_confidence").strip() == ""
    assert response.context_data["preview"]["to_humans"] == 6


def test_the_page_form_lets_the_server_validate(project, lead_client, policy):
    content = lead_client.get(reverse("reviews:policy", args=[project.id])).content.decode()

    # The browser's own validation would keep htmx from asking (and the old preview up).
    assert re.search(r'<form method="post" action="[^"]+" class="rv-policy-form" novalidate', content)
    assert 'id="err-min_confidence"' in content


def test_the_audit_rate_counts_in_the_hours_estimate(project, lead_client, routed):
    without = preview(lead_client, project, audit_rate="0").context_data["preview"]["whatif"]
    with_audits = preview(lead_client, project, audit_rate="0.5").context_data["preview"]["whatif"]

    assert (without["audit_pairs"], without["labels"]) == (0, 2)
    # Half of the LLM's 6 gold labels audited: 3 more pairs for people.
    assert (with_audits["audit_pairs"], with_audits["labels"]) == (3, 5)
    assert with_audits["hours"] > without["hours"]


def test_audits_drawn_already_count_towards_the_rate(project, lead_client, routed):
    ReviewTask.objects.filter(pair=routed[6]).update(reason=Reason.AUDIT, reasons=[Reason.AUDIT])

    w = preview(lead_client, project, audit_rate="0.5", humans_per_pair="2").context_data["preview"]["whatif"]

    # (6 LLM gold + 1 audited) × 0.5 → 4 audits wanted (rounded), 1 drawn: 3 more; two humans each.
    assert (w["audited"], w["audit_pairs"], w["labels"]) == (1, 3, (2 + 3) * 2)


def test_revert_saves_the_old_thresholds_as_a_new_version_and_reroutes(project, lead, lead_client, routed):
    policy_change(project=project, user=lead, min_confidence=0.9, note="stricter")
    assert not Pair.objects.filter(project=project, gold_provenance=GoldProvenance.LLM_AUTO).exists()

    response = lead_client.post(reverse("reviews:policy_revert", args=[project.id, 1]), follow=True)

    assert response.status_code == 200
    v3 = RoutingPolicy.objects.get(project=project, version=3)
    assert (v3.min_confidence, v3.note, v3.created_by) == (0.7, "revert to version 1", lead)
    assert Pair.objects.filter(project=project, gold_provenance=GoldProvenance.LLM_AUTO).count() == 6
    assert (
        "Saved version 3: 0 pair(s) sent to humans, 6 pair(s) settled by the LLM instead." in response.content.decode()
    )
    assert reverse("reviews:policy_revert", args=[project.id, 2]) in response.content.decode()


def test_reverting_to_the_current_thresholds_saves_nothing(project, lead, lead_client, routed):
    policy_change(project=project, user=lead, min_confidence=0.9)
    policy_change(project=project, user=lead, min_confidence=0.7)

    response = lead_client.post(reverse("reviews:policy_revert", args=[project.id, 1]), follow=True)

    assert RoutingPolicy.objects.filter(project=project).count() == 3
    assert "nothing changed" in response.content.decode()


def test_revert_to_a_missing_version_is_a_404_and_annotators_may_not(project, lead_client, member, routed):
    assert lead_client.post(reverse("reviews:policy_revert", args=[project.id, 9])).status_code == 404
    ann = Client()
    ann.force_login(member("ann"))
    assert ann.post(reverse("reviews:policy_revert", args=[project.id, 1])).status_code == 403
    assert RoutingPolicy.objects.filter(project=project).count() == 1


def test_a_large_change_shows_its_progress_until_the_worker_is_done(
    project, lead_client, routed, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(reroute, "INLINE_PAIRS", 2)
    monkeypatch.setattr(reroute, "BATCH_PAIRS", 3)
    monkeypatch.setattr(reroute_job_task, "delay", lambda job_id: None)  # no worker yet

    with django_capture_on_commit_callbacks(execute=True):
        response = lead_client.post(
            reverse("reviews:policy", args=[project.id]), policy_form(min_confidence="0.9"), follow=True
        )

    job = RerouteJob.objects.get(project=project)
    progress_url = reverse("reviews:reroute_progress", args=[project.id, job.id])
    content = response.content.decode()
    assert "rerouting in the background" in content
    assert f'hx-get="{progress_url}"' in content and 'hx-trigger="every 1s"' in content

    reroute_run(job.id, max_batches=1)
    running = lead_client.get(progress_url, **HTMX).content.decode()
    assert 'value="38"' in running and 'hx-trigger="every 1s"' in running  # 3 of 8 pairs

    reroute_run(job.id)
    done = lead_client.get(progress_url, **HTMX).content.decode()
    assert "hx-trigger" not in done and "6 pairs sent to humans" in done


def test_the_progress_of_another_projects_job_is_a_404(project, lead_client, routed, member, make_pair):
    assert lead_client.get(reverse("reviews:reroute_progress", args=[project.id, 999])).status_code == 404


def test_a_stalled_rerouting_can_be_handed_to_a_worker_again(
    project, lead, lead_client, routed, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(reroute, "INLINE_PAIRS", 2)
    sent = []
    monkeypatch.setattr(reroute_job_task, "delay", lambda job_id: sent.append(job_id))
    change = policy_change(project=project, user=lead, min_confidence=0.9)  # not committed: nothing sent
    job = change.job
    progress_url = reverse("reviews:reroute_progress", args=[project.id, job.id])
    resume_url = reverse("reviews:reroute_resume", args=[project.id, job.id])
    assert resume_url not in lead_client.get(progress_url).content.decode()

    RerouteJob.objects.filter(id=job.id).update(updated_at=timezone.now() - timedelta(minutes=5))
    assert resume_url in lead_client.get(progress_url).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        assert lead_client.post(resume_url).status_code == 302

    assert sent == [job.id]
    reroute_job_task(job.id)
    assert lead_client.post(resume_url).status_code == 404  # done: nothing to resume


def test_the_what_if_figures_follow_a_new_judgment_and_a_human_label(project, lead_client, routed, judge):
    # The policy-independent figures are cached between keystrokes (dashboard/policy.py
    # whatif_basis): a write they count must show on the next preview, not a stale copy.
    first = preview(lead_client, project).context_data["preview"]["whatif"]
    assert preview(lead_client, project).context_data["preview"]["whatif"]["llm_cost"] == first["llm_cost"]

    judge(value=2, confidence=0.9)
    after_judgment = preview(lead_client, project).context_data["preview"]["whatif"]
    assert after_judgment["llm_cost"]["judgments"] == first["llm_cost"]["judgments"] + 1

    Pair.objects.filter(id=routed[0].id).update(gold_provenance=GoldProvenance.HUMAN)
    task = ReviewTask.objects.filter(project=project, status=ReviewTask.Status.OPEN).first()
    task.status = ReviewTask.Status.DONE
    task.save()
    RoutingPolicy.objects.create(project=project, version=2, min_confidence=0.7, note="a new version")
    after_version = preview(lead_client, project).context_data["preview"]["whatif"]
    assert after_version["open_pairs"] == first["open_pairs"] - 1
    # Gold settled by people (before the draft's moves) counts the new human gold.
    settled = after_version["gold_by_people"] - after_version["pairs_to_humans"]
    assert settled == after_judgment["gold_by_people"] - after_judgment["pairs_to_humans"] + 1
