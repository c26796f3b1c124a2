"""The lead's agreement dashboard: recommendations per segment against the target and
minimum n, accepting them as a new policy version, the what-if figures of the policy
preview, hard disagreements and their error tags, the SVG charts, the cached snapshots,
fragments vs pages and permissions. Data through the ORM (tests/reviews/conftest.py)."""

import re
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from annotation.models import GoldProvenance, Label, LabelSource, Pair, ProductImage, Role
from annotation.services import project_create
from judging.models import Judgment
from reviews import charts
from reviews.dashboard.disagreements import disagreement_tag_set
from reviews.dashboard.policy import (
    LLM_ALONE,
    NOT_ENOUGH,
    TO_HUMANS,
    recommend,
    rules_after_accepting,
)
from reviews.dashboard.snapshot import dashboard_part, dashboard_touch
from reviews.models import DisagreementTag, Reason, ReviewTask, RoutingPolicy
from reviews.services.route import route_pairs
from reviews.tasks import dashboard_refresh_task

from .lead_actions import assert_lead_actions

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def lead_client(lead):
    client = Client()
    client.force_login(lead)
    return client


@pytest.fixture
def ann_client(member):
    client = Client()
    client.force_login(member("ann"))
    return client


@pytest.fixture
def settled(judge, member):
    """settled(llm, gold, tags=(), confidence=0.9) → a pair the LLM labelled `llm` and
    a human labelled `gold` (human gold)."""
    human = member("hugo")

    def make(llm: int, gold: int, *, tags=(), confidence: float = 0.9, query_text: str = "red dress", traffic: int = 0):
        judged = judge(value=llm, confidence=confidence, tags=tags, query_text=query_text, traffic=traffic)
        pair = judged.pair
        Label.objects.create(
            project_id=pair.project_id, pair=pair, source=LabelSource.HUMAN, rater="hugo", user=human, value=gold
        )
        Pair.objects.filter(id=pair.id).update(gold_value=gold, gold_provenance=GoldProvenance.HUMAN)
        pair.refresh_from_db()
        return judged

    return make


@pytest.fixture
def segmented(settled):
    """Tag "good": the LLM matches gold on 4 pairs (α = 1); tag "bad": the LLM is the
    whole scale off on 4 pairs (α < 0); tag "tiny": a single pair."""
    for llm, gold in ((0, 0), (1, 1), (2, 2), (2, 2)):
        settled(llm, gold, tags=["good"])
    for llm, gold in ((0, 2), (2, 0), (0, 2), (2, 0)):
        settled(llm, gold, tags=["bad"])
    settled(2, 2, tags=["tiny"])


# --- recommendations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("figure", "expected"),
    [
        pytest.param({"value": 0.9, "n": 50}, LLM_ALONE, id="above-target"),
        pytest.param({"value": 0.8, "n": 50}, LLM_ALONE, id="at-target"),
        pytest.param({"value": 0.79, "n": 50}, TO_HUMANS, id="below-target"),
        pytest.param({"value": 0.95, "n": 29}, NOT_ENOUGH, id="below-min-n"),
        pytest.param({"value": None, "n": 50, "reason": "no variation"}, NOT_ENOUGH, id="undefined-alpha"),
    ],
)
def test_it_recommends_per_segment_against_the_target_and_minimum_n(figure, expected):
    assert recommend(figure, target=0.8, min_n=30) == expected


def test_accepting_routes_segments_below_target_and_releases_those_above():
    rows = [
        {"key": "bad", "recommendation": TO_HUMANS},
        {"key": "good", "recommendation": LLM_ALONE},
        {"key": "tiny", "recommendation": NOT_ENOUGH},
    ]
    current = [{"by": "tag", "key": "good"}, {"by": "tag", "key": "tiny"}, {"by": "locale", "key": "de-DE"}]

    rules = rules_after_accepting(current, by="tag", recommendations=rows)

    assert rules == [{"by": "locale", "key": "de-DE"}, {"by": "tag", "key": "bad"}, {"by": "tag", "key": "tiny"}]


def test_the_segment_table_recommends_from_measured_alpha(project, policy, segmented, lead_client):
    response = lead_client.get(
        reverse("reviews:dashboard", args=[project.id]), {"by": "tag", "target": "0.8", "min_n": "3"}
    )

    assert response.status_code == 200
    rows = {row["key"]: row for row in response.context_data["rows"]}
    assert rows["good"]["alpha"]["value"] == pytest.approx(1.0)
    assert rows["bad"]["alpha"]["value"] < 0
    assert (rows["good"]["recommendation"], rows["bad"]["recommendation"], rows["tiny"]["recommendation"]) == (
        LLM_ALONE,
        TO_HUMANS,
        NOT_ENOUGH,
    )
    assert rows["good"]["alpha"]["n"] == 4 and rows["tiny"]["alpha"]["n"] == 1


def test_accept_saves_a_new_version_that_routes_the_low_segments(project, policy, segmented, judge, lead_client):
    # A confident LLM-only pair in the "bad" segment: auto-accepted under v1.
    auto = judge(value=2, confidence=0.95, tags=["bad"])
    other = judge(value=2, confidence=0.95, tags=["good"])
    route_pairs(project=project, pair_ids=[auto.pair.id, other.pair.id])
    assert not ReviewTask.objects.filter(pair=auto.pair).exists()

    response = lead_client.post(
        reverse("reviews:dashboard_accept", args=[project.id]), {"by": "tag", "target": "0.7", "min_n": "3"}
    )

    assert response.status_code == 302
    new = RoutingPolicy.objects.get(project=project, version=2)
    assert new.route_segments == [{"by": "tag", "key": "bad"}]
    assert (new.target_alpha, new.min_segment_n) == (0.7, 3)
    task = ReviewTask.objects.get(pair=auto.pair)
    assert (task.reason, task.policy_version) == (Reason.SEGMENT, 2)
    assert not ReviewTask.objects.filter(pair=other.pair).exists()
    # Accepting the same again changes nothing: no version 3.
    lead_client.post(
        reverse("reviews:dashboard_accept", args=[project.id]), {"by": "tag", "target": "0.7", "min_n": "3"}
    )
    assert RoutingPolicy.objects.filter(project=project).count() == 2


def test_bad_dashboard_settings_are_a_400(project, policy, lead_client):
    url = reverse("reviews:dashboard", args=[project.id])
    assert lead_client.get(url, {"by": "reason"}).status_code == 400  # not a routable dimension
    assert lead_client.get(url, {"target": "high"}).status_code == 400
    assert lead_client.get(url, {"target": "2"}).status_code == 400
    assert lead_client.get(url, {"min_n": "0"}).status_code == 400


# --- what-if ---------------------------------------------------------------------------------


def test_the_preview_estimates_hours_cost_and_gold_accuracy(project, policy, judge, member, lead_client):
    human = member("hugo")
    auto = [judge(value=2, confidence=c) for c in (0.9, 0.9, 0.85)]
    doubtful = judge(value=1, confidence=0.5)
    route_pairs(project=project, pair_ids=[j.pair.id for j in [*auto, doubtful]])
    # Four audited pairs (blind random sample): 10/20/30/60 s per label; the LLM matched
    # the human on two of the three confident ones; the fourth (0.5) a draft at 0.88 would route.
    for (llm, human_value, confidence), seconds in zip(
        ((2, 2, 0.99), (1, 1, 0.99), (2, 0, 0.99), (1, 1, 0.5)), (10, 20, 30, 60)
    ):
        judged = judge(value=llm, confidence=confidence)
        label = Label.objects.create(
            project=project, pair=judged.pair, source=LabelSource.HUMAN, rater="hugo", user=human, value=human_value
        )
        ReviewTask.objects.create(
            project=project,
            pair=judged.pair,
            reasons=[Reason.AUDIT],
            reason=Reason.AUDIT,
            policy_version=1,
            status=ReviewTask.Status.DONE,
            label=label,
            time_spent_ms=seconds * 1000,
            blind=True,
        )
        Pair.objects.filter(id=judged.pair.id).update(gold_value=human_value, gold_provenance=GoldProvenance.HUMAN)
    Judgment.objects.filter(project=project).update(cost_eur=Decimal("0.01"))
    form = {
        "min_confidence": "0.88",
        "route_sample_disagreement": "on",
        "route_style_sensitive": "on",
        "style_keywords": "",
        "route_invalid": "on",
        "audit_rate": "0",
        "humans_per_pair": "2",
        "route_segments": "",
        "target_alpha": "0.8",
        "min_segment_n": "30",
        "hourly_rate": "40",
        "note": "",
    }

    response = lead_client.post(reverse("reviews:policy_preview", args=[project.id]), form, **HTMX)

    assert response.status_code == 200
    w = response.context_data["preview"]["whatif"]
    assert (response.context_data["preview"]["to_humans"], response.context_data["preview"]["to_llm"]) == (1, 0)
    assert (w["open_pairs"], w["pairs_to_humans"], w["labels"]) == (1, 2, 4)
    assert (w["seconds_per_label"], w["seconds_basis"]) == (25.0, 4)
    assert w["hours"] == pytest.approx(4 * 25 / 3600)
    assert w["human_cost"] == pytest.approx(Decimal(40) * Decimal("0.027778"))
    assert w["llm_cost"]["total"] == Decimal("0.08") and w["llm_cost"]["judgments"] == 8
    assert (w["audit_accuracy"]["n"], w["audit_accuracy"]["audits"]) == (3, 4)
    assert w["audit_accuracy"]["value"] == pytest.approx(2 / 3)
    assert (w["gold_by_llm"], w["gold_by_people"]) == (2, 6)
    assert w["expected_gold_accuracy"] == pytest.approx((2 * 2 / 3 + 6) / 8)
    html = response.content.decode()
    assert "median of 4 recorded reviews" in html and "from 3 of 4 audited pairs" in html


# --- hard disagreements ------------------------------------------------------------------------


@pytest.fixture
def far_apart(settled):
    return {
        "top-bottom": settled(0, 2, query_text="black leather boots", traffic=10),
        "bottom-top": settled(2, 0, query_text="<b>bold</b> query", traffic=5),
        "one-step": settled(0, 1, query_text="blue shirt"),
        "agree": settled(2, 2, query_text="red dress"),
    }


def test_hard_disagreements_lists_pairs_a_whole_scale_apart(project, policy, far_apart, lead_client):
    url = reverse("reviews:disagreements", args=[project.id])

    default = lead_client.get(url)
    wider = lead_client.get(url, {"gap": "1"})

    listed = [row["pair"].id for row in default.context_data["rows"]]
    assert listed == [far_apart["top-bottom"].pair.id, far_apart["bottom-top"].pair.id]
    assert {row["pair"].id for row in wider.context_data["rows"]} == {
        far_apart[k].pair.id for k in ("top-bottom", "bottom-top", "one-step")
    }
    html = default.content.decode()
    assert "&lt;b&gt;bold&lt;/b&gt; query" in html and "<b>bold</b>" not in html
    assert lead_client.get(url, {"gap": "3"}).status_code == 400
    fragment = lead_client.get(url, HTTP_HX_REQUEST="true")
    assert fragment.content.decode().lstrip().startswith('<section id="dis-list"')


def test_a_lead_tags_a_disagreement_and_sees_the_counts(project, policy, far_apart, lead, lead_client):
    pair = far_apart["top-bottom"].pair
    url = reverse("reviews:disagreement_tag", args=[project.id, pair.id])
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(lead)

    without_token = strict.post(url, {"category": "colour"}, **HTMX)
    page = strict.get(reverse("reviews:disagreements", args=[project.id]))
    token = page.cookies["csrftoken"].value
    tagged = strict.post(url, {"category": "colour"}, HTTP_X_CSRFTOKEN=token, **HTMX)

    assert without_token.status_code == 403
    assert tagged.status_code == 200
    assert DisagreementTag.objects.get(pair=pair).category == "colour"
    html = tagged.content.decode()
    assert html.lstrip().startswith(f'<tr id="dis-{pair.id}"')
    assert (
        '<section id="dis-counts" class="card" hx-swap-oob="true">' in html
        and '<li data-category="colour"><span>Colour</span> <span class="num">1</span>' in html
    )
    # Re-tagging replaces; an empty category removes the tag.
    lead_client.post(url, {"category": "brand"}, **HTMX)
    assert DisagreementTag.objects.get(pair=pair).category == "brand"
    lead_client.post(url, {"category": ""}, **HTMX)
    assert not DisagreementTag.objects.filter(pair=pair).exists()
    assert lead_client.post(url, {"category": "vibes"}, **HTMX).status_code == 400
    agree = far_apart["agree"].pair
    assert (
        lead_client.post(
            reverse("reviews:disagreement_tag", args=[project.id, agree.id]), {"category": "brand"}
        ).status_code
        == 404
    )


def test_annotators_and_outsiders_cannot_see_or_tag(project, policy, far_apart, ann_client, member):
    pair = far_apart["top-bottom"].pair
    other = project_create(name="elsewhere")
    outsider = Client()
    outsider.force_login(member("otto", Role.LEAD, of=other))
    urls = [
        ("get", reverse("reviews:dashboard", args=[project.id])),
        ("get", reverse("reviews:disagreements", args=[project.id])),
        ("post", reverse("reviews:disagreement_tag", args=[project.id, pair.id])),
        ("post", reverse("reviews:dashboard_accept", args=[project.id])),
    ]
    for method, url in urls:
        assert getattr(ann_client, method)(url, {"category": "brand"} if method == "post" else {}).status_code == 403, (
            url
        )
        assert getattr(outsider, method)(url).status_code == 404, url
    assert not DisagreementTag.objects.exists()
    assert Client().get(urls[0][1]).status_code == 302  # to the login page


# --- page, fragments, charts, cache -------------------------------------------------------------


def test_the_dashboard_page_and_its_segment_fragment(project, policy, segmented, lead_client):
    url = reverse("reviews:dashboard", args=[project.id])

    page = lead_client.get(url)
    fragment = lead_client.get(url, {"by": "tag", "target": "0.5", "min_n": "3"}, **HTMX)

    html = page.content.decode()
    assert "<html" in html and "Annotators" in html and html.count("<svg") == 3
    assert "α LLM vs human gold" in html and "acc@2" in html
    body = fragment.content.decode()
    assert body.lstrip().startswith('<section id="db-segments"') and "<html" not in body
    assert "Route to humans" in body
    assert page["Vary"] and "HX-Request" in page["Vary"]


def test_segment_names_and_raters_are_escaped_on_the_page(project, policy, settled, lead_client):
    settled(2, 2, tags=["<script>alert(1)</script>"])

    html = lead_client.get(reverse("reviews:dashboard", args=[project.id])).content.decode()

    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_charts_escape_every_text():
    evil = '<script>alert("x")</script>'
    svgs = [
        charts.heatmap(
            [[1, 2], [3, 4]], rows=[evil, "b"], columns=["a", evil], title=evil, row_title=evil, column_title="c"
        ),
        charts.grouped_bars([(evil, [1, 2])], series=[evil, "s"], title=evil),
        charts.line_chart([(evil, 0.5), ("w2", 0.7)], title=evil),
    ]
    for svg in svgs:
        assert svg.startswith("<svg") and svg.endswith("</svg>")
        assert "<script" not in svg and "&lt;script&gt;" in svg
    assert charts.line_chart([], title="empty").count("no data yet") == 1


def test_heatmap_writes_the_counts_of_the_matrix():
    svg = charts.heatmap(
        [[5, 0], [1, 7]], rows=["no", "yes"], columns=["no", "yes"], title="t", row_title="r", column_title="c"
    )
    counts = [int(count) for count in re.findall(r'class="chart-count[^"]*">(\d+)<', svg)]
    assert counts == [5, 0, 1, 7]


def test_the_snapshot_is_served_from_cache_until_a_label_write_then_refreshed(
    project, policy, settled, django_capture_on_commit_callbacks, monkeypatch
):
    settled(2, 2, tags=["brand"])
    first = dashboard_part(project, "core")
    cached = dashboard_part(project, "core")
    settled(0, 2, tags=["brand"])  # label writes: the snapshot is behind them by itself
    dashboard_touch(project=project)  # as a gold or policy change also marks it
    queued = []
    monkeypatch.setattr(dashboard_refresh_task, "delay", lambda *args: queued.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        stale = dashboard_part(project, "core")
    with django_capture_on_commit_callbacks(execute=True):
        again = dashboard_part(project, "core")  # the refresh is already queued
    dashboard_refresh_task(*queued[0])
    fresh = dashboard_part(project, "core")

    assert first["data"]["summary"]["counts"]["pairs_human_gold"] == 1
    assert cached["data"] == first["data"] and not cached["stale"]
    assert stale["stale"] and stale["refreshing"] and stale["data"] == first["data"]
    assert again["refreshing"] and queued == [(project.id, "core")]
    assert fresh["data"]["summary"]["counts"]["pairs_human_gold"] == 2 and not fresh["stale"]


def test_a_lead_sets_segment_rules_and_hourly_rate_by_hand(project, policy, lead_client):
    form = {
        "min_confidence": "0.7",
        "route_sample_disagreement": "on",
        "route_style_sensitive": "on",
        "style_keywords": "",
        "route_invalid": "on",
        "audit_rate": "0",
        "humans_per_pair": "1",
        "route_segments": "tag: brand\ncategory: Shoes\ntag: brand",
        "target_alpha": "0.75",
        "min_segment_n": "30",
        "hourly_rate": "42.50",
        "note": "by hand",
    }
    url = reverse("reviews:policy", args=[project.id])

    saved = lead_client.post(url, form)
    refused = lead_client.post(url, {**form, "route_segments": "colour: red"})

    assert saved.status_code == 302
    new = RoutingPolicy.objects.get(project=project, version=2)
    assert new.route_segments == [{"by": "category", "key": "Shoes"}, {"by": "tag", "key": "brand"}]
    assert (new.target_alpha, new.hourly_rate) == (0.75, Decimal("42.50"))
    assert refused.status_code == 400 and "dimension: key" in refused.content.decode()
    assert RoutingPolicy.objects.filter(project=project).count() == 2


def test_a_big_projects_first_view_polls_until_the_figures_are_computed(
    project, policy, segmented, lead_client, monkeypatch
):
    from reviews.dashboard import snapshot
    from reviews.dashboard.snapshot import dashboard_refresh

    monkeypatch.setattr(snapshot, "INLINE_LABELS", 1)  # this project counts as big
    url = reverse("reviews:dashboard", args=[project.id])

    first = lead_client.get(url)
    assert first.status_code == 200 and "data-dashboard-computing" in first.content.decode()
    poll = lead_client.get(url, {"waiting": "1"}, **HTMX)
    assert "data-dashboard-computing" in poll.content.decode() and "HX-Refresh" not in poll

    for part in ("core", "segments:tag"):  # what the scheduled refresh task does on a worker
        dashboard_refresh(project=project, part=part)
    ready = lead_client.get(url, {"waiting": "1"}, **HTMX)
    page = lead_client.get(url)

    assert ready["HX-Refresh"] == "true"
    assert "data-dashboard-computing" not in page.content.decode() and "α LLM vs human gold" in page.content.decode()


def test_without_postgresql_the_dashboard_says_so_instead_of_failing(project, policy, lead_client, monkeypatch):
    import importlib

    # (reviews.views re-exports a view named `dashboard`, which hides the module.)
    dashboard_views = importlib.import_module("reviews.views.dashboard")
    monkeypatch.setattr(dashboard_views, "agreement_supported", lambda: False)  # as on the embedded SQLite

    response = lead_client.get(reverse("reviews:dashboard", args=[project.id]))

    assert response.status_code == 200
    assert "need PostgreSQL" in response.content.decode()


def test_accepting_while_the_figures_are_recomputed_changes_nothing(
    project, policy, segmented, lead_client, monkeypatch
):
    from django.core.cache import cache

    from reviews.dashboard import snapshot

    monkeypatch.setattr(snapshot, "INLINE_LABELS", 1)  # big: a missing snapshot is not computed inline
    cache.delete(snapshot._key(project, "segments:tag"))  # the snapshot the lead looked at was evicted

    response = lead_client.post(
        reverse("reviews:dashboard_accept", args=[project.id]), {"by": "tag", "target": "0.8", "min_n": "1"}
    )

    assert response.status_code == 302
    assert RoutingPolicy.objects.filter(project=project).count() == 1


# --- presentation (issue #14): labels that do not overlap, a legend with values, and ---
# --- "Accept recommendations" disabled when nothing would change -----------------------


def test_accept_is_disabled_once_the_policy_routes_the_segments_as_recommended(project, policy, segmented, lead_client):
    url = reverse("reviews:dashboard", args=[project.id])
    settings = {"by": "tag", "target": "0.7", "min_n": "3"}

    before = lead_client.get(url, settings)
    lead_client.post(reverse("reviews:dashboard_accept", args=[project.id]), settings)
    after = lead_client.get(url, settings)
    other_target = lead_client.get(url, {**settings, "target": "0.6"})

    assert before.context_data["accept_changes"] is True
    assert 'id="accept-recommendations">Accept recommendations as version 2' in before.content.decode()
    assert after.context_data["accept_changes"] is False
    page = after.content.decode()
    assert 'id="accept-recommendations" disabled' in page and "Nothing would change: policy v2" in page
    # A new target is a change worth a version even when the segments stay as they are.
    assert other_target.context_data["accept_changes"] is True


def test_confusion_matrix_labels_wrap_to_their_cell_and_never_overlap():
    names = ["1 · irrelevant", "2 · acceptable substitute", "3 · highly relevant"]
    svg = charts.heatmap(
        [[1, 0, 0], [0, 1, 0], [0, 0, 1]], rows=names, columns=names, title="t", row_title="r", column_title="c"
    )

    column_lines = [line for name in names for line in charts.wrap(name)]
    assert column_lines == ["1 ·", "irrelevant", "2 ·", "acceptable", "substitute", "3 · highly", "relevant"]
    # 11 characters of 11 px type fit the 76 px cell; no label runs into its neighbour.
    assert all(len(line) <= 11 for line in column_lines)
    assert all(f">{line}</tspan>" in svg for line in column_lines)


def test_the_distribution_legend_names_each_label_with_its_count_and_share_per_source():
    svg = charts.grouped_bars([("llm", [1, 3]), ("human", [2, 2])], series=["irrelevant", "relevant"], title="t")

    assert '<tspan class="chart-count">irrelevant</tspan>: llm 1 (25%) · human 2 (50%)' in svg
    assert '<tspan class="chart-count">relevant</tspan>: llm 3 (75%) · human 2 (50%)' in svg


# --- hard disagreements: thumbnail, link, category filter, adjudication and override ---


def test_disagreements_show_a_thumbnail_and_link_to_the_pair(project, policy, far_apart, lead_client):
    pair = far_apart["top-bottom"].pair
    image = ProductImage.objects.create(
        product=pair.product, position=0, source="x", status="stored", stored_name="ab/x.jpg", sha256="b" * 64
    )

    html = lead_client.get(reverse("reviews:disagreements", args=[project.id])).content.decode()

    assert f'src="{reverse("product_image", args=[image.id])}"' in html
    assert f'href="{reverse("judging:pair_detail", args=[project.id, pair.id])}"' in html


def test_disagreements_filter_by_error_category(project, policy, far_apart, lead, lead_client):
    tagged = far_apart["top-bottom"].pair
    disagreement_tag_set(project=project, pair=tagged, user=lead, category="colour")
    url = reverse("reviews:disagreements", args=[project.id])

    def listed(category):
        return [row["pair"].id for row in lead_client.get(url, {"category": category}).context_data["rows"]]

    assert listed("colour") == [tagged.id]
    assert listed("untagged") == [far_apart["bottom-top"].pair.id]
    assert listed("brand") == []
    assert lead_client.get(url, {"category": "nonsense"}).status_code == 400


def test_a_lead_sends_a_disagreement_to_adjudication_once(project, policy, far_apart, lead_client, member):
    pair = far_apart["top-bottom"].pair
    url = reverse("reviews:disagreement_action", args=[project.id, pair.id])

    first = lead_client.post(url, {"action": "adjudicate"}, **HTMX)
    again = lead_client.post(url, {"action": "adjudicate"}, **HTMX)

    task = ReviewTask.objects.get(pair=pair, kind=ReviewTask.Kind.ADJUDICATION)
    assert (task.status, task.reason) == ("open", Reason.HUMAN_VS_LLM)
    assert first.status_code == 200 and "waiting for adjudication" in first.content.decode()
    assert again.status_code == 409 and "waiting for adjudication already" in again.content.decode()
    annotator = Client()
    annotator.force_login(member("ann"))
    assert annotator.post(url, {"action": "adjudicate"}, **HTMX).status_code == 403


def test_disagreement_rows_offer_the_shared_lead_actions(project, policy, far_apart, lead_client):
    pair, waiting = far_apart["top-bottom"].pair, far_apart["bottom-top"].pair
    levels = dict(project.levels.values_list("value", "name"))
    lead_client.post(reverse("reviews:disagreement_action", args=[project.id, waiting.id]), {"action": "adjudicate"})

    html = lead_client.get(reverse("reviews:disagreements", args=[project.id])).content.decode()

    url = reverse("reviews:disagreement_action", args=[project.id, pair.id])
    assert_lead_actions(html, url, f"dis-{pair.id}", levels)
    # Already waiting for adjudication: not offered again, overriding still is.
    url = reverse("reviews:disagreement_action", args=[project.id, waiting.id])
    assert_lead_actions(html, url, f"dis-{waiting.id}", levels, adjudicating=True)
    assert html.count("waiting for adjudication") == 1


def test_a_lead_overrides_gold_with_provenance_recorded(project, policy, far_apart, lead, lead_client):
    pair = far_apart["top-bottom"].pair  # LLM 0, human gold 2
    url = reverse("reviews:disagreement_action", args=[project.id, pair.id])
    lead_client.post(url, {"action": "adjudicate"}, **HTMX)

    response = lead_client.post(url, {"action": "override", "value": "0"}, **HTMX)
    other = reverse("reviews:disagreement_action", args=[project.id, far_apart["bottom-top"].pair.id])
    off_scale = lead_client.post(other, {"action": "override", "value": "7"}, **HTMX)
    settled_now = lead_client.post(url, {"action": "override", "value": "2"}, **HTMX)

    pair.refresh_from_db()
    assert response.status_code == 200 and "provenance: adjudicated" in response.content.decode()
    assert (pair.gold_value, pair.gold_provenance, pair.gold_policy_version) == (0, "adjudicated", policy.version)
    record = Label.objects.filter(pair=pair, source=LabelSource.HUMAN).order_by("-id").first()
    assert (record.user, record.rater, record.value) == (lead, lead.username, 0)
    # The open adjudication is moot now.
    assert not ReviewTask.objects.filter(pair=pair, kind="adjudication", status="open").exists()
    assert off_scale.status_code == 400 and "not a label of this project" in off_scale.content.decode()
    # Gold and the LLM agree now: no longer a hard disagreement to act on.
    assert settled_now.status_code == 404
