"""The evaluate pages: run metrics, run comparison, downloads, and "fill the holes"."""

import json
import re

import pytest
from django.test import Client
from django.urls import reverse

from annotation.comparison import compare_run_metrics, worst_queries
from annotation.exports import export_gold, export_labels_jsonl, export_run_trec
from annotation.metrics import run_metrics, unjudged_pairs
from annotation.models import Label, LabelSource, Membership, Pair, Product, Query, Role
from annotation.services import project_create
from judging.jobs import JobError, judge_job_create
from judging.models import JudgeJob

from .test_metrics import load

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
PASSWORD = "pw-evaluate-123"

QRELS = {
    "q1": {"p1": 2, "p2": 0, "p3": 1},
    "q2": {"p4": 2, "p5": 1},
    "q3": {"p6": 0, "p8": 2},
}
BASELINE = {
    "q1": [("p2", 1, None), ("p1", 2, None), ("p9", 3, None)],  # p9 has no gold: a hole
    "q2": [("p4", 1, None), ("p5", 2, None)],
    "q3": [("p6", 1, None), ("p8", 2, None)],
}
CANDIDATE = {
    "q1": [
        ("p1", 1, None),
        ("p3", 2, None),
        ("p2", 3, None),
        ("p10", 4, None),
    ],  # better; p10 is a hole below the top 3
    "q2": [("p5", 1, None), ("p4", 2, None)],  # worse
    "q3": [("p6", 1, None), ("p7", 2, None)],  # worse, and p7 is a hole
}


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def world(django_user_model):
    project = project_create(name="Fashion DE")  # scale: 0 irrelevant, 1 substitute, 2 highly relevant
    baseline = load(project, "baseline", QRELS, BASELINE)
    candidate = load(project, "candidate", QRELS, CANDIDATE)
    lead = django_user_model.objects.create_user(username="lea", password=PASSWORD)
    annotator = django_user_model.objects.create_user(username="ann", password=PASSWORD)
    outsider = django_user_model.objects.create_user(username="olaf", password=PASSWORD)
    Membership.objects.create(project=project, user=lead, role=Role.LEAD)
    Membership.objects.create(project=project, user=annotator, role=Role.ANNOTATOR)
    other = project_create(name="Other shop")
    other_run = load(other, "foreign", {"x1": {"y1": 2}}, {"x1": [("y1", 1, None)]})
    Membership.objects.create(project=other, user=outsider, role=Role.LEAD)
    return {
        "project": project,
        "baseline": baseline,
        "candidate": candidate,
        "lead": client_for(lead),
        "annotator": client_for(annotator),
        "outsider": client_for(outsider),
        "lead_user": lead,
        "other": other,
        "other_run": other_run,
    }


def metrics_url(world, run="baseline", **params) -> str:
    url = reverse("run_metrics", args=[world["project"].id, world[run].id])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else "")


def compare_url(world, **params) -> str:
    return reverse("run_compare", args=[world["project"].id]) + "?" + "&".join(f"{k}={v}" for k, v in params.items())


def html_row(content: str, attribute: str) -> str:
    match = re.search(rf"<tr {attribute}>(.*?)</tr>", content, re.DOTALL)
    assert match, f"no row {attribute}"
    return match.group(1)


def streamed(response) -> str:
    assert response.streaming
    return b"".join(response.streaming_content).decode()


# --- access ------------------------------------------------------------------------------------


def test_pages_and_downloads_of_a_foreign_project_or_run_are_404(world):
    project, other = world["project"], world["other"]
    urls = [
        reverse("run_metrics", args=[project.id, world["baseline"].id]),
        reverse("run_compare", args=[project.id]),
        reverse("downloads", args=[project.id]),
        reverse("download_gold", args=[project.id, "csv"]),
        reverse("download_labels", args=[project.id]),
        reverse("download_run", args=[project.id, world["baseline"].id]),
    ]
    for url in urls:
        assert world["outsider"].get(url).status_code == 404, url
    # A foreign run under one's own project id is not found either.
    assert world["lead"].get(reverse("run_metrics", args=[project.id, world["other_run"].id])).status_code == 404
    assert world["lead"].get(reverse("download_run", args=[project.id, world["other_run"].id])).status_code == 404
    assert world["lead"].get(reverse("run_metrics", args=[other.id, world["other_run"].id])).status_code == 404


def test_anonymous_visitors_are_sent_to_log_in(world, client):
    response = client.get(metrics_url(world))

    assert response.status_code == 302 and reverse("login") in response["Location"]
    assert client.get(reverse("download_gold", args=[world["project"].id, "csv"])).status_code == 302


# --- run metrics -------------------------------------------------------------------------------


def test_the_metrics_page_shows_the_services_figures_each_with_its_coverage(world):
    expected = run_metrics(world["baseline"], k=3)

    response = world["annotator"].get(metrics_url(world, k=3))

    assert response.status_code == 200
    content = response.content.decode()
    for name in ("ndcg", "precision", "irrelevant", "recall", "mrr"):
        row = html_row(content, f'data-metric="{name}"')
        mean = expected.means[name]
        assert f"{mean.value:.4f}" in row and f">{mean.queries}<" in row
        assert re.search(r'class="num ev-cov">\d+%<', row), f"{name} without its coverage"
    # Pooled judged coverage of the top 3: 6 of the 7 results are judged.
    assert (expected.judged_at_k, expected.retrieved_at_k, expected.holes) == (6, 7, 1)
    assert "86%" in content and "6 of 7" in content
    # nDCG is defined on every query, so its coverage is the pooled one.
    assert ">86%<" in html_row(content, 'data-metric="ndcg"')


def test_per_query_rows_are_sorted_worst_first_and_link_to_their_results(world):
    expected = worst_queries(run_metrics(world["candidate"], k=3), metric="ndcg", n=3)

    response = world["annotator"].get(metrics_url(world, run="candidate", k=3, sort="ndcg"))

    content = response.content.decode()
    shown = re.findall(r'<tr data-query="([^"]+)">', content)
    assert shown == [row.external_id for row in expected]
    q2 = Query.objects.get(project=world["project"], external_id="q2")
    link = reverse("run_detail", args=[world["project"].id, world["candidate"].id]) + f"?query={q2.id}&amp;k=3"
    assert link in content
    results = world["annotator"].get(link.replace("&amp;", "&")).content.decode()
    assert "text of q2" in results and "text of q1" not in results


def test_best_first_and_undefined_figures_last(world):
    response = world["annotator"].get(metrics_url(world, run="candidate", k=3, sort="ndcg", order="best"))

    rows = response.context_data["rows"].object_list
    values = [row.metrics.ndcg for row, _ in rows]
    assert values == sorted(values, reverse=True)


def test_the_metrics_page_answers_a_fragment_to_htmx_and_a_page_otherwise(world):
    full = world["annotator"].get(metrics_url(world))
    fragment = world["annotator"].get(metrics_url(world), **HTMX)

    assert "<html" in full.content.decode() and 'id="metrics"' in full.content.decode()
    assert fragment.status_code == 200
    assert "<html" not in fragment.content.decode() and fragment.content.decode().lstrip().startswith(
        '<div id="metrics"'
    )
    assert "HX-Request" in fragment["Vary"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"k": "0"}, "k"),
        ({"k": "abc"}, "k"),
        ({"k": "100000"}, "k"),
        ({"source": "gossip"}, "source"),
        ({"sort": "id"}, "sort"),
    ],
)
def test_bad_settings_are_a_400_with_the_forms_error(world, params, field):
    response = world["annotator"].get(metrics_url(world, **params), **HTMX)

    assert response.status_code == 400
    assert field in response.context_data["form"].errors
    assert 'role="alert"' in response.content.decode()


def test_llm_figures_are_marked_provisional_and_the_offline_baseline_as_such(world):
    project = world["project"]
    for pair in Pair.objects.filter(project=project):
        Label.objects.create(project=project, pair=pair, source=LabelSource.LLM, rater="offline-baseline-v2", value=1)

    llm = world["lead"].get(metrics_url(world, source="llm")).content.decode()
    gold = world["lead"].get(metrics_url(world)).content.decode()

    assert "LLM labels (not gold): provisional figures, not gold." in llm
    assert "offline baseline" in llm and "offline-baseline-v2" in llm
    assert "provisional" not in gold


def test_text_from_imports_is_escaped(world):
    Query.objects.filter(project=world["project"], external_id="q1").update(text="<script>alert(1)</script>")

    content = world["annotator"].get(metrics_url(world)).content.decode()

    assert "<script>alert(1)</script>" not in content and "&lt;script&gt;alert(1)&lt;/script&gt;" in content


def test_the_metrics_page_names_the_holes_and_leaves_judging_to_the_pair_states_card(world):
    # One judge action (issue #14): the pair-states card's, loaded with the page's k.
    fill = reverse("judging:run_fill_holes", args=[world["project"].id, world["baseline"].id])
    states = reverse("reviews:run_states", args=[world["project"].id, world["baseline"].id])

    for client in (world["lead"], world["annotator"]):
        page = client.get(metrics_url(world, k=3)).content.decode()
        assert fill not in page and f'hx-get="{states}?k=3"' in page
        assert "result in the top 3 has no gold label" in page
    # Full coverage at k=2 (p9 is third): no holes to name.
    assert "has no gold label" not in world["lead"].get(metrics_url(world, k=2)).content.decode()


# --- fill the holes ------------------------------------------------------------------------------


def fill_url(world, run="baseline") -> str:
    return reverse("judging:run_fill_holes", args=[world["project"].id, world[run].id])


def test_fill_the_holes_judges_exactly_the_pairs_the_metrics_page_reports_missing(world):
    run = world["candidate"]
    missing = set(unjudged_pairs(run, k=2, label_source="gold"))
    assert missing == {Pair.objects.get(query__external_id="q3", product__external_id="p7").id}

    response = world["lead"].post(fill_url(world, "candidate"), {"k": "2", "source": "gold"}, **HTMX)

    assert response.status_code == 200
    job = JudgeJob.objects.get()
    assert set(job.pair_ids) == missing and job.total == 1
    assert (job.run, job.created_by, job.on_done) == (run, world["lead_user"], "reviews.route_job")
    # The answer is the run's judging panel, which follows the job.
    assert 'id="judging-panel"' in response.content.decode() and "every 1s" in response.content.decode()


def test_fill_the_holes_of_llm_labels_includes_pairs_with_gold_but_no_llm_label(world):
    run = world["baseline"]
    judged = Pair.objects.get(query__external_id="q1", product__external_id="p2")
    Label.objects.create(project=world["project"], pair=judged, source=LabelSource.LLM, rater="m", value=0)
    expected = set(unjudged_pairs(run, k=3, label_source="llm"))

    world["lead"].post(fill_url(world), {"k": "3", "source": "llm"}, **HTMX)

    job = JudgeJob.objects.get()
    assert set(job.pair_ids) == expected and judged.id not in expected and len(expected) == 6
    assert job.on_done == ""


def test_fill_the_holes_is_for_leads_only(world):
    response = world["annotator"].post(fill_url(world), {"k": "3", "source": "gold"}, **HTMX)

    assert response.status_code == 403
    assert not JudgeJob.objects.exists()
    assert world["outsider"].post(fill_url(world), {"k": "3"}).status_code == 404


def test_fill_the_holes_checks_the_csrf_token(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world["lead_user"])

    refused = client.post(fill_url(world), {"k": "3", "source": "gold"}, **HTMX)
    assert refused.status_code == 403 and not JudgeJob.objects.exists()

    page = client.get(metrics_url(world, k=3))
    token = re.search(r'"X-CSRFToken": "([^"]+)"', page.content.decode()).group(1)
    accepted = client.post(fill_url(world), {"k": "3", "source": "gold"}, HTTP_X_CSRFTOKEN=token, **HTMX)
    assert accepted.status_code == 200 and JudgeJob.objects.count() == 1


def test_fill_the_holes_refuses_a_second_job_no_holes_and_bad_settings(world):
    assert (
        world["lead"].post(fill_url(world), {"k": "2", "source": "gold"}, **HTMX).status_code == 409
    )  # no holes in the top 2
    assert world["lead"].post(fill_url(world), {"k": "-1", "source": "gold"}, **HTMX).status_code == 400
    assert world["lead"].post(fill_url(world), {"k": "3", "source": "rumour"}, **HTMX).status_code == 400
    assert world["lead"].post(fill_url(world), {"k": "3", "source": "human"}, **HTMX).status_code == 400
    assert not JudgeJob.objects.exists()

    assert world["lead"].post(fill_url(world), {"k": "3", "source": "gold"}, **HTMX).status_code == 200
    again = world["lead"].post(fill_url(world), {"k": "3", "source": "gold"}, **HTMX)
    assert again.status_code == 409 and "still active" in again.content.decode()
    assert JudgeJob.objects.count() == 1


def test_a_job_for_a_runs_pairs_refuses_pairs_of_other_runs(world):
    outside = Pair.objects.get(query__external_id="q3", product__external_id="p7")  # only in the candidate run

    with pytest.raises(JobError, match="do not belong to run baseline"):
        judge_job_create(project=world["project"], run=world["baseline"], pair_ids=[outside.id], holes_only=False)
    assert not JudgeJob.objects.exists()


def test_fill_the_holes_without_htmx_redirects_to_the_run(world):
    response = world["lead"].post(fill_url(world), {"k": "3", "source": "gold"})

    assert response.status_code == 302
    assert response["Location"] == reverse("run_detail", args=[world["project"].id, world["baseline"].id])


# --- compare -------------------------------------------------------------------------------------


def test_the_compare_page_shows_the_services_comparison(world):
    a, b = world["baseline"], world["candidate"]
    expected = compare_run_metrics(run_metrics(a, k=3), run_metrics(b, k=3), metric="ndcg")

    response = world["annotator"].get(compare_url(world, a=a.id, b=b.id, metric="ndcg", k=3))

    assert response.status_code == 200
    content = response.content.decode()
    assert f'<dd id="mean-delta">{expected.mean_delta:+.4f}</dd>' in content
    assert f'<dd id="delta-ci">[{expected.ci[0]:+.4f}, {expected.ci[1]:+.4f}]</dd>' in content
    assert f'<dd id="wtl">{expected.wins} / {expected.ties} / {expected.losses}</dd>' in content
    assert (expected.wins, expected.losses) == (1, 2)
    worsened = re.search(r'class="table compact ev-worsened">(.*?)</table>', content, re.DOTALL).group(1)
    assert re.findall(r'<tr data-query="([^"]+)">', worsened) == [d.external_id for d in expected.worsened(10)]
    # Coverage for both runs: each has 6 of its 7 top-3 results judged, one hole.
    for side in ("A", "B"):
        assert re.search(r'ev-cov">86%</td>\s*<td class="num">1</td>', html_row(content, f'data-side="{side}"'))


def test_the_compare_page_lists_each_runs_worst_queries(world):
    a, b = world["baseline"], world["candidate"]

    response = world["annotator"].get(compare_url(world, a=a.id, b=b.id, metric="precision", k=2))

    sides = response.context_data["sides"]
    for side, run in zip(sides, (a, b)):
        expected = worst_queries(run_metrics(run, k=2), metric="precision", n=10)
        assert [row.external_id for row, _ in side["worst"]] == [row.external_id for row in expected]


def test_a_first_visit_proposes_the_newest_run_against_the_one_before(world):
    response = world["annotator"].get(reverse("run_compare", args=[world["project"].id]))

    assert response.status_code == 200
    form = response.context_data["form"]
    assert not form.is_bound
    assert (form.initial["a"], form.initial["b"]) == (world["baseline"].id, world["candidate"].id)
    assert (form.initial["k"], form.initial["metric"], form.initial["source"]) == (10, "ndcg", "gold")
    assert "comparison" not in response.context_data


def test_comparing_a_run_with_itself_or_with_a_foreign_run_is_a_400(world):
    a = world["baseline"]

    same = world["annotator"].get(compare_url(world, a=a.id, b=a.id), **HTMX)
    foreign = world["annotator"].get(compare_url(world, a=a.id, b=world["other_run"].id), **HTMX)

    assert same.status_code == 400 and "two different runs" in same.content.decode()
    assert foreign.status_code == 400 and "b" in foreign.context_data["form"].errors
    assert world["annotator"].get(compare_url(world, a=a.id, b=world["candidate"].id, k="x")).status_code == 400


def test_the_compare_fragment_is_only_the_comparison(world):
    response = world["annotator"].get(compare_url(world, a=world["baseline"].id, b=world["candidate"].id), **HTMX)

    content = response.content.decode()
    assert "<html" not in content and content.lstrip().startswith('<div id="comparison"')


# --- downloads -----------------------------------------------------------------------------------


def test_the_downloads_page_offers_all_labels_to_leads_only(world):
    labels = reverse("download_labels", args=[world["project"].id])
    as_annotator = world["annotator"].get(reverse("downloads", args=[world["project"].id])).content.decode()
    as_lead = world["lead"].get(reverse("downloads", args=[world["project"].id])).content.decode()

    for fmt in ("csv", "jsonl", "qrels"):
        assert reverse("download_gold", args=[world["project"].id, fmt]) in as_annotator
    assert reverse("download_run", args=[world["project"].id, world["candidate"].id]) in as_annotator
    assert labels not in as_annotator and labels in as_lead
    assert world["annotator"].get(labels).status_code == 403


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [
        ("csv", "text/csv; charset=utf-8"),
        ("jsonl", "application/x-ndjson; charset=utf-8"),
        ("qrels", "text/plain; charset=utf-8"),
    ],
)
def test_gold_downloads_are_streamed_attachments_equal_to_the_export(world, fmt, content_type):
    response = world["annotator"].get(reverse("download_gold", args=[world["project"].id, fmt]))

    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert response["Content-Disposition"] == f'attachment; filename="fashion-de-gold.{fmt}"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert streamed(response) == "".join(export_gold(world["project"], fmt))


def test_the_gold_csv_download_neutralises_formulas(world):
    Query.objects.filter(project=world["project"], external_id="q1").update(text='=HYPERLINK("http://evil")')
    Product.objects.filter(project=world["project"], external_id="p1").update(title="@SUM(A1:A9)")

    body = streamed(world["annotator"].get(reverse("download_gold", args=[world["project"].id, "csv"])))

    assert "'=HYPERLINK" in body and "'@SUM(A1:A9)" in body
    assert ",=HYPERLINK" not in body and ",@SUM" not in body


def test_the_labels_and_run_downloads_are_streamed_exports(world):
    project, run = world["project"], world["candidate"]
    Label.objects.create(
        project=project, pair=Pair.objects.filter(project=project).first(), source=LabelSource.LLM, rater="m", value=2
    )

    labels = world["lead"].get(reverse("download_labels", args=[project.id]))
    trec = world["annotator"].get(reverse("download_run", args=[project.id, run.id]))

    assert labels["Content-Disposition"] == 'attachment; filename="fashion-de-labels.jsonl"'
    body = streamed(labels)
    assert body == "".join(export_labels_jsonl(project)) and json.loads(body.splitlines()[0])["rater"] == "m"
    assert trec["Content-Disposition"] == 'attachment; filename="fashion-de-candidate.trec"'
    assert trec["Content-Type"] == "text/plain; charset=utf-8"
    assert streamed(trec) == "".join(export_run_trec(run))


def test_an_unknown_format_is_404_and_an_export_the_format_cannot_hold_is_400(world):
    project = world["project"]
    assert world["annotator"].get(reverse("download_gold", args=[project.id, "xlsx"])).status_code == 404

    Query.objects.filter(project=project, external_id="q1").update(external_id="q 1")
    response = world["annotator"].get(reverse("download_gold", args=[project.id, "qrels"]))

    assert response.status_code == 400 and not response.streaming
    assert "whitespace" in response.content.decode()


@pytest.mark.parametrize("source", ["llm", "human", "any"])
def test_annotators_see_metrics_from_gold_only(world, source):
    # Per-query figures from the LLM's labels would give away the labels of blind audits.
    assert world["annotator"].get(metrics_url(world, source=source)).status_code == 403
    assert world["annotator"].get(metrics_url(world)).status_code == 200
    assert world["lead"].get(metrics_url(world, source=source)).status_code == 200
