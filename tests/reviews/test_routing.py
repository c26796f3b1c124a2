"""decide(signals, policy) and audit_draw: pure functions, tested case by case."""

import pytest

from reviews.models import Reason, RoutingPolicy
from reviews.routing import REASON_WEIGHT, PolicyView, Signals, audit_draw, decide

NO_AUDIT = PolicyView(version=1, audit_rate=0.0)


def sig(**kwargs) -> Signals:
    """A confident, agreeing, ordinary pair unless told otherwise."""
    defaults = {"pair_id": 7, "confidence": 0.9, "samples": (2, 2, 2), "query_text": "red dress"}
    defaults.update(kwargs)
    return Signals(**defaults)


def policy(**kwargs) -> PolicyView:
    defaults = {"version": 1, "audit_rate": 0.0}
    defaults.update(kwargs)
    return PolicyView(**defaults)


@pytest.mark.parametrize(
    ("signals", "view", "expected_reasons"),
    [
        # confidence against min_confidence (0.7): strictly below goes to humans
        pytest.param(sig(confidence=0.69), NO_AUDIT, (Reason.LOW_CONFIDENCE,), id="low-confidence-below"),
        pytest.param(sig(confidence=0.7), NO_AUDIT, (), id="low-confidence-at-threshold-is-accepted"),
        pytest.param(sig(confidence=0.71), NO_AUDIT, (), id="low-confidence-above"),
        pytest.param(sig(confidence=0.0), NO_AUDIT, (Reason.LOW_CONFIDENCE,), id="zero-confidence"),
        pytest.param(sig(confidence=None), NO_AUDIT, (), id="no-confidence-signal"),
        pytest.param(
            sig(confidence=0.95), policy(min_confidence=1.0), (Reason.LOW_CONFIDENCE,), id="threshold-one-routes-all"
        ),
        pytest.param(sig(confidence=0.0), policy(min_confidence=0.0), (), id="threshold-zero-routes-none"),
        # the k samples disagree
        pytest.param(sig(samples=(2, 1, 2)), NO_AUDIT, (Reason.SAMPLE_DISAGREEMENT,), id="sample-disagreement-on"),
        pytest.param(sig(samples=(2, 1, 2)), policy(route_sample_disagreement=False), (), id="sample-disagreement-off"),
        pytest.param(sig(samples=(1, 1, 1)), NO_AUDIT, (), id="samples-agree"),
        pytest.param(sig(samples=(1,)), NO_AUDIT, (), id="single-sample"),
        pytest.param(sig(samples=()), NO_AUDIT, (), id="no-samples"),
        # style-sensitive queries, by tag or by keyword
        pytest.param(sig(query_tags=("style-sensitive",)), NO_AUDIT, (Reason.STYLE_SENSITIVE,), id="style-by-tag"),
        pytest.param(sig(query_tags=("brand", "negation")), NO_AUDIT, (), id="other-tags-only"),
        pytest.param(
            sig(query_tags=("style-sensitive",)), policy(route_style_sensitive=False), (), id="style-by-tag-off"
        ),
        pytest.param(
            sig(query_text="elegant red dress"),
            policy(style_keywords=("elegant",)),
            (Reason.STYLE_SENSITIVE,),
            id="style-by-keyword",
        ),
        pytest.param(
            sig(query_text="Elegant Red Dress"),
            policy(style_keywords=("elegant",)),
            (Reason.STYLE_SENSITIVE,),
            id="style-keyword-any-case",
        ),
        pytest.param(
            sig(query_text="elegant, red dress"),
            policy(style_keywords=("elegant",)),
            (Reason.STYLE_SENSITIVE,),
            id="style-keyword-before-comma",
        ),
        pytest.param(
            sig(query_text="black tie dress"),
            policy(style_keywords=("black tie",)),
            (Reason.STYLE_SENSITIVE,),
            id="style-keyword-two-words",
        ),
        pytest.param(
            sig(query_text="inelegant dress"),
            policy(style_keywords=("elegant",)),
            (),
            id="style-keyword-is-a-whole-word",
        ),
        pytest.param(
            sig(query_text="black dress tie"),
            policy(style_keywords=("black tie",)),
            (),
            id="style-keyword-words-in-order",
        ),
        pytest.param(
            sig(query_text="elegant dress"),
            policy(style_keywords=("elegant",), route_style_sensitive=False),
            (),
            id="style-keyword-off",
        ),
        # invalid LLM output
        pytest.param(
            sig(invalid=True, confidence=None, samples=()), NO_AUDIT, (Reason.LLM_INVALID,), id="invalid-routed"
        ),
        pytest.param(
            sig(invalid=True, confidence=None, samples=()), policy(route_invalid=False), (), id="invalid-not-routed"
        ),
        pytest.param(
            sig(invalid=True, confidence=None, samples=()),
            policy(route_invalid=False, audit_rate=1.0),
            (),
            id="invalid-never-audited",
        ),
        # several reasons: all recorded, the strongest first
        pytest.param(
            sig(confidence=0.3, samples=(0, 2), query_tags=("style-sensitive",)),
            NO_AUDIT,
            (Reason.SAMPLE_DISAGREEMENT, Reason.LOW_CONFIDENCE, Reason.STYLE_SENSITIVE),
            id="all-reasons-strongest-first",
        ),
        # audits
        pytest.param(sig(), policy(audit_rate=0.0), (), id="audit-rate-zero"),
        pytest.param(sig(), policy(audit_rate=1.0), (Reason.AUDIT,), id="audit-rate-one"),
        pytest.param(
            sig(confidence=0.1), policy(audit_rate=1.0), (Reason.LOW_CONFIDENCE,), id="audit-only-for-ordinary-pairs"
        ),
    ],
)
def test_it_routes_each_reason_as_the_policy_says(signals, view, expected_reasons):
    decision = decide(signals, view)

    assert decision.reasons == tuple(expected_reasons)
    assert decision.to_humans is bool(expected_reasons)
    if not expected_reasons:
        assert decision.humans == 0 and decision.priority == 0 and decision.blind is False


def test_audited_pairs_are_blind_and_other_routed_pairs_are_not():
    audited = decide(sig(), policy(audit_rate=1.0))
    doubtful = decide(sig(confidence=0.2), policy(audit_rate=1.0))

    assert audited.reasons == (Reason.AUDIT,) and audited.blind is True
    assert doubtful.reasons == (Reason.LOW_CONFIDENCE,) and doubtful.blind is False


def test_the_audit_sample_follows_the_draw_against_the_rate():
    pair_ids = range(1, 2001)
    view = policy(audit_rate=0.25, version=3)

    audited = {pid for pid in pair_ids if decide(sig(pair_id=pid), view).to_humans}

    assert audited == {pid for pid in pair_ids if audit_draw(pid, 3) < 0.25}
    assert 0.2 < len(audited) / 2000 < 0.3


@pytest.mark.parametrize("humans", [1, 2, 3])
def test_routed_pairs_ask_for_humans_per_pair_reviewers(humans):
    assert decide(sig(confidence=0.1), policy(humans_per_pair=humans)).humans == humans
    assert decide(sig(confidence=0.9), policy(humans_per_pair=humans)).humans == 0


@pytest.mark.parametrize(
    ("signals", "expected"),
    [
        (sig(invalid=True, confidence=None, samples=(), traffic=0), 5.0),
        (sig(samples=(0, 2), traffic=0), 4.0),
        (sig(confidence=0.1, traffic=0), 3.0),
        (sig(query_tags=("style-sensitive",), traffic=0), 2.0),
        (sig(confidence=0.1, traffic=9), 30.0),
        (sig(confidence=0.1, samples=(0, 1), traffic=4), 20.0),  # the strongest reason's weight
        (sig(confidence=0.1, traffic=-5), 3.0),  # negative traffic counts as none
    ],
)
def test_priority_is_reason_weight_times_one_plus_traffic(signals, expected):
    assert decide(signals, NO_AUDIT).priority == pytest.approx(expected)


def test_audit_priority_uses_the_audit_weight():
    assert decide(sig(traffic=3), policy(audit_rate=1.0)).priority == pytest.approx(REASON_WEIGHT[Reason.AUDIT] * 4)


def test_a_frequent_doubtful_query_outranks_a_rare_invalid_one():
    cases = {
        "invalid, no traffic": sig(invalid=True, confidence=None, samples=(), traffic=0),
        "low confidence, traffic 100": sig(confidence=0.5, traffic=100),
        "style, traffic 10": sig(query_tags=("style-sensitive",), traffic=10),
        "disagreement, traffic 1": sig(samples=(1, 2), traffic=1),
    }

    ranked = sorted(cases, key=lambda name: decide(cases[name], NO_AUDIT).priority, reverse=True)

    assert ranked == [
        "low confidence, traffic 100",
        "style, traffic 10",
        "disagreement, traffic 1",
        "invalid, no traffic",
    ]


def test_policy_view_reads_a_routing_policy_and_lowercases_its_keywords():
    stored = RoutingPolicy(
        version=4,
        min_confidence=0.8,
        route_sample_disagreement=False,
        route_style_sensitive=True,
        style_keywords=["Elegant", "Boho"],
        route_invalid=False,
        audit_rate=0.1,
        humans_per_pair=2,
    )

    view = PolicyView.of(stored)

    assert view == PolicyView(
        version=4,
        min_confidence=0.8,
        route_sample_disagreement=False,
        route_style_sensitive=True,
        style_keywords=("elegant", "boho"),
        route_invalid=False,
        audit_rate=0.1,
        humans_per_pair=2,
    )
    assert decide(sig(query_text="BOHO dress"), view).reasons == (Reason.STYLE_SENSITIVE,)


def test_audit_draw_is_fixed_per_pair_and_version():
    assert audit_draw(42, 1) == audit_draw(42, 1)
    assert audit_draw(42, 1) != audit_draw(42, 2)
    assert audit_draw(42, 1) != audit_draw(43, 1)


def test_audit_draw_is_roughly_uniform_in_the_unit_interval():
    draws = [audit_draw(pair_id, 1) for pair_id in range(10_000)]

    assert all(0 <= d < 1 for d in draws)
    assert 0.17 <= sum(d < 0.2 for d in draws) / len(draws) <= 0.23
    assert 0.47 <= sum(d < 0.5 for d in draws) / len(draws) <= 0.53
    assert 0.77 <= sum(d < 0.8 for d in draws) / len(draws) <= 0.83


# --- segment rules (the dashboard's accepted recommendations) ------------------------------------

BRAND = policy(route_segments=frozenset({("tag", "brand")}))


@pytest.mark.parametrize(
    ("signals", "view", "expected_reasons"),
    [
        pytest.param(
            sig(segments=(("tag", "brand"), ("locale", "de-DE"))), BRAND, (Reason.SEGMENT,), id="segment-routed"
        ),
        pytest.param(sig(segments=(("tag", "negation"),)), BRAND, (), id="other-segment"),
        pytest.param(sig(segments=(("category", "brand"),)), BRAND, (), id="same-key-other-dimension"),
        pytest.param(sig(segments=(("tag", "brand"),)), NO_AUDIT, (), id="no-rules"),
        pytest.param(sig(segments=()), BRAND, (), id="pair-without-segments"),
        pytest.param(
            sig(segments=(("tag", ""),)),
            policy(route_segments=frozenset({("tag", "")})),
            (Reason.SEGMENT,),
            id="untagged-segment",
        ),
        pytest.param(
            sig(confidence=0.2, segments=(("tag", "brand"),)),
            BRAND,
            (Reason.LOW_CONFIDENCE, Reason.SEGMENT),
            id="segment-after-stronger-reasons",
        ),
        pytest.param(
            sig(query_tags=("style-sensitive",), segments=(("tag", "brand"),)),
            BRAND,
            (Reason.SEGMENT, Reason.STYLE_SENSITIVE),
            id="segment-before-style",
        ),
        pytest.param(sig(invalid=True, segments=(("tag", "brand"),)), BRAND, (Reason.LLM_INVALID,), id="invalid-wins"),
    ],
)
def test_it_routes_pairs_of_segments_below_target(signals, view, expected_reasons):
    assert decide(signals, view).reasons == expected_reasons


def test_a_segment_routed_pair_is_not_blind():
    decision = decide(sig(segments=(("tag", "brand"),)), BRAND)
    assert decision.to_humans and not decision.blind and decision.priority == REASON_WEIGHT[Reason.SEGMENT]


def test_segment_rules_are_read_from_the_stored_policy_and_unknown_ones_ignored():
    stored = RoutingPolicy(
        version=2,
        route_segments=[{"by": "tag", "key": "brand"}, {"by": "reason", "key": "audit"}, {"by": "locale"}, "junk"],
    )

    assert PolicyView.of(stored).route_segments == frozenset({("tag", "brand")})


def test_routing_gives_pairs_the_segments_the_dashboard_measures(project, judge):
    from reviews.services.route import latest_judgments, signals_for

    judged = judge(tags=["brand", "negation"])
    judged.pair.product.category = "shoes"
    judged.pair.product.save(update_fields=["category"])
    untagged = judge()

    signals = signals_for([judged.pair, untagged.pair], latest_judgments([judged.pair.id, untagged.pair.id]))

    assert set(signals[judged.pair.id].segments) == {
        ("tag", "brand"),
        ("tag", "negation"),
        ("category", "shoes"),
        ("locale", ""),
        ("model", "fake-judge"),
        ("prompt", "j1"),
        ("mode", "text"),
    }
    assert ("tag", "") in signals[untagged.pair.id].segments
