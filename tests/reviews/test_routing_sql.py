"""routing_sql (decide in SQL) against routing.decide, the reference: the same decision,
reasons, blindness and priority for every pair, on varied signals and policies."""

import random
import threading
import time

import pytest
from django.db import connection

from annotation.models import GoldProvenance, Pair, Product, Query
from judging.models import Judgment
from reviews.models import PairSignal, Reason
from reviews.routing import PolicyView, audit_draw, decide
from reviews.routing_sql import audit_draws, decisions_sql
from reviews.services.reroute import reroute_preview
from reviews.services.route import latest_judgments, route_pairs, signals_for
from tests.builders import held_transaction

TEXTS = ["red dress", "Elegant evening gown", "black-tie suit!", "BOHO  skirt", "élégant top", "casualwear", "jeans"]
TAGS = [(), ("style-sensitive",), ("brand",), ("brand", "colour"), (7,)]


@pytest.fixture
def varied(project, judge, make_pair):
    """About 150 pairs over every signal decide() reads, some with two judgments."""
    rng = random.Random(16)
    pairs = []
    for i in range(150):
        status = Judgment.Status.INVALID if i % 13 == 0 else Judgment.Status.OK
        confidence = rng.choice([None, 0.1, 0.5, 0.69, 0.7, 0.71, 0.85, 0.9, 0.99, 1.0])
        samples = rng.choice([None, [], [2], [2, 2, 2], [1, 2], [0, 0, 1]])
        judged = judge(
            value=rng.choice([0, 1, 2]),
            confidence=confidence,
            samples=samples,
            status=status,
            query_text=rng.choice(TEXTS),
            tags=rng.choice(TAGS),
            traffic=rng.choice([0, 3, 250]),
        )
        if i % 11 == 0:  # a newer judgment replaces the first one's signals
            judge(value=1, confidence=rng.choice([0.2, 0.95]), samples=[1, 2] if i % 2 else [1], pair=judged.pair)
        Judgment.objects.filter(pair=judged.pair).update(
            model=rng.choice(["m-a", "m-b"]),
            prompt_version=rng.choice(["j1", "j2"]),
            mode=rng.choice(["text", "image"]),
        )
        Query.objects.filter(id=judged.pair.query_id).update(locale=rng.choice(["", "de-DE", "en-GB"]))
        Product.objects.filter(id=judged.pair.product_id).update(category=rng.choice(["", "dresses", "shoes"]))
        pairs.append(judged.pair)
    pairs.append(make_pair("unjudged dress"))  # no judgment: no decision in either
    return pairs


def python_decisions(pairs, view):
    fresh = list(Pair.objects.filter(id__in=[p.id for p in pairs]).select_related("query"))
    signals = signals_for(fresh, latest_judgments([p.id for p in fresh]))
    out = {}
    for pair_id, s in signals.items():
        d = decide(s, view)
        out[pair_id] = (d.to_humans, [str(r) for r in d.reasons], d.blind, d.priority)
    return out


def sql_decisions(project, view):
    sql, params = decisions_sql(project, view, "SELECT id FROM annotation_pair WHERE project_id = %(project)s")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT pair_id, to_humans, reasons, blind, priority FROM ({sql}) d", {**params, "project": project.id}
        )
        return {row[0]: (row[1], list(row[2]), row[3], row[4]) for row in cursor.fetchall()}


VIEWS = [
    PolicyView(version=1, audit_rate=0.0),
    PolicyView(version=2, min_confidence=0.9, audit_rate=0.3),
    PolicyView(
        version=3, min_confidence=0.0, route_sample_disagreement=False, route_style_sensitive=False, audit_rate=0.5
    ),
    PolicyView(
        version=4, route_invalid=False, audit_rate=1.0, style_keywords=("elegant", "black tie", "boho", "élégant")
    ),
    PolicyView(version=5, min_confidence=1.0, style_keywords=("casual",), audit_rate=0.2, humans_per_pair=2),
    PolicyView(
        version=6,
        route_style_sensitive=False,
        audit_rate=0.1,
        route_segments=frozenset({("tag", "brand"), ("tag", ""), ("locale", "en-GB")}),
    ),
    PolicyView(
        version=7,
        min_confidence=0.3,
        audit_rate=0.05,
        route_segments=frozenset({("category", "shoes"), ("model", "m-b"), ("prompt", "j2"), ("mode", "image")}),
    ),
    PolicyView(
        version=8, min_confidence=0.5, route_segments=frozenset({("category", ""), ("locale", "")}), audit_rate=0.0
    ),
]


@pytest.mark.parametrize("view", VIEWS, ids=lambda v: f"v{v.version}")
def test_sql_decides_every_pair_as_decide_does(project, varied, view):
    python = python_decisions(varied, view)
    sql = sql_decisions(project, view)

    assert sql == python
    assert varied[-1].id not in sql
    # The cases are not all alike: both outcomes and several reasons occur.
    assert {d[0] for d in python.values()} == {True, False}
    assert len({r for d in python.values() for r in d[1]}) >= 2


def test_the_cases_cover_every_reason(project, varied):
    seen = set()
    for view in VIEWS:
        seen.update(r for d in sql_decisions(project, view).values() for r in d[1])
    assert seen == {
        Reason.LLM_INVALID,
        Reason.SAMPLE_DISAGREEMENT,
        Reason.LOW_CONFIDENCE,
        Reason.SEGMENT,
        Reason.STYLE_SENSITIVE,
        Reason.AUDIT,
    }


def test_sql_audit_draws_are_the_python_draws(db):
    rng = random.Random(7)
    ids = [1, 2, 3, 2**31 - 1, 2**31, 2**53 + 1, 2**63 - 1] + [rng.randrange(1, 2**40) for _ in range(2000)]
    for version in (1, 2, 37):
        drawn = audit_draws(ids, version)
        assert drawn == {i: audit_draw(i, version) for i in ids}


def test_an_audit_rate_between_two_draws_splits_them_the_same_way(project, judge):
    """A rate equal to a pair's draw leaves it out in both (draw < rate), one just above takes it."""
    pairs = [judge(value=2, confidence=0.99, samples=[2]).pair for _ in range(20)]
    draws = sorted(audit_draw(p.id, 9) for p in pairs)
    for rate in (draws[5], draws[5] + 1e-12, draws[-1], 1.0):
        view = PolicyView(version=9, audit_rate=rate, route_style_sensitive=False)
        python, sql = python_decisions(pairs, view), sql_decisions(project, view)
        assert sql == python
        assert sum(d[0] for d in sql.values()) == sum(1 for d in draws if d < rate)


def test_pair_signals_follow_every_judgment_write(project, judge):
    """The triggers keep one row per judged pair: the newest judgment's, after an insert,
    an update and a delete."""
    first = judge(value=2, confidence=0.9, samples=[2, 2])
    pair = first.pair
    assert PairSignal.objects.get(pair=pair).judgment_id == first.judgment.id

    newer = judge(value=1, confidence=0.4, samples=[1, 2], pair=pair)
    signal = PairSignal.objects.get(pair=pair)
    assert (signal.judgment_id, signal.confidence, signal.disagree, signal.invalid) == (
        newer.judgment.id,
        0.4,
        True,
        False,
    )

    Judgment.objects.filter(id=newer.judgment.id).update(model="m-z", samples=[1, 1])
    signal = PairSignal.objects.get(pair=pair)
    assert (signal.judgment_id, signal.model, signal.disagree) == (newer.judgment.id, "m-z", False)

    Judgment.objects.filter(id=newer.judgment.id).delete()
    assert PairSignal.objects.get(pair=pair).judgment_id == first.judgment.id
    Judgment.objects.filter(pair=pair).delete()
    assert not PairSignal.objects.filter(pair=pair).exists()


def auto_flags(project) -> dict[int, bool]:
    return dict(PairSignal.objects.filter(project=project).values_list("pair_id", "auto_accepted"))


def auto_gold(project) -> dict[int, bool]:
    judged = PairSignal.objects.filter(project=project).values("pair_id")
    return {
        pid: provenance == GoldProvenance.LLM_AUTO
        for pid, provenance in Pair.objects.filter(id__in=judged).values_list("id", "gold_provenance")
    }


def test_the_auto_accepted_flag_follows_the_pairs_gold(project, varied, judge):
    """PairSignal.auto_accepted is exactly "gold by llm-auto" after routing, a bulk gold
    change, a reviewer's gold, a new judgment of an auto-accepted pair, and its deletion."""
    assert not any(auto_flags(project).values())
    route_pairs(project=project, pair_ids=[p.id for p in varied], view=PolicyView(version=1, audit_rate=0.0))
    flags = auto_flags(project)
    assert flags == auto_gold(project)
    assert 0 < sum(flags.values()) < len(flags)

    auto = [pid for pid, on in flags.items() if on]
    # One statement moving some auto-accepted pairs to human gold and others to no gold.
    Pair.objects.filter(id__in=auto[:3]).update(gold_provenance=GoldProvenance.HUMAN)
    Pair.objects.filter(id__in=auto[3:5]).update(gold_value=None, gold_provenance="")
    # A pair given to the LLM again; an update that leaves the provenance alone.
    Pair.objects.filter(id=auto[0]).update(gold_provenance=GoldProvenance.LLM_AUTO)
    Pair.objects.filter(id__in=auto[5:8]).update(gold_policy_version=7)
    assert auto_flags(project) == auto_gold(project)
    assert auto_flags(project)[auto[0]] and not auto_flags(project)[auto[1]]

    # A newer judgment of an auto-accepted pair keeps the flag (the upsert leaves it
    # alone); signals re-derived after that judgment's deletion take it from the pair.
    pair = Pair.objects.get(id=auto[6])
    newer = judge(value=0, confidence=0.31, samples=[0], pair=pair)
    assert PairSignal.objects.get(pair=pair).judgment_id == newer.judgment.id
    assert auto_flags(project)[pair.id] is True
    Judgment.objects.filter(id=newer.judgment.id).delete()
    assert auto_flags(project)[pair.id] is True
    assert auto_flags(project) == auto_gold(project)


def _new_judgment(pair_id: int) -> None:
    newer = Judgment.objects.filter(pair_id=pair_id).first()
    assert newer is not None
    newer.pk, newer.label, newer.cache_key, newer.confidence = None, None, f"race-{pair_id}-{time.time_ns()}", 0.42
    newer.save()


def _gold_to(pair_id: int, provenance: str) -> None:
    Pair.objects.filter(id=pair_id).update(gold_value=2 if provenance else None, gold_provenance=provenance)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("gold_first", [True, False], ids=["gold-commits-first", "judgment-commits-first"])
@pytest.mark.parametrize("provenance", [GoldProvenance.LLM_AUTO, ""], ids=["to-llm-auto", "to-no-gold"])
def test_the_auto_accepted_flag_is_right_when_a_judgment_and_a_gold_change_of_one_pair_race(
    project, judge, gold_first, provenance
):
    """A reroute (the pair's gold) and a judge chunk (a newer judgment of the pair) in two
    transactions at once: whichever commits first, the flag ends as the gold says."""
    pair = judge(value=2, confidence=0.9, samples=[2]).pair
    _gold_to(pair.id, "" if provenance else GoldProvenance.LLM_AUTO)  # the other state first
    writes = [lambda: _gold_to(pair.id, provenance), lambda: _new_judgment(pair.id)]
    if not gold_first:
        writes.reverse()
    events = [(threading.Event(), threading.Event()) for _ in writes]
    threads = [threading.Thread(target=held_transaction, args=(w, *e)) for w, e in zip(writes, events, strict=True)]
    threads[0].start()
    assert events[0][0].wait(10)
    threads[1].start()  # it waits on the first one's row locks
    events[0][1].set()
    threads[0].join(10)
    assert events[1][0].wait(10)
    events[1][1].set()
    threads[1].join(10)

    signal = PairSignal.objects.get(pair=pair)
    assert signal.confidence == 0.42  # the newer judgment's signals
    assert signal.auto_accepted is (provenance == GoldProvenance.LLM_AUTO)


@pytest.mark.parametrize("view", VIEWS[1:5], ids=lambda v: f"v{v.version}")
def test_the_sql_preview_counts_what_the_python_preview_counts(project, varied, view, monkeypatch):
    """The embedded SQLite keeps the Python path: both give the same preview."""
    route_pairs(project=project, pair_ids=[p.id for p in varied], view=PolicyView(version=1, audit_rate=0.0))
    sql = reroute_preview(project=project, policy=view)
    monkeypatch.setattr(connection, "vendor", "sqlite")

    python = reroute_preview(project=project, policy=view)

    assert (sql.to_humans, sql.to_llm, sql.reasons) == (python.to_humans, python.to_llm, python.reasons)
    assert sql.to_humans + sql.to_llm > 0
