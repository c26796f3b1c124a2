"""The judging pages: the run page's judging panel, starting and cancelling jobs, the job
list and the pair page.

Jobs are enqueued with Celery's delay_on_commit and tests never talk to the broker:
starting a job is checked by its row and the mocked enqueue; a finished job is made by
calling the job services directly (launch, then every chunk, prep before judge)."""

from unittest import mock

import pytest
from celery import current_app
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from annotation.label_keys import ShownLabel
from annotation.models import Label, Pair, Product, Query, SearchResult
from annotation.selectors import run_queries_page
from judging import hooks
from judging.jobs import job_usage
from judging.models import JudgeConfig, JudgeJob, Judgment
from judging.offline import OFFLINE_MODEL
from judging.selectors import usage_by_job
from judging.tasks import judge_job_launch_task
from tests.builders import HTMX, PANEL, build_world, enqueue_spy, finish_job, launch_job, start_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(django_user_model):
    return build_world(django_user_model)


@pytest.fixture
def lead_client(client, world):
    client.force_login(world["lead"])
    return client


@pytest.fixture
def annotator_client(client, world):
    client.force_login(world["annotator"])
    return client


def panel_url(world, project_key="project", run_key="run"):
    return reverse("judging:run_judging_panel", args=[world[project_key].id, world[run_key].id])


def start_url(world):
    return reverse("judging:run_judge_start", args=[world["project"].id, world["run"].id])


def cancel_url(job):
    return reverse("judging:job_cancel", args=[job.project_id, job.id])


# --- the judging panel ------------------------------------------------------------------


def test_it_answers_the_panel_fragment_to_htmx_and_a_whole_page_otherwise(lead_client, world):
    fragment = lead_client.get(panel_url(world), **HTMX)
    page = lead_client.get(panel_url(world))

    assert fragment.status_code == page.status_code == 200
    body = fragment.content.decode()
    assert "<html" not in body
    assert body.lstrip().startswith('<section id="judging-panel"')
    assert "<html" in page.content.decode()
    assert 'id="judging-panel"' in page.content.decode()
    assert "HX-Request" in fragment["Vary"]


def test_the_panel_leaves_starting_a_job_to_the_pair_states_card(lead_client, world):
    # One judge action per page (issue #14): the pair-states card's, which counts only
    # the pairs that truly lack a judgment.
    body = lead_client.get(panel_url(world), **HTMX).content.decode()

    assert "Judge holes" not in body
    assert f'hx-post="{start_url(world)}"' not in body
    assert "No judging job for this run yet." in body
    assert 'hx-trigger="every 1s"' not in body


def test_it_shows_the_backend_model_and_an_offline_baseline_badge(lead_client, world):
    body = lead_client.get(panel_url(world), **HTMX).content.decode()

    assert "offline baseline" in body
    assert OFFLINE_MODEL in body
    assert "Offline baseline (no network)" in body


def test_it_shows_no_offline_badge_for_an_llm_endpoint(lead_client, world):
    JudgeConfig.objects.filter(project=world["project"]).update(backend="openai", judge_model="gpt-4o-mini")

    body = lead_client.get(panel_url(world), **HTMX).content.decode()

    assert "gpt-4o-mini" in body
    assert "offline baseline" not in body


def test_it_polls_while_the_job_is_queued_or_running_and_stops_when_it_is_done(lead_client, world):
    job = start_job(world["project"], run=world["run"], user=world["lead"])
    queued = lead_client.get(panel_url(world), **HTMX).content.decode()
    launch_job(job)
    running = lead_client.get(panel_url(world), **HTMX).content.decode()
    finish_job(job)
    done = lead_client.get(panel_url(world), **HTMX).content.decode()

    poll = f'hx-get="{panel_url(world)}" hx-trigger="every 1s" hx-swap="outerHTML"'
    assert poll in queued and "Queued" in queued
    assert poll in running and "Running" in running
    assert f'hx-post="{cancel_url(job)}"' in running
    assert "Judge holes" not in running
    assert 'hx-trigger="every 1s"' not in done
    assert "Done" in done and "3 / 3" in done
    assert f'hx-post="{cancel_url(job)}"' not in done


def test_it_shows_progress_usage_and_eta_of_a_running_job(lead_client, world):
    job = launch_job(start_job(world["project"], run=world["run"]))
    # One pair processed: the ETA is the elapsed time per pair times the pairs left.
    JudgeJob.objects.filter(id=job.id).update(done=1, cached=1)

    response = lead_client.get(panel_url(world), **HTMX)

    body = response.content.decode()
    assert '<progress class="progress" max="3" value="1"' in body
    assert "1 / 3" in body
    assert "ETA" in body
    assert response.context_data["figures"].calls == 0
    assert response.context_data["figures"].eta is not None


def test_it_shows_the_stored_totals_of_a_finished_job(lead_client, world):
    job = finish_job(start_job(world["project"], run=world["run"]))
    JudgeJob.objects.filter(id=job.id).update(calls=7, tokens_in=1234, tokens_out=56, cost_eur="0.012300")

    body = lead_client.get(panel_url(world), **HTMX).content.decode()

    assert "1234 / 56" in body
    assert "€0.0123" in body
    assert "ETA" not in body


def test_it_shows_the_holes_to_an_annotator_without_buttons(annotator_client, world):
    body = annotator_client.get(panel_url(world), **HTMX).content.decode()

    assert "Judge holes" not in body
    assert "hx-post" not in body


# --- starting and cancelling ------------------------------------------------------------


def test_a_lead_starts_judging_the_holes_of_a_run(lead_client, world):
    with mock.patch.object(judge_job_launch_task, "delay_on_commit") as launch:
        response = lead_client.post(start_url(world), **PANEL)

    job = JudgeJob.objects.get(project=world["project"])
    assert response.status_code == 200
    assert response.content.decode().lstrip().startswith('<section id="judging-panel"')
    assert (job.run, job.status, job.total, job.created_by) == (world["run"], "queued", 3, world["lead"])
    assert job.description == "judge holes of run bm25 (text)"
    launch.assert_called_once_with(job.id)
    assert 'hx-trigger="every 1s"' in response.content.decode()


def test_it_enqueues_the_launch_only_after_commit(lead_client, world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        lead_client.post(start_url(world), **PANEL)

    assert JudgeJob.objects.filter(project=world["project"]).count() == 1
    assert len(callbacks) == 1


def test_it_judges_only_the_holes_left_by_an_earlier_job(lead_client, world):
    finish_job(start_job(world["project"], pair_ids=[world["pairs"][0].id]))

    with enqueue_spy():
        lead_client.post(start_url(world), **PANEL)

    job = JudgeJob.objects.filter(run=world["run"]).get()
    assert sorted(job.pair_ids) == sorted(p.id for p in world["pairs"][1:])


def test_it_redirects_to_the_run_page_without_htmx(lead_client, world):
    with enqueue_spy():
        response = lead_client.post(start_url(world))

    assert response.status_code == 302
    assert response["Location"] == reverse("run_detail", args=[world["project"].id, world["run"].id])
    assert JudgeJob.objects.filter(run=world["run"]).count() == 1


def test_it_refuses_a_second_job_while_one_is_active(lead_client, world):
    start_job(world["project"], run=world["run"])

    with enqueue_spy() as launch:
        response = lead_client.post(start_url(world), **PANEL)

    assert response.status_code == 409
    assert "still active" in response.content.decode()
    assert JudgeJob.objects.filter(run=world["run"]).count() == 1
    launch.assert_not_called()


def test_it_answers_400_with_the_message_when_the_job_cannot_be_made(lead_client, world):
    JudgeConfig.objects.filter(project=world["project"]).update(mode="<i>x</i>")

    with enqueue_spy():
        response = lead_client.post(start_url(world), **PANEL)

    body = response.content.decode()
    assert response.status_code == 400
    assert body.lstrip().startswith('<section id="judging-panel"')
    assert "unknown mode" in body
    assert "&lt;i&gt;x&lt;/i&gt;" in body and "<i>x</i>" not in body
    assert not JudgeJob.objects.filter(run=world["run"]).exists()


def fill_url(world) -> str:
    return reverse("judging:run_fill_holes", args=[world["project"].id, world["run"].id])


def test_reviews_registers_its_routing_task_as_the_after_run_judged_hook():
    current_app.loader.import_default_modules()

    assert hooks.after_run_judged() == "reviews.route_job"
    assert "reviews.route_job" in current_app.tasks


def test_a_job_filling_the_gold_holes_hands_over_to_the_registered_hook(lead_client, world, monkeypatch):
    monkeypatch.setattr(hooks, "after_run_judged", lambda: "an_app.take_over")

    with enqueue_spy():
        response = lead_client.post(fill_url(world), {"k": "3", "source": "gold"}, **PANEL)

    job = JudgeJob.objects.get(run=world["run"])
    assert response.status_code == 200
    assert (job.total, job.on_done) == (3, "an_app.take_over")


def test_a_job_filling_the_gold_holes_hands_over_to_nothing_when_no_hook_is_registered(lead_client, world, monkeypatch):
    monkeypatch.setattr(hooks, "after_run_judged", lambda: "")

    with enqueue_spy():
        response = lead_client.post(fill_url(world), {"k": "3", "source": "gold"}, **PANEL)

    assert response.status_code == 200
    assert JudgeJob.objects.get(run=world["run"]).on_done == ""


def test_a_lead_cancels_a_running_job_from_the_panel(lead_client, world):
    job = launch_job(start_job(world["project"], run=world["run"]))

    response = lead_client.post(cancel_url(job), **PANEL)

    job.refresh_from_db()
    body = response.content.decode()
    assert response.status_code == 200
    assert job.status == "cancelled" and job.finished_at is not None
    assert body.lstrip().startswith('<section id="judging-panel"')
    assert "Cancelled" in body
    assert 'hx-trigger="every 1s"' not in body


def test_it_answers_the_job_row_to_a_cancel_from_the_job_list(lead_client, world):
    job = start_job(world["project"], run=world["run"])

    response = lead_client.post(cancel_url(job), **HTMX)

    assert response.status_code == 200
    assert response.content.decode().lstrip().startswith(f'<tr id="job-{job.id}">')
    assert "Cancelled" in response.content.decode()


def test_it_answers_409_to_cancelling_a_finished_job(lead_client, world):
    job = finish_job(start_job(world["project"], run=world["run"]))

    response = lead_client.post(cancel_url(job), **PANEL)

    job.refresh_from_db()
    assert response.status_code == 409
    assert "already done" in response.content.decode()
    assert job.status == "done"


def test_it_redirects_a_plain_cancel_to_the_job_list(lead_client, world):
    job = start_job(world["project"], run=world["run"])

    response = lead_client.post(cancel_url(job))

    assert response.status_code == 302
    assert response["Location"] == reverse("judging:job_list", args=[world["project"].id])


def test_an_annotator_may_neither_start_nor_cancel(annotator_client, world):
    job = start_job(world["project"], run=world["run"])
    JudgeJob.objects.filter(id=job.id).update(status="done")
    other = start_job(world["project"], pair_ids=[world["pairs"][0].id])

    with enqueue_spy() as launch:
        started = annotator_client.post(start_url(world), **PANEL)
    cancelled = annotator_client.post(cancel_url(other), **PANEL)

    other.refresh_from_db()
    assert started.status_code == 403
    assert cancelled.status_code == 403
    launch.assert_not_called()
    assert JudgeJob.objects.filter(project=world["project"]).count() == 2
    assert other.status == "queued"


def test_a_superuser_outside_the_project_may_start(client, django_user_model, world):
    client.force_login(django_user_model.objects.create_superuser(username="root", password=None))

    with enqueue_spy():
        response = client.post(start_url(world), **PANEL)

    assert response.status_code == 200
    assert JudgeJob.objects.filter(run=world["run"]).exists()


def test_it_only_accepts_posts_to_start_and_cancel(lead_client, world):
    job = start_job(world["project"], run=world["run"])

    assert lead_client.get(start_url(world)).status_code == 405
    assert lead_client.get(cancel_url(job)).status_code == 405
    assert lead_client.post(panel_url(world)).status_code == 405


def test_it_refuses_a_post_without_the_csrf_token(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world["lead"])
    page = client.get(reverse("run_detail", args=[world["project"].id, world["run"].id]))
    job = start_job(world["project"], pair_ids=[world["pairs"][0].id])

    with enqueue_spy():
        refused = client.post(start_url(world), **PANEL)
        refused_cancel = client.post(cancel_url(job), **PANEL)
        token = client.cookies["csrftoken"].value
        accepted = client.post(cancel_url(job), HTTP_X_CSRFTOKEN=token, **PANEL)

    assert page.status_code == 200
    assert refused.status_code == 403
    assert refused_cancel.status_code == 403
    assert not JudgeJob.objects.filter(run=world["run"]).exists()
    assert accepted.status_code == 200


def test_it_sends_anonymous_users_to_the_login_page(client, world):
    job = world["other_job"]
    urls = [
        panel_url(world),
        reverse("judging:job_list", args=[world["project"].id]),
        reverse("judging:pair_detail", args=[world["project"].id, world["pairs"][0].id]),
    ]

    for url in urls:
        assert client.get(url)["Location"].startswith("/accounts/login/")
    assert client.post(start_url(world))["Location"].startswith("/accounts/login/")
    assert client.post(cancel_url(job))["Location"].startswith("/accounts/login/")


def foreign_requests(world):
    """Every judging URL pointed at objects the user must not see: a foreign project,
    and a foreign object under the user's own project id."""
    own, other = world["project"].id, world["other"].id
    run, job, pair = world["other_run"].id, world["other_job"].id, world["other_pair"].id
    return [
        ("get", reverse("judging:run_judging_panel", args=[other, run])),
        ("get", reverse("judging:run_judging_panel", args=[own, run])),
        ("post", reverse("judging:run_judge_start", args=[other, run])),
        ("post", reverse("judging:run_judge_start", args=[own, run])),
        ("post", reverse("judging:job_cancel", args=[other, job])),
        ("post", reverse("judging:job_cancel", args=[own, job])),
        ("get", reverse("judging:job_list", args=[other])),
        ("get", reverse("judging:pair_detail", args=[other, pair])),
        ("get", reverse("judging:pair_detail", args=[own, pair])),
    ]


def test_it_answers_404_for_everything_of_a_foreign_project(lead_client, world):
    with enqueue_spy():
        statuses = [getattr(lead_client, method)(url, **HTMX).status_code for method, url in foreign_requests(world)]

    assert statuses == [404] * len(statuses)
    world["other_job"].refresh_from_db()
    assert world["other_job"].status == "queued"
    assert JudgeJob.objects.filter(project=world["other"]).count() == 1


def test_it_answers_404_to_a_logged_in_non_member(client, django_user_model, world):
    client.force_login(django_user_model.objects.create_user(username="olaf"))
    own = world["project"].id
    urls = [
        ("get", panel_url(world)),
        ("post", start_url(world)),
        ("get", reverse("judging:job_list", args=[own])),
        ("get", reverse("judging:pair_detail", args=[own, world["pairs"][0].id])),
    ]

    with enqueue_spy():
        statuses = [getattr(client, method)(url).status_code for method, url in urls]

    assert statuses == [404] * len(urls)


# --- the job list -----------------------------------------------------------------------


def test_it_lists_the_project_jobs_with_progress_and_cost(lead_client, world):
    done = finish_job(start_job(world["project"], pair_ids=[world["pairs"][0].id]))
    JudgeJob.objects.filter(id=done.id).update(calls=3, tokens_in=900, tokens_out=40, cost_eur="0.004500")
    running = launch_job(start_job(world["project"], run=world["run"]))

    response = lead_client.get(reverse("judging:job_list", args=[world["project"].id]))

    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" in body
    assert [job.id for job, _ in response.context_data["jobs"]] == [running.id, done.id]
    assert "judge 1 pairs (text)" in body and "judge holes of run bm25 (text)" in body
    assert "900 / 40" in body and "€0.0045" in body
    assert "Running" in body and "Done" in body
    assert f'hx-post="{cancel_url(running)}"' in body
    assert f'hx-post="{cancel_url(done)}"' not in body
    assert "secret-run" not in body


def test_it_answers_the_job_table_to_htmx(lead_client, world):
    start_job(world["project"], run=world["run"])

    response = lead_client.get(reverse("judging:job_list", args=[world["project"].id]), **HTMX)

    body = response.content.decode()
    assert "<html" not in body
    assert body.lstrip().startswith('<div id="job-table"')


def test_it_hides_cancel_buttons_from_annotators(annotator_client, world):
    job = start_job(world["project"], run=world["run"])

    body = annotator_client.get(reverse("judging:job_list", args=[world["project"].id])).content.decode()

    assert "judge holes of run bm25" in body
    assert cancel_url(job) not in body


def test_it_sums_usage_of_many_unfinished_jobs_in_a_fixed_number_of_queries(
    lead_client, world, django_assert_max_num_queries
):
    for pair in world["pairs"]:
        job = finish_job(start_job(world["project"], pair_ids=[pair.id]))
        JudgeJob.objects.filter(id=job.id).update(status="cancelled")
    url = reverse("judging:job_list", args=[world["project"].id])

    with django_assert_max_num_queries(12):
        response = lead_client.get(url)

    assert len(response.context_data["jobs"].object_list) == 3
    # The offline judge makes one call per guideline and per judgment.
    assert sum(figures.calls for _, figures in response.context_data["jobs"]) >= 3


# --- the pair page ----------------------------------------------------------------------


def test_annotators_see_the_pair_but_not_its_labels(annotator_client, world):
    pair = world["pairs"][0]
    finish_job(start_job(world["project"], run=world["run"]))

    response = annotator_client.get(reverse("judging:pair_detail", args=[world["project"].id, pair.id]))
    run_page = annotator_client.get(reverse("run_detail", args=[world["project"].id, world["run"].id]))

    body = response.content.decode()
    assert response.status_code == 200 and "Scarlet Silk Evening Dress" in body
    assert response.context_data["labels"] == [] and "data-labels-hidden" in body
    assert "offline baseline" not in body  # no trace of the LLM's verdict for a blind reviewer
    assert run_page.context_data["show_llm"] is False and "badge-offline" not in run_page.content.decode()


def test_it_shows_the_pair_with_query_guideline_product_and_labels(lead_client, world):
    pair = world["pairs"][0]
    finish_job(start_job(world["project"], run=world["run"]))
    Pair.objects.filter(id=pair.id).update(gold_value=2, gold_provenance="human")

    response = lead_client.get(reverse("judging:pair_detail", args=[world["project"].id, pair.id]))

    body = response.content.decode()
    assert response.status_code == 200
    assert "red dress" in body and "en-GB" in body
    guideline = response.context_data["guideline"]
    assert guideline is not None and guideline.version == 1
    assert "product_type" in body and "dress" in body
    assert guideline.text.split(".")[0] in body
    assert "Scarlet Silk Evening Dress" in body and "Clothing &gt; Dresses" in body and "silk" in body
    assert reverse("product_image", args=[world["image"].id]) in body
    assert "A long red dress." in body
    assert "highly relevant" in body  # gold and the offline judge's verdict
    labels = response.context_data["labels"]
    assert [(label.source, label.rater) for label in labels] == [("llm", OFFLINE_MODEL)]
    assert "offline baseline" in body
    assert labels[0].details is not None and labels[0].details.status == "ok"


def test_it_escapes_a_rationale_written_by_a_model(lead_client, world):
    pair = world["pairs"][1]
    Label.objects.create(
        project=world["project"],
        pair=pair,
        source="llm",
        rater="gpt-4o",
        value=0,
        confidence=0.42,
        rationale="<script>x</script>",
    )

    response = lead_client.get(reverse("judging:pair_detail", args=[world["project"].id, pair.id]))

    body = response.content.decode()
    assert "<script>x</script>" not in body
    assert "&lt;script&gt;x&lt;/script&gt;" in body
    assert "42%" in body
    assert "offline baseline" not in body  # gpt-4o is a model, not the baseline


def test_it_shows_an_invalid_judgment_as_llm_output_invalid(lead_client, world):
    pair = world["pairs"][2]
    Judgment.objects.create(
        cache_key="k" * 64,
        model="gpt-4o",
        prompt_version="j1",
        project=world["project"],
        pair=pair,
        product=pair.product,
        backend="openai",
        mode="text",
        status="invalid",
        tokens_in=321,
        tokens_out=12,
        latency_ms=850,
        calls=3,
        error="no JSON in <answer>",
    )

    body = lead_client.get(reverse("judging:pair_detail", args=[world["project"].id, pair.id])).content.decode()

    assert "LLM output invalid" in body
    assert "321 / 12" in body and "850 ms" in body
    assert "no JSON in &lt;answer&gt;" in body
    assert "No labels yet." in body


def test_it_shows_a_pair_without_guideline_or_gold(lead_client, world):
    pair = world["pairs"][2]

    body = lead_client.get(reverse("judging:pair_detail", args=[world["project"].id, pair.id])).content.decode()

    assert "No guideline for this query yet" in body
    assert "No gold label yet." in body


# --- the run page ---------------------------------------------------------------------


def test_the_run_page_loads_the_judging_panel(lead_client, world):
    body = lead_client.get(reverse("run_detail", args=[world["project"].id, world["run"].id])).content.decode()

    assert f'hx-get="{panel_url(world)}" hx-trigger="load"' in body


def test_the_run_page_shows_the_latest_llm_label_of_each_pair(lead_client, world):
    finish_job(start_job(world["project"], run=world["run"]))
    first = world["pairs"][0]
    # A newer LLM label from a real model replaces the baseline's in the column.
    Label.objects.create(project=world["project"], pair=first, source="llm", rater="gpt-4o", value=1, confidence=0.5)
    Label.objects.create(project=world["project"], pair=first, source="human", rater="ann", value=0)

    response = lead_client.get(reverse("run_detail", args=[world["project"].id, world["run"].id]))

    body = response.content.decode()
    results = {r.pair_id: r for q in response.context_data["queries"] for r in q.top_results}
    assert (results[first.id].llm_label.rater, results[first.id].llm_shown) == (
        "gpt-4o",
        ShownLabel(2, "acceptable substitute"),
    )
    assert results[world["pairs"][2].id].llm_label.rater == OFFLINE_MODEL
    assert "<th>LLM</th>" in body
    assert "50%" in body
    assert body.count('class="badge badge-offline"') == 2
    assert reverse("judging:pair_detail", args=[world["project"].id, first.id]) in body


def test_the_run_page_reads_llm_labels_in_one_query(world, django_assert_num_queries):
    project, run = world["project"], world["run"]
    finish_job(start_job(project, run=run))
    red = Query.objects.get(project=project, external_id="q1")
    for i in range(5):
        product = Product.objects.create(project=project, external_id=f"extra{i}", title=f"Dress {i}", content_hash="x")
        pair = Pair.objects.create(project=project, query=red, product=product)
        SearchResult.objects.create(run=run, query=red, product=product, pair=pair, rank=3 + i)
        Label.objects.create(project=project, pair=pair, source="llm", rater="m", value=1)
        Label.objects.create(project=project, pair=pair, source="llm", rater="m", value=2)

    # count, page, levels, results, images, LLM labels: the same for 3 results or 8.
    with django_assert_num_queries(6):
        page = run_queries_page(run, page=1)

    results = [r for q in page.object_list for r in q.top_results]
    assert len(results) == 8
    assert all(r.llm_label is not None for r in results)
    assert [r.llm_label.value for r in results if r.product.external_id.startswith("extra")] == [2] * 5


def test_the_usage_of_a_page_of_jobs_adds_up_like_job_usage(world):
    first = finish_job(start_job(world["project"], pair_ids=[world["pairs"][0].id, world["pairs"][2].id]))
    second = finish_job(start_job(world["project"], pair_ids=[world["pairs"][1].id]))
    Judgment.objects.filter(job=first).update(tokens_in=100, tokens_out=7, cost_eur="0.000250")

    usage = usage_by_job([first.id, second.id])

    assert usage[first.id] == job_usage(first)
    assert usage[second.id] == job_usage(second)
    assert usage[first.id]["tokens_in"] == 200


def test_the_panel_does_not_count_the_runs_holes(lead_client, world):
    # Counting holes read every pair of the run (its search results) on each load, for a
    # figure the panel no longer shows (issue #14).
    finish_job(start_job(world["project"], run=world["run"]))  # done: nothing to poll for

    with CaptureQueriesContext(connection) as queries:
        response = lead_client.get(panel_url(world), **HTMX)

    assert response.status_code == 200
    assert "holes" not in response.context_data
    assert not [q["sql"] for q in queries.captured_queries if "annotation_searchresult" in q["sql"]]
