"""The offline judge's semantic signal and calibration: the WordLlama model loads from the
installed package without any network, similarity ranks products sensibly, confidence is
a monotone function of the evidence, and on real ESCI pairs the judge beats the majority
class. Pure Python: no database."""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest

from annotation.scales import BUILTIN_SCALES
from bench.bench_offline_judge import (
    DEFAULT_FILE,
    DEFAULT_MIN_CONFIDENCE,
    even_odds,
    guidelines,
    judge_all,
    macro_f1,
    read_esci,
    weighted,
)
from judging.contracts import GuidelineDraft, LevelInfo, ProductContext, QueryContext, Requirement
from judging.offline import offline_guideline, offline_judge, semantic
from judging.offline.calibration import FITTED
from judging.offline.checks import Check
from judging.offline.judge import Assessment, decide
from reviews.models import RoutingPolicy
from reviews.routing import PolicyView

ROOT = Path(__file__).resolve().parents[2]
ESCI = [LevelInfo(level.value, level.name) for level in BUILTIN_SCALES["esci"]]
# The calibration file is not part of the repository; point here at another copy.
CALIBRATION_FILE = Path(os.environ.get("QRELAY_ESCI_CALIBRATION", DEFAULT_FILE))
needs_calibration_file = pytest.mark.skipif(
    not CALIBRATION_FILE.is_file(), reason=f"no ESCI calibration file at {CALIBRATION_FILE}"
)

KETTLE = ProductContext(
    "k1",
    "Pohl Schmitt 1.7L Electric Kettle with Upgraded Stainless Steel Filter, Inner Lid & Bottom",
    brand="Pohl Schmitt",
    description="<b>Boil water fast</b> with this cordless electric kettle.",
)
CAMERA = ProductContext(
    "c1", "Spy Camera - Hidden Camera - USB Charger - Surveillance Camera - Full HD 1080p", brand="LEXPERT"
)


def guideline(text: str) -> GuidelineDraft:
    return offline_guideline(QueryContext(text=text))


# --- the model ------------------------------------------------------------------------

_OFFLINE_PROBE = textwrap.dedent(
    """
    import json, socket, sys

    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(repr(args[:2]))
        raise OSError("network disabled by the test")

    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.create_connection = refuse
    socket.getaddrinfo = refuse

    from judging.contracts import LevelInfo, ProductContext, QueryContext
    from judging.offline import offline_guideline, offline_judge, semantic

    weights, tokenizer = semantic.model_files()
    model = semantic.load()
    verdict = offline_judge(
        guideline=offline_guideline(QueryContext("hot water kettle")),
        product=ProductContext("k1", "Electric Hot Water Kettle, 1.7L, Stainless Steel"),
        levels=[LevelInfo(0, "irrelevant"), LevelInfo(1, "relevant")],
    )
    print(json.dumps({
        "attempts": attempts,
        "files": [str(weights), str(tokenizer)],
        "shape": list(model.vectors.shape),
        "value": verdict.value,
        "modules": sorted(m for m in ("wordllama", "huggingface_hub", "requests", "django.conf") if m in sys.modules),
        "settings": "DJANGO_SETTINGS_MODULE" in __import__("os").environ,
    }))
    """
)


def test_the_model_loads_from_the_installed_package_with_downloads_disabled_and_no_network():
    # A fresh process, as the fake LLM server runs it: no Django settings, the hub told to
    # stay offline, and every socket refused. Nothing may even try.
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env |= {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", _OFFLINE_PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["attempts"] == []
    package = Path(importlib.util.find_spec("wordllama").submodule_search_locations[0])
    assert [Path(f) for f in result["files"]] == [package / semantic.WEIGHTS, package / semantic.TOKENIZER]
    assert result["shape"] == [32000, 256]
    assert result["value"] == 1
    # Neither the wordllama package (its import configures the root logger), nor the hub
    # client, nor Django is imported.
    assert result["modules"] == [] and not result["settings"]


def test_requirements_pin_the_installed_wordllama():
    pins = (ROOT / "requirements.txt").read_text().split()
    assert f"wordllama=={version('wordllama')}" in pins


@needs_calibration_file
def test_words_tokenize_as_they_do_inside_a_text():
    # semantic.py caches token ids per word; that is only right if the tokenizer never
    # merges across a space. Checked on real catalogue text.
    tokenizer = semantic.load().tokenizer
    for row in read_esci(CALIBRATION_FILE)[:60]:
        for text in (row.product.title, semantic.product_text(row.product), row.query):
            words = text.split()
            whole = tokenizer.encode(" ".join(words), add_special_tokens=False).ids
            assert semantic._token_ids(words) == whole, text


def test_an_embedding_is_the_mean_of_its_tokens_vectors_at_unit_length():
    model = semantic.load()
    text = "Stainless steel electric kettle, 1.7 litres"
    ids = model.tokenizer.encode(text, add_special_tokens=False).ids
    mean = model.vectors[ids].mean(axis=0)
    assert np.allclose(semantic.embed(text), mean / np.linalg.norm(mean), atol=1e-6)
    assert semantic.embed("   ") is None


# --- similarity -----------------------------------------------------------------------


def test_similarity_ranks_the_product_asked_for_above_an_unrelated_one():
    kettle = guideline("hot water kettle")
    assert semantic.similarity(kettle, KETTLE) > semantic.similarity(kettle, CAMERA) + 0.2
    spy = guideline("hidden spy camera")
    assert semantic.similarity(spy, CAMERA) > semantic.similarity(spy, KETTLE) + 0.2


def test_the_query_side_leaves_out_what_the_query_excludes_and_bare_numbers():
    draft = guideline("running shoes not white size 42 under 80 €")
    assert semantic.query_text(draft) == "running shoes"


def test_the_product_side_is_title_brand_category_and_the_start_of_the_description():
    product = ProductContext(
        "p", "Chelsea Boots", brand="Nordvik", category="Shoes > Boots", description="<p>Soft &amp; " + "x " * 99
    )
    words = semantic.product_text(product).split()
    start = ["Chelsea", "Boots", "Nordvik", "Shoes", "Boots", "Soft", "&"]
    assert words == start + ["x"] * (semantic.DESCRIPTION_WORDS - 2)


def test_a_guideline_without_words_to_embed_has_no_similarity():
    draft = GuidelineDraft(requirements=[Requirement("size", "38", 0.5)], text="")
    assert semantic.similarity(draft, KETTLE) is None


def test_the_rationale_states_the_similarity():
    verdict = offline_judge(guideline=guideline("electric kettle"), product=KETTLE, levels=ESCI)
    assert "text similarity 0." in verdict.rationale
    assert verdict.value == 3


# --- calibration ----------------------------------------------------------------------


def _evidence(similarity: float, match: float, **changes) -> Assessment:
    return replace(Assessment(kind="product", checks=[], match=match, similarity=similarity), **changes)


def test_the_calibrated_probabilities_are_monotone_in_the_evidence():
    scores = np.linspace(-2, 12, 141)
    relevant = [FITTED.grades(s).relevant for s in scores]
    exact = [FITTED.grades(s).exact for s in scores]
    assert all(b >= a for a, b in zip(relevant, relevant[1:]))
    assert all(b >= a for a, b in zip(exact, exact[1:]))
    assert relevant[0] < 0.05 and relevant[-1] > 0.95
    # More similarity or more of the requirements met never lowers the score.
    assert FITTED.similarity_weight > 0 and FITTED.match_weight > 0


def test_the_confidence_of_each_label_moves_with_the_evidence_for_it():
    grid = [(s, m) for m in np.linspace(0, 1, 11) for s in np.linspace(-0.1, 0.9, 21)]
    by_label: dict[int, list[tuple[float, float]]] = {}
    for similarity, match in grid:
        index, confidence, _ = decide(_evidence(similarity, match), 4)
        score = FITTED.score(similarity=similarity, match=match)
        by_label.setdefault(index, []).append((score, confidence))
    assert set(by_label) == {0, 3}  # without a conflict: Irrelevant or Exact
    exact = sorted(by_label[3])
    irrelevant = sorted(by_label[0])
    assert all(b[1] >= a[1] - 1e-9 for a, b in zip(exact, exact[1:]))  # surer the higher the score
    assert all(b[1] <= a[1] + 1e-9 for a, b in zip(irrelevant, irrelevant[1:]))  # surer the lower
    assert all(0.5 <= c <= 1 for _, c in irrelevant)


def test_a_conflict_caps_the_label_at_a_substitute():
    # The product states another colour: never Exact, however similar.
    conflict = _evidence(0.9, 0.9)
    conflict = replace(conflict, checks=[_conflicting_colour()])
    index, confidence, reason = decide(conflict, 4)
    assert index == 2 and "states otherwise" in reason
    assert confidence < DEFAULT_MIN_CONFIDENCE


def _conflicting_colour() -> Check:
    return Check(Requirement("colour", "red", 0.7), "colour", "colour=red", 0.0, "black", conflict=True)


def test_the_bench_routes_at_the_routing_policys_default():
    assert RoutingPolicy._meta.get_field("min_confidence").default == DEFAULT_MIN_CONFIDENCE
    assert PolicyView(version=1).min_confidence == DEFAULT_MIN_CONFIDENCE


# --- real data ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def calibration_run():
    rows = read_esci(CALIBRATION_FILE)
    verdicts = judge_all(rows, guidelines(rows))
    return [(row.gold, verdict.value, verdict.confidence) for row, verdict in zip(rows, verdicts)]


@needs_calibration_file
def test_on_real_esci_pairs_the_judge_beats_the_majority_class(calibration_run):
    # The file is 94% relevant (Exact or Substitute), so "always relevant" scores 0.935 on
    # its raw acc@2; the judge assumes even odds instead (judging/offline/calibration.py)
    # and is measured the same way: each side counts half, the majority class scores 0.5.
    # Measured: 0.78 (cross-validated 0.78), macro-F1 0.32 against 0.20.
    gold = [g for g, _, _ in calibration_run]
    pairs = [(g, p) for g, p, _ in calibration_run]
    assert weighted(pairs, even_odds(gold, 2), 2) >= 0.74
    most = max(set(gold), key=gold.count)
    assert macro_f1(pairs) >= macro_f1([(g, most) for g in gold]) + 0.08


@needs_calibration_file
def test_on_real_esci_pairs_auto_accepted_labels_are_more_often_right(calibration_run):
    # Measured: 40% auto-accepted at acc@4 0.75, the rest 0.58 (cross-validated 0.74, 0.60).
    accepted = [g == p for g, p, c in calibration_run if c >= DEFAULT_MIN_CONFIDENCE]
    routed = [g == p for g, p, c in calibration_run if c < DEFAULT_MIN_CONFIDENCE]
    assert 0.2 <= len(accepted) / len(calibration_run) <= 0.6
    assert sum(accepted) / len(accepted) >= sum(routed) / len(routed) + 0.12
