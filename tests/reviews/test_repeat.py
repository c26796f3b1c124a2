"""The "Repeat" cycle: beat → fetch from the (loopback) search engine → judge the holes
with the offline judge → route → a MetricSnapshot with the regression flag. Task bodies
are called directly; nothing is sent to the broker."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from annotation.models import (
    GoldProvenance,
    MetricSnapshot,
    Pair,
    Project,
    RepeatSchedule,
    Role,
    SearchConnector,
    SearchRun,
)
from judging.models import JudgeJob
from reviews.models import ReviewTask
from reviews.repeat import services as repeat
from reviews.services.errors import ReviewError
from tests.reviews.repeat_world import BAD


def cycle(schedule, drive, *, now=None, gold: dict | None = None) -> MetricSnapshot:
    """One whole cycle as the beat and a worker would run it; gold sets imported gold
    on the run's pairs before the metrics are taken."""
    snapshot = repeat.schedule_start(schedule=schedule, now=now)
    snapshot = repeat.repeat_fetch(snapshot_id=snapshot.id)
    if gold:
        for pair in Pair.objects.filter(results__run=snapshot.run).select_related("product"):
            Pair.objects.filter(id=pair.id).update(
                gold_value=gold[pair.product.external_id], gold_provenance=GoldProvenance.IMPORTED
            )
    drive(JudgeJob.objects.get(id=snapshot.judge_job_id))
    assert repeat.snapshot_finalize(snapshot_id=snapshot.id)
    snapshot.refresh_from_db()
    return snapshot


def test_the_beat_starts_a_due_schedule_and_the_cycle_records_metrics(
    schedule, drive, sent, django_capture_on_commit_callbacks
):
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        started = repeat.repeat_due(now=now)["started"]
    assert sent == started and len(started) == 1
    schedule.refresh_from_db()
    assert schedule.next_run_at == now + timedelta(minutes=60) and schedule.last_run_at == now

    snapshot = repeat.repeat_fetch(snapshot_id=started[0])
    assert snapshot.status == MetricSnapshot.Status.JUDGING and snapshot.fetch_report["results"] == 6
    assert SearchRun.objects.get(id=snapshot.run_id).results.count() == 6  # top 2 queries × k 3
    job = JudgeJob.objects.get(id=snapshot.judge_job_id)
    assert job.run_id == snapshot.run_id and job.on_done == "reviews.route_job" and job.total == 6
    assert repeat.repeat_due(now=now)["finalized"] == []  # judging has not ended

    drive(job)
    assert repeat.repeat_due(now=now + timedelta(minutes=1))["finalized"] == [snapshot.id]
    snapshot.refresh_from_db()
    assert snapshot.status == MetricSnapshot.Status.DONE and snapshot.queries == 2 and snapshot.coverage == 1.0
    assert snapshot.ndcg is not None and snapshot.means["ndcg"]["value"] == snapshot.ndcg and not snapshot.regression
    # Every pair of the run was routed: gold from the LLM, or a review task.
    pairs = Pair.objects.filter(results__run=snapshot.run)
    assert all(p.gold_value is not None or ReviewTask.objects.filter(pair=p).exists() for p in pairs)


def test_a_drop_beyond_the_margin_is_flagged_and_a_small_one_is_not(schedule, drive, sent, engine):
    gold = {"p1": 2, "p2": 0, "p3": 0, "p4": 1}
    schedule.label_source = "gold"
    schedule.save()
    first = cycle(schedule, drive, gold=gold)
    # red dress: p1, p4, p2 is the ideal order (1.0); black boots: its one relevant product third (0.5).
    assert first.ndcg == pytest.approx(0.75) and not first.regression

    engine.results.update(BAD)
    second = cycle(schedule, drive, gold=gold)
    assert second.regression and second.previous_ndcg == pytest.approx(first.ndcg) and second.ndcg < first.ndcg - 0.05

    third = cycle(schedule, drive, gold=gold)
    assert not third.regression and third.previous_ndcg == pytest.approx(second.ndcg)


def test_a_schedule_never_has_two_cycles_in_flight(schedule, sent, lead):
    first = repeat.schedule_start(schedule=schedule)
    assert repeat.schedule_start(schedule=schedule) is None
    assert repeat.repeat_due(now=timezone.now() + timedelta(hours=2))["started"] == []
    with pytest.raises(ReviewError) as caught:
        repeat.repeat_now(schedule=schedule, user=lead)
    assert caught.value.status == 409
    assert list(MetricSnapshot.objects.values_list("id", flat=True)) == [first.id]


def test_schedules_not_due_or_paused_are_not_started(schedule, sent):
    now = timezone.now()
    schedule.next_run_at = now + timedelta(minutes=5)
    schedule.save()
    assert repeat.repeat_due(now=now)["started"] == []
    schedule.enabled, schedule.next_run_at = False, now - timedelta(minutes=5)
    schedule.save()
    assert repeat.repeat_due(now=now)["started"] == []


def test_a_failed_fetch_is_recorded_and_does_not_block_the_schedule(schedule, sent, engine):
    engine.faults["/"] = {"status": 503}
    snapshot = repeat.repeat_fetch(snapshot_id=repeat.schedule_start(schedule=schedule).id)
    assert snapshot.status == MetricSnapshot.Status.FAILED and "HTTP 503" in snapshot.error and snapshot.run is None
    assert repeat.schedule_start(schedule=schedule) is not None


def test_a_redelivered_fetch_makes_one_run_and_one_job(schedule, sent, no_broker):
    snapshot = repeat.schedule_start(schedule=schedule)
    repeat.repeat_fetch(snapshot_id=snapshot.id)
    again = repeat.repeat_fetch(snapshot_id=snapshot.id)
    assert SearchRun.objects.filter(project=schedule.connector.project).count() == 1
    assert JudgeJob.objects.count() == 1 and again.judge_job_id == JudgeJob.objects.get().id


def test_a_lost_fetch_task_is_sent_again_and_a_hopeless_one_fails(schedule, sent, settings):
    now = timezone.now()
    snapshot = repeat.schedule_start(
        schedule=schedule, now=now - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
    )
    assert repeat.repeat_due(now=now)["resent"] == [snapshot.id]
    assert repeat.repeat_due(now=now)["resent"] == []  # not again before another time limit has passed
    MetricSnapshot.objects.filter(id=snapshot.id).update(
        created_at=now - timedelta(hours=settings.QRELAY_REPEAT_STALE_HOURS + 1)
    )
    later = now + timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
    assert repeat.repeat_due(now=later)["failed"] == [snapshot.id]
    assert MetricSnapshot.objects.get(id=snapshot.id).status == MetricSnapshot.Status.FAILED


def test_a_judging_job_that_never_ends_closes_the_cycle_as_failed(schedule, sent, no_broker, settings):
    snapshot = repeat.repeat_fetch(snapshot_id=repeat.schedule_start(schedule=schedule).id)
    later = timezone.now() + timedelta(hours=settings.QRELAY_REPEAT_STALE_HOURS + 1)
    assert repeat.snapshot_finalize(snapshot_id=snapshot.id, now=later)
    snapshot.refresh_from_db()
    assert snapshot.status == MetricSnapshot.Status.FAILED and "did not finish" in snapshot.error


# --- the page ---------------------------------------------------------------------------------


@pytest.fixture
def lead_client(lead):
    client = Client()
    client.force_login(lead)
    return client


def url(name, project, *args):
    return reverse(f"repeat:{name}", args=[project.id, *args])


def test_only_leads_see_the_page_and_foreign_ids_are_404(project, member, schedule, lead_client):
    annotator = Client()
    annotator.force_login(member("ann", Role.ANNOTATOR))
    assert annotator.get(url("page", project)).status_code == 403
    other = member("other", Role.LEAD, of=type(project).objects.create(name="elsewhere"))
    outsider = Client()
    outsider.force_login(other)
    assert outsider.get(url("page", project)).status_code == 404
    foreign = Client()
    foreign.force_login(other)
    elsewhere = type(project).objects.get(name="elsewhere")
    assert foreign.post(url("schedule_run", elsewhere, schedule.id)).status_code == 404
    assert lead_client.get(url("page", project)).status_code == 200


def test_a_lead_creates_a_connector_and_bad_input_is_a_400(project, lead_client, settings):
    settings.QRELAY_CONNECTOR_SECRETS = {
        "QRELAY_CONNECTOR_SECRET_ES_AUTH": {"origin": "https://search.example.com:9200", "projects": [project.name]}
    }
    bad = {
        "name": "x",
        "preset": "generic",
        "base_url": "ftp://search",
        "k": 10,
        "timeout_seconds": 5,
        "body_template": "{nope",
    }
    response = lead_client.post(url("connector_new", project), bad)
    assert response.status_code == 400 and not SearchConnector.objects.exists()
    assert b"only http and https" in response.content and b"not valid JSON" in response.content
    good = {
        "name": "catalog-api",
        "preset": "elasticsearch",
        "base_url": "https://search.example.com:9200/",
        "path_template": "/products/_search",
        "headers": '{"X-Team": "search"}',
        "secret_header": "Authorization",
        "secret_env": "QRELAY_CONNECTOR_SECRET_ES_AUTH",
        "k": 20,
        "timeout_seconds": 5,
    }
    response = lead_client.post(url("connector_new", project), good)
    assert response.status_code == 302
    connector = SearchConnector.objects.get(project=project)
    assert (connector.base_url, connector.headers, connector.secret_env) == (
        "https://search.example.com:9200",
        {"X-Team": "search"},
        "QRELAY_CONNECTOR_SECRET_ES_AUTH",
    )


def test_the_connector_form_refuses_secrets_outside_the_operators_prefix(project, lead_client):
    data = {
        "name": "leaky",
        "preset": "generic",
        "base_url": "https://attacker.example",
        "k": 10,
        "timeout_seconds": 5,
        "secret_header": "X-Leak",
        "secret_env": "SECRET_KEY",
    }

    response = lead_client.post(url("connector_new", project), data)

    assert response.status_code == 400 and b"QRELAY_CONNECTOR_SECRET_" in response.content
    assert not SearchConnector.objects.exists()


def test_testing_a_connector_shows_the_ids_found_and_errors_clearly(project, schedule, lead_client, engine):
    connector = schedule.connector
    response = lead_client.post(
        url("connector_test", project, connector.id), {"query": "red dress"}, HTTP_HX_REQUEST="true"
    )
    text = response.content.decode()
    assert response.status_code == 200 and "<html" not in text
    assert text.index("p1") < text.index("p4") < text.index("p2") and "known" in text

    engine.results["red dress"] = ["<script>alert(1)</script>"]
    text = lead_client.post(
        url("connector_test", project, connector.id), {"query": "red dress"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "&lt;script&gt;" in text and "<script>alert" not in text and "unknown" in text

    engine.faults["/"] = {"content_type": "text/html", "body": b"<h1>proxy login</h1>"}
    text = lead_client.post(
        url("connector_test", project, connector.id), {"query": "red dress"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert 'role="alert"' in text and "not JSON" in text


def test_run_now_starts_a_cycle_and_the_history_flags_regressions(
    project, schedule, lead_client, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = lead_client.post(url("schedule_run", project, schedule.id))
    assert response.status_code == 302 and len(sent) == 1
    assert lead_client.post(url("schedule_run", project, schedule.id)).status_code == 409
    MetricSnapshot.objects.filter(id=sent[0]).update(status="done", ndcg=0.8)
    MetricSnapshot.objects.create(
        schedule=schedule, k=3, label_source="any", status="done", ndcg=0.6, previous_ndcg=0.8, regression=True
    )
    text = lead_client.get(url("page", project)).content.decode()
    assert "<svg" in text and "<polyline" in text and text.count("<circle") == 1
    # The regression's dot takes the theme's danger colour (app.css), readable in dark mode too.
    assert 'class="spark-regression"><title>regression</title>' in text and 'fill="#' not in text
    assert 'class="repeat-regression"' in text and "0.6000" in text


def test_a_lead_adds_and_pauses_a_schedule(project, schedule, lead_client):
    data = {
        "connector": schedule.connector_id,
        "top_n": 50,
        "k": 10,
        "interval_minutes": 1440,
        "margin": "0.03",
        "label_source": "gold",
        "enabled": "on",
    }
    assert lead_client.post(url("schedule_new", project), {**data, "interval_minutes": 1}).status_code == 400
    assert lead_client.post(url("schedule_new", project), data).status_code == 302
    added = RepeatSchedule.objects.exclude(id=schedule.id).get()
    assert (added.top_n, added.margin, added.enabled) == (50, 0.03, True)
    paused = {k: v for k, v in data.items() if k != "enabled"}
    assert lead_client.post(url("schedule_edit", project, added.id), paused).status_code == 302
    added.refresh_from_db()
    assert not added.enabled


@pytest.mark.django_db(transaction=True)
def test_concurrent_beats_start_each_due_schedule_once(sent):
    import threading

    from django.db import connection

    project = Project.objects.create(name="beats")
    connector = SearchConnector.objects.create(project=project, name="es", base_url="https://search.example.com")
    RepeatSchedule.objects.bulk_create([RepeatSchedule(connector=connector, top_n=1) for _ in range(20)])
    barrier, started, errors = threading.Barrier(4), [], []

    def beat():
        try:
            barrier.wait()
            started.extend(repeat.repeat_due()["started"])
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=beat) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(started) == sorted(sent) and len(started) == 20
    assert MetricSnapshot.objects.values("schedule").distinct().count() == 20 == MetricSnapshot.objects.count()


# --- fitting the task, a refused job, comparable snapshots -----------------------------------


class SteppingClock:
    """time.monotonic for reviews.repeat: each reading is `step` seconds after the last."""

    def __init__(self, step: float):
        self.now, self.step = 0.0, step

    def monotonic(self) -> float:
        self.now += self.step
        return self.now


def test_a_fetch_that_outgrows_the_task_time_limit_fails_the_cycle_instead_of_being_killed(
    schedule, sent, engine, monkeypatch, settings
):
    settings.CELERY_TASK_TIME_LIMIT = 1800
    budget = repeat.fetch_budget(schedule.connector.timeout_seconds)
    assert budget <= 0.75 * 1800 - schedule.connector.timeout_seconds  # room left for the last request and the writing
    schedule.top_n = 3
    schedule.save()
    # Each query "takes" 60 % of the budget: the second one ends past the deadline.
    monkeypatch.setattr(repeat, "time", SteppingClock(0.6 * budget))

    snapshot = repeat.repeat_fetch(snapshot_id=repeat.schedule_start(schedule=schedule).id)

    assert snapshot.status == MetricSnapshot.Status.FAILED and snapshot.run is None and snapshot.judge_job_id is None
    assert f"fetching 3 queries took longer than {budget:.0f} s (2 fetched)" in snapshot.error
    assert "lower top_n or the connector's timeout (2 s)" in snapshot.error
    assert len(engine.requests) == 2  # the third query was never sent
    assert not SearchRun.objects.exists()
    # A failed cycle is closed: not re-sent, and the schedule starts again.
    later = timezone.now() + timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
    assert repeat.repeat_due(now=later)["resent"] == []


def test_a_fetch_within_its_budget_is_not_cut_short(schedule, sent, engine, monkeypatch):
    schedule.top_n = 3
    schedule.save()
    budget = repeat.fetch_budget(schedule.connector.timeout_seconds)
    monkeypatch.setattr(repeat, "time", SteppingClock(0.3 * budget))
    snapshot = repeat.repeat_fetch(snapshot_id=repeat.schedule_start(schedule=schedule).id)
    assert snapshot.status == MetricSnapshot.Status.JUDGING and snapshot.fetch_report["queries"] == 3


def test_a_judging_job_the_run_already_has_fails_the_cycle_with_the_reason(
    schedule, sent, no_broker, monkeypatch, settings
):
    from judging.jobs import judge_job_create

    evaluate = repeat.run_evaluate

    def lead_was_first(*, run, user=None):
        judge_job_create(project=run.project, run=run)  # "judge" clicked on the new run meanwhile
        return evaluate(run=run, user=user)

    monkeypatch.setattr(repeat, "run_evaluate", lead_was_first)
    snapshot = repeat.repeat_fetch(snapshot_id=repeat.schedule_start(schedule=schedule).id)

    assert snapshot.status == MetricSnapshot.Status.FAILED and snapshot.judge_job_id is None
    assert snapshot.error.startswith("judging: ") and "still active" in snapshot.error
    assert JudgeJob.objects.filter(run=snapshot.run).count() == 1
    later = timezone.now() + timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
    assert repeat.repeat_due(now=later)["resent"] == []
    assert repeat.schedule_start(schedule=schedule) is not None


def test_a_gold_drop_with_lower_coverage_is_recorded_but_not_flagged(schedule, drive, sent, engine, policy):
    gold = {"p1": 2, "p2": 0, "p3": 0, "p4": 1}
    schedule.label_source = "gold"
    schedule.save()
    first = cycle(schedule, drive, gold=gold)
    assert first.coverage == 1.0 and first.ndcg == pytest.approx(0.75)

    # The new results bring one new pair (red dress, p3); it goes to a human and has no
    # gold yet, so it counts as irrelevant: nDCG falls, but only coverage did.
    engine.results.update(BAD)
    policy.audit_rate = 1.0
    policy.save()
    second = cycle(schedule, drive)

    new = Pair.objects.get(query__text="red dress", product__external_id="p3")
    assert new.gold_value is None and ReviewTask.objects.filter(pair=new).exists()
    assert second.coverage == pytest.approx(5 / 6) and second.ndcg < first.ndcg - schedule.margin
    assert not second.regression and second.previous_ndcg == pytest.approx(first.ndcg)
    assert second.error.startswith("not comparable (lower coverage): nDCG@3 fell from 0.7500")
    assert "coverage@3 0.83 against 1.00" in second.error

    # The human says irrelevant: the next cycle is comparable again, and equal.
    Pair.objects.filter(id=new.id).update(gold_value=0, gold_provenance=GoldProvenance.IMPORTED)
    third = cycle(schedule, drive)
    assert third.coverage == 1.0 and third.previous_ndcg == pytest.approx(second.ndcg) == third.ndcg
    assert not third.regression and third.error == ""


# --- the audit: secrets, searches only, malformed input --------------------------------------------


def _connector_data(**fields):
    return {
        "name": "es",
        "preset": "elasticsearch",
        "base_url": "https://es.internal:9200",
        "path_template": "/products/_search",
        "k": 10,
        "timeout_seconds": 5,
        **fields,
    }


def test_the_form_refuses_a_secret_bound_to_another_project_or_origin(project, lead_client, settings):
    settings.QRELAY_CONNECTOR_SECRETS = {
        "QRELAY_CONNECTOR_SECRET_ES_AUTH": {"origin": "https://es.internal:9200", "projects": ["someone-else"]}
    }
    secret = {"secret_header": "Authorization", "secret_env": "QRELAY_CONNECTOR_SECRET_ES_AUTH"}
    response = lead_client.post(url("connector_new", project), _connector_data(**secret))
    assert response.status_code == 400 and b"the operator must bind it" in response.content

    settings.QRELAY_CONNECTOR_SECRETS["QRELAY_CONNECTOR_SECRET_ES_AUTH"]["projects"] = [project.id]
    response = lead_client.post(url("connector_new", project), _connector_data(base_url="https://b.example", **secret))
    assert response.status_code == 400 and b"may only be sent to https://es.internal:9200" in response.content
    assert not SearchConnector.objects.exists()

    assert lead_client.post(url("connector_new", project), _connector_data(**secret)).status_code == 302


@pytest.mark.parametrize(
    "fields",
    [
        {"path_template": "/products/_delete_by_query", "method": "POST"},
        {"path_template": "/_bulk"},
        {"preset": "generic", "path_template": "/products/_update/1", "method": "POST"},
        {"preset": "generic", "path_template": "/search/../_delete_by_query"},
        {"preset": "generic", "path_template": "/items/remove", "method": "POST"},
    ],
)
def test_the_form_refuses_a_path_that_is_no_search(project, lead_client, fields):
    response = lead_client.post(url("connector_new", project), _connector_data(**fields))
    content = response.content
    assert response.status_code == 400
    assert b"is not a search" in content or b"POSTs only to a search endpoint" in content
    assert not SearchConnector.objects.exists()


@pytest.mark.parametrize(
    "headers, message",
    [
        ('{"Host": "a.example"}', b"set by qrelay itself"),
        ('{"Content-Length": "5"}', b"set by qrelay itself"),
        ('{"Transfer-Encoding": "chunked"}', b"set by qrelay itself"),
        ('{"X-HTTP-Method-Override": "DELETE"}', b"set by qrelay itself"),
        ('{"X-Team": "\\u0100"}', b"non-Latin-1"),
        ('{"X-Team": "a\\u0000b"}', b"control"),
        ('{"X T": "a"}', b"not a header name"),
        ('{"a": ' * 3000 + "1" + "}" * 3000, b"JSON object"),
    ],
)
def test_the_form_refuses_bad_headers_with_a_message(project, lead_client, headers, message):
    response = lead_client.post(url("connector_new", project), _connector_data(headers=headers))
    assert response.status_code == 400 and message in response.content
    assert not SearchConnector.objects.exists()


@pytest.mark.parametrize(
    "fields",
    [{"secret_header": "Host", "secret_env": "QRELAY_CONNECTOR_SECRET_X"}, {"body_template": '{"q": "\\ud800"}'}],
)
def test_the_form_refuses_a_forbidden_secret_header_or_a_bad_body(project, lead_client, fields):
    assert lead_client.post(url("connector_new", project), _connector_data(**fields)).status_code == 400
    assert not SearchConnector.objects.exists()


def test_testing_a_connector_never_shows_the_engines_error_body(project, schedule, lead_client, engine):
    engine.faults["/"] = {"status": 500, "body": b'{"error": "other tenant doc: secret-data"}'}
    text = lead_client.post(
        url("connector_test", project, schedule.connector.id), {"query": "red dress"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "HTTP 500" in text and "secret-data" not in text


def test_a_deeply_nested_answer_fails_the_cycle_with_its_reason(schedule, sent, engine):
    engine.faults["/"] = {"body": b"[" * 5000 + b"]" * 5000}
    snapshot = repeat.repeat_fetch(snapshot_id=repeat.schedule_start(schedule=schedule).id)
    assert snapshot.status == MetricSnapshot.Status.FAILED and "nested too deeply" in snapshot.error


def test_an_unexpected_error_fails_the_cycle_instead_of_leaving_it_fetching(schedule, sent, monkeypatch):
    def broken(**kwargs):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(repeat, "connector_fetch_run", broken)
    snapshot = repeat.repeat_fetch(snapshot_id=repeat.schedule_start(schedule=schedule).id)
    assert snapshot.status == MetricSnapshot.Status.FAILED and "unexpected error (RecursionError)" in snapshot.error
    assert repeat.schedule_start(schedule=schedule) is not None
