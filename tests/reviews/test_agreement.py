"""Agreement statistics (reviews.agreement): α against Krippendorff's published example
loaded through the label import, κ and weighted κ against scikit-learn, degenerate
inputs, slices, annotators and bootstrap CIs."""

import csv
import io
import itertools
import uuid
from datetime import timedelta

import numpy as np
import pytest
from django.core.management import call_command
from django.utils import timezone
from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score

from annotation.models import (
    GoldProvenance,
    Label,
    LabelSource,
    Pair,
    Product,
    Project,
    Query,
)
from annotation.services import project_create
from judging.models import Judgment
from reviews.agreement import (
    LLM_RATER,
    agreement_by_segment,
    alpha,
    annotator_agreement,
    human_pairwise_agreement,
    project_agreement_summary,
    reliability_matrix,
)
from reviews.agreement.stats import (
    alpha_from_coincidences,
    confusion_figures,
    kappa,
    unit_coincidences,
)
from reviews.models import ReviewTask

pytestmark = pytest.mark.django_db

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", example C:
# 4 coders × 12 units, values 1..5, None = missing.
KRIPPENDORFF = {
    "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    "C": [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
}
PUBLISHED = {"nominal": 0.743, "ordinal": 0.815, "interval": 0.849, "ratio": 0.797}
_serial = itertools.count(1)


def kripp_project(tmp_path, name: str = "kripp") -> Project:
    call_command("create_project", name, "--labels", "v1:1,v2:2,v3:3,v4:4,v5:5", stdout=io.StringIO())
    path = tmp_path / "kripp.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["query_id", "product_id", "label", "rater", "query", "product_title"])
        for rater, values in KRIPPENDORFF.items():
            for unit, value in enumerate(values, 1):
                if value is not None:
                    writer.writerow([f"q{unit}", f"p{unit}", value, rater, f"query {unit}", f"product {unit}"])
    call_command("import_labels", "--project", name, str(path), stdout=io.StringIO())
    return Project.objects.get(name=name)


def make_pairs(project: Project, count: int, *, tags=(), category: str = "", locale: str = "") -> list[Pair]:
    pairs = []
    for _ in range(count):
        n = next(_serial)
        query = Query.objects.create(
            project=project, external_id=f"q{n}", text=f"query {n}", tags=list(tags), locale=locale
        )
        product = Product.objects.create(
            project=project, external_id=f"p{n}", title=f"product {n}", category=category, content_hash=f"{n:064d}"
        )
        pairs.append(Pair.objects.create(project=project, query=query, product=product))
    return pairs


def add_labels(project: Project, pairs, values, *, rater: str, source: str = LabelSource.HUMAN) -> list[Label]:
    return Label.objects.bulk_create(
        [
            Label(project=project, pair=pair, source=source, rater=rater, value=int(value))
            for pair, value in zip(pairs, values)
            if value is not None
        ]
    )


def set_gold(pairs, values, provenance: str = GoldProvenance.HUMAN) -> None:
    for pair, value in zip(pairs, values):
        Pair.objects.filter(id=pair.id).update(gold_value=int(value), gold_provenance=provenance)


@pytest.fixture
def graded(db) -> Project:
    return project_create(name=f"agreement-{uuid.uuid4().hex[:8]}", scale="esci")  # 0..3, gains 0..3


def noisy(rng, truth, flip: float, size: int = 4) -> np.ndarray:
    """truth with a share of labels moved one step (a rater who mostly agrees)."""
    step = rng.choice([-1, 1], size=len(truth))
    moved = np.clip(truth + step, 0, size - 1)
    return np.where(rng.random(len(truth)) < flip, moved, truth)


# --- Krippendorff's worked example, loaded through the import -----------------------------


@pytest.mark.parametrize("level", sorted(PUBLISHED))
def test_alpha_matches_krippendorffs_worked_example_loaded_through_the_import(tmp_path, level):
    project = kripp_project(tmp_path)

    summary = project_agreement_summary(project, level=level, n_boot=200)

    assert summary["counts"]["human_labels"] == 41 and summary["counts"]["human_raters"] == 4
    assert round(summary["alpha_humans"]["value"], 3) == PUBLISHED[level]
    assert round(summary["alpha"]["value"], 3) == PUBLISHED[level]  # no LLM: the same raters
    # Unit 12 has one value only: 11 pairable units.
    assert summary["alpha"]["n"] == 11
    matrix = reliability_matrix(project)
    assert matrix.raters == ["A", "B", "C", "D"] and matrix.data.shape == (4, 12)
    assert round(alpha(matrix, domain=[1, 2, 3, 4, 5], level=level)["value"], 3) == PUBLISHED[level]


def test_bootstrap_alpha_uses_the_same_formula_as_the_krippendorff_package(tmp_path):
    import krippendorff

    project = kripp_project(tmp_path)
    matrix = reliability_matrix(project)
    domain = np.arange(1, 6)
    coincidences = unit_coincidences(matrix.value_counts(domain)).sum(axis=0)
    for level in PUBLISHED:
        expected = krippendorff.alpha(reliability_data=matrix.data, value_domain=domain, level_of_measurement=level)
        assert alpha_from_coincidences(coincidences, domain, level) == pytest.approx(expected, abs=1e-12)


def test_reimporting_the_same_labels_changes_nothing(tmp_path):
    project = kripp_project(tmp_path)
    call_command("import_labels", "--project", project.name, str(tmp_path / "kripp.csv"), stdout=io.StringIO())
    assert round(project_agreement_summary(project, level="nominal", n_boot=0)["alpha"]["value"], 3) == 0.743


# --- Cohen's κ against scikit-learn --------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kappa_and_linear_weighted_kappa_match_scikit_learn_on_random_confusions(seed):
    rng = np.random.default_rng(seed)
    for size in (2, 3, 5):
        a = rng.integers(0, size, 300)
        b = np.where(rng.random(300) < 0.6, a, rng.integers(0, size, 300))
        confusion = np.zeros((size, size))
        np.add.at(confusion, (a, b), 1)
        labels = list(range(size))
        assert kappa(confusion) == pytest.approx(cohen_kappa_score(a, b, labels=labels))
        assert kappa(confusion, weighted=True) == pytest.approx(
            cohen_kappa_score(a, b, labels=labels, weights="linear")
        )


def test_kappa_matches_scikit_learn_on_hand_made_data():
    # A scale of four where nobody uses the third label: the weights still count it.
    a = [0, 0, 1, 1, 3, 3, 3, 0, 1, 3]
    b = [0, 1, 1, 1, 3, 1, 3, 0, 0, 3]
    confusion = np.zeros((4, 4))
    np.add.at(confusion, (a, b), 1)
    assert kappa(confusion) == pytest.approx(cohen_kappa_score(a, b, labels=[0, 1, 2, 3]))
    assert kappa(confusion, weighted=True) == pytest.approx(
        cohen_kappa_score(a, b, labels=[0, 1, 2, 3], weights="linear")
    )
    # Perfect agreement, and agreement at chance level.
    assert kappa(np.diag([3.0, 2.0])) == pytest.approx(1.0)
    assert kappa(np.array([[1.0, 1.0], [1.0, 1.0]])) == pytest.approx(0.0)


def test_llm_vs_human_figures_from_the_database_match_scikit_learn(graded):
    rng = np.random.default_rng(7)
    pairs = make_pairs(graded, 240)
    truth = rng.integers(0, 4, 240)
    llm = noisy(rng, truth, 0.3)
    human_a = noisy(rng, truth, 0.2)
    human_b = noisy(rng, truth, 0.2)
    add_labels(graded, pairs, llm, rater="gpt-x", source=LabelSource.LLM)
    add_labels(graded, pairs[:160], human_a[:160], rater="anna")
    add_labels(graded, pairs[80:], human_b[80:], rater="ben")
    set_gold(pairs[:100], truth[:100])
    set_gold(pairs[100:120], truth[100:120], GoldProvenance.LLM_AUTO)  # not a reference

    summary = project_agreement_summary(graded, n_boot=200)

    labels = [0, 1, 2, 3]
    human = np.concatenate([human_a[:160], human_b[80:]])
    machine = np.concatenate([llm[:160], llm[80:]])
    lh = summary["llm_vs_human"]
    assert summary["level"] == "ordinal"
    assert lh["kappa"]["value"] == pytest.approx(cohen_kappa_score(human, machine, labels=labels), abs=1e-6)
    assert lh["weighted_kappa"]["value"] == pytest.approx(
        cohen_kappa_score(human, machine, labels=labels, weights="linear"), abs=1e-6
    )
    assert lh["agreement"]["value"] == pytest.approx(accuracy_score(human, machine), abs=1e-6)
    assert lh["kappa"]["n"] == 320 and lh["n_pairs"] == 240
    assert np.array(lh["confusion"]["matrix"]).sum() == 320

    gold, judged = truth[:100], llm[:100]
    lg = summary["llm_vs_gold"]
    assert lg["accuracy"]["value"] == pytest.approx(accuracy_score(gold, judged), abs=1e-6)
    assert lg["binary_accuracy"]["value"] == pytest.approx(accuracy_score(gold >= 1, judged >= 1), abs=1e-6)
    assert lg["macro_f1"]["value"] == pytest.approx(f1_score(gold, judged, average="macro"), abs=1e-6)
    assert lg["kappa"]["value"] == pytest.approx(cohen_kappa_score(gold, judged, labels=labels), abs=1e-6)
    assert lg["accuracy"]["n"] == 100
    expected = np.zeros((4, 4), dtype=int)
    np.add.at(expected, (gold, judged), 1)
    assert lg["confusion"]["matrix"] == expected.tolist()
    assert lg["confusion"]["rows"] == "human gold" and lg["confusion"]["columns"] == "LLM"

    hh = summary["human_vs_human"]
    assert hh["rater_pairs"] == 1 and hh["kappa"]["n"] == 80
    assert hh["kappa"]["value"] == pytest.approx(
        cohen_kappa_score(human_a[80:160], human_b[80:160], labels=labels), abs=1e-6
    )

    per_rater = {a["rater"]: a for a in annotator_agreement(graded, n_boot=50)["annotators"]}
    assert per_rater["anna"]["vs_llm"]["kappa"]["value"] == pytest.approx(
        cohen_kappa_score(llm[:160], human_a[:160], labels=labels), abs=1e-6
    )
    assert per_rater["ben"]["vs_llm"]["weighted_kappa"]["value"] == pytest.approx(
        cohen_kappa_score(llm[80:], human_b[80:], labels=labels, weights="linear"), abs=1e-6
    )
    detail = human_pairwise_agreement(graded, n_boot=50)["pairs"]
    assert [(p["rater_a"], p["rater_b"], p["n"]) for p in detail] == [("anna", "ben", 80)]


def test_the_latest_label_of_a_rater_counts_and_adjudication_labels_are_not_a_rater(graded, django_user_model):
    pairs = make_pairs(graded, 4)
    add_labels(graded, pairs, [3, 3, 0, 0], rater="gpt-x", source=LabelSource.LLM)
    add_labels(graded, pairs, [0, 0, 3, 3], rater="anna")
    add_labels(graded, pairs, [3, 3, 0, 0], rater="anna")  # corrections: newer rows win
    add_labels(graded, pairs, [3, 3, 0, 0], rater="gpt-x", source=LabelSource.LLM)
    lead = django_user_model.objects.create(username="lea")
    adjudication = add_labels(graded, pairs[:1], [1], rater="lea")[0]
    ReviewTask.objects.create(
        project=graded,
        pair=pairs[0],
        kind=ReviewTask.Kind.ADJUDICATION,
        reason="human-disagreement",
        policy_version=1,
        status=ReviewTask.Status.DONE,
        claimed_by=lead,
        label=adjudication,
    )

    summary = project_agreement_summary(graded, n_boot=0)

    assert summary["llm_vs_human"]["agreement"]["value"] == 1.0
    assert summary["llm_vs_human"]["kappa"]["n"] == 4
    assert summary["counts"]["human_raters"] == 1
    assert reliability_matrix(graded).raters == [LLM_RATER, "anna"]


# --- degenerate inputs -----------------------------------------------------------------------


def test_a_project_without_labels_gives_defined_empty_figures(graded):
    make_pairs(graded, 3)
    summary = project_agreement_summary(graded)
    assert summary["counts"]["pairs"] == 3 and summary["counts"]["pairs_compared"] == 0
    for figure in (
        summary["alpha"],
        summary["alpha_humans"],
        summary["llm_vs_human"]["kappa"],
        summary["llm_vs_gold"]["accuracy"],
    ):
        assert figure["value"] is None and figure["n"] == 0 and figure["reason"]
    assert summary["alpha"]["reason"] == "no labels"
    assert summary["human_vs_human"]["kappa"]["reason"] == "fewer than two human raters"
    assert agreement_by_segment(graded, "tag") == []
    assert annotator_agreement(graded)["annotators"] == []
    assert alpha(reliability_matrix(graded), domain=[0, 1, 2, 3], level="ordinal")["reason"] == "no labels"


def test_one_rater_gives_no_alpha_and_no_human_kappa(graded):
    pairs = make_pairs(graded, 5)
    add_labels(graded, pairs, [0, 1, 2, 3, 1], rater="anna")
    summary = project_agreement_summary(graded)
    assert summary["alpha"] == {"value": None, "ci": None, "n": 0, "reason": "fewer than two raters"}
    assert summary["human_vs_human"]["kappa"]["reason"] == "fewer than two human raters"
    assert summary["llm_vs_human"]["kappa"]["reason"] == "no LLM labels"
    annotators = annotator_agreement(graded)["annotators"]
    assert annotators[0]["labels"] == 5 and annotators[0]["vs_consensus"]["kappa"]["value"] is None


def test_all_labels_equal_gives_no_alpha_or_kappa_but_full_agreement(graded):
    pairs = make_pairs(graded, 6)
    add_labels(graded, pairs, [2] * 6, rater="gpt-x", source=LabelSource.LLM)
    add_labels(graded, pairs, [2] * 6, rater="anna")
    add_labels(graded, pairs, [2] * 6, rater="ben")
    set_gold(pairs, [2] * 6)
    summary = project_agreement_summary(graded)
    assert summary["alpha"]["value"] is None and summary["alpha"]["n"] == 6
    assert "equal" in summary["alpha"]["reason"]
    assert (
        summary["llm_vs_human"]["kappa"]["value"] is None and "one label" in summary["llm_vs_human"]["kappa"]["reason"]
    )
    assert summary["llm_vs_human"]["agreement"]["value"] == 1.0 and summary["llm_vs_human"]["agreement"]["n"] == 12
    assert (
        summary["human_vs_human"]["kappa"]["value"] is None and summary["human_vs_human"]["agreement"]["value"] == 1.0
    )
    assert summary["llm_vs_gold"]["accuracy"]["value"] == 1.0 and summary["llm_vs_gold"]["macro_f1"]["value"] == 1.0
    assert summary["llm_vs_gold"]["kappa"]["value"] is None


def test_raters_without_overlap_give_no_agreement(graded):
    pairs = make_pairs(graded, 9)
    add_labels(graded, pairs[:3], [0, 1, 2], rater="anna")
    add_labels(graded, pairs[3:6], [0, 1, 2], rater="ben")
    add_labels(graded, pairs[6:], [0, 1, 2], rater="gpt-x", source=LabelSource.LLM)
    summary = project_agreement_summary(graded)
    assert summary["alpha"]["value"] is None and "no overlap" in summary["alpha"]["reason"]
    assert (
        summary["human_vs_human"]["kappa"]["value"] is None
        and "no overlap" in summary["human_vs_human"]["kappa"]["reason"]
    )
    assert summary["llm_vs_human"]["kappa"]["reason"] == "no pair has both an LLM and a human label"
    assert summary["llm_vs_gold"]["accuracy"]["reason"] == "no pair has both an LLM label and human gold"


def test_a_binary_scale_defaults_to_nominal_and_an_unknown_level_is_refused(db):
    project = project_create(name="binary-agreement", scale="binary")
    assert project_agreement_summary(project, n_boot=0)["level"] == "nominal"
    with pytest.raises(ValueError, match="level of measurement"):
        project_agreement_summary(project, level="cardinal")
    with pytest.raises(ValueError, match="unknown segment"):
        agreement_by_segment(project, "price")


def test_nominal_level_reports_no_weighted_kappa(graded):
    pairs = make_pairs(graded, 4)
    add_labels(graded, pairs, [0, 1, 2, 3], rater="gpt-x", source=LabelSource.LLM)
    add_labels(graded, pairs, [0, 1, 3, 3], rater="anna")
    figure = project_agreement_summary(graded, level="nominal")["llm_vs_human"]["weighted_kappa"]
    assert figure["value"] is None and "nominal" in figure["reason"]


# --- slices, annotators, bootstrap ---------------------------------------------------------


def test_figures_per_tag_have_the_right_n_and_cis_around_the_estimate(graded):
    rng = np.random.default_rng(11)
    brand = make_pairs(graded, 60, tags=["brand", "brand"], category="shoes")  # a repeated tag counts once
    style = make_pairs(graded, 40, tags=["brand", "style-sensitive"], category="dresses")
    plain = make_pairs(graded, 30)
    pairs = brand + style + plain
    truth = rng.integers(0, 4, len(pairs))
    add_labels(graded, pairs, noisy(rng, truth, 0.3), rater="gpt-x", source=LabelSource.LLM)
    add_labels(graded, pairs, noisy(rng, truth, 0.2), rater="anna")
    add_labels(graded, pairs[:50] + pairs[60:80], noisy(rng, truth, 0.2)[:70], rater="ben")
    set_gold(pairs, truth)

    rows = {row["segment"]: row for row in agreement_by_segment(graded, "tag", n_boot=300)}

    assert list(rows) == ["brand", "style-sensitive", "(untagged)"]
    assert (
        rows["brand"]["n_pairs"] == 100
        and rows["style-sensitive"]["n_pairs"] == 40
        and rows["(untagged)"]["n_pairs"] == 30
    )
    assert rows["brand"]["llm_vs_human"]["kappa"]["n"] == 100 + 70
    assert rows["style-sensitive"]["llm_vs_gold"]["accuracy"]["n"] == 40
    assert rows["style-sensitive"]["human_vs_human"]["kappa"]["n"] == 20
    assert rows["(untagged)"]["human_vs_human"]["kappa"]["reason"]
    for row in rows.values():
        for figure in (
            row["alpha"],
            row["llm_vs_human"]["kappa"],
            row["llm_vs_gold"]["accuracy"],
            row["llm_vs_gold"]["macro_f1"],
        ):
            low, high = figure["ci"]
            assert low <= figure["value"] <= high
    categories = {row["key"]: row["n_pairs"] for row in agreement_by_segment(graded, "category", n_boot=0)}
    assert categories == {"shoes": 60, "dresses": 40, "": 30}
    assert [row["segment"] for row in agreement_by_segment(graded, "tag", n_boot=0, limit=1)] == ["brand"]


def test_figures_per_gold_label_reason_and_model(graded):
    pairs = make_pairs(graded, 6)
    labels = add_labels(graded, pairs, [3, 3, 0, 0, 1, 1], rater="gpt-x", source=LabelSource.LLM)
    add_labels(graded, pairs, [3, 2, 0, 0, 1, 1], rater="anna")
    set_gold(pairs, [3, 2, 0, 0, 1, 1])
    for label, mode in zip(labels, ["text", "text", "vision", "vision", "text", "text"]):
        Judgment.objects.create(
            cache_key=uuid.uuid4().hex,
            model="gpt-x",
            prompt_version="j2",
            project=graded,
            pair_id=label.pair_id,
            product_id=Pair.objects.get(id=label.pair_id).product_id,
            label=label,
            backend="openai",
            mode=mode,
            status="ok",
            value=label.value,
        )
    ReviewTask.objects.create(project=graded, pair=pairs[0], reasons=["audit"], reason="audit", policy_version=1)
    ReviewTask.objects.create(
        project=graded, pair=pairs[1], reasons=["low-confidence"], reason="low-confidence", policy_version=1
    )

    by_label = {row["segment"]: row["n_pairs"] for row in agreement_by_segment(graded, "label", n_boot=0)}
    assert by_label == {"Exact (3)": 1, "Substitute (2)": 1, "Complement (1)": 2, "Irrelevant (0)": 2}
    by_reason = {
        row["segment"]: row["llm_vs_gold"]["accuracy"]["value"]
        for row in agreement_by_segment(graded, "reason", n_boot=0)
    }
    assert by_reason == {"(not routed)": 1.0, "Random audit": 1.0, "Low LLM confidence": 0.0}
    by_mode = {row["key"]: row["n_pairs"] for row in agreement_by_segment(graded, "mode", n_boot=0)}
    assert by_mode == {"text": 4, "vision": 2}
    assert [row["key"] for row in agreement_by_segment(graded, "model", n_boot=0)] == ["gpt-x"]
    assert [row["key"] for row in agreement_by_segment(graded, "prompt", n_boot=0)] == ["j2"]


def test_annotators_vs_consensus_and_by_position_in_their_day(graded):
    rng = np.random.default_rng(5)
    pairs = make_pairs(graded, 120)
    truth = rng.integers(0, 4, 120)
    add_labels(graded, pairs, truth, rater="gpt-x", source=LabelSource.LLM)
    add_labels(graded, pairs, truth, rater="anna")
    add_labels(graded, pairs, truth, rater="ben")
    tired = noisy(rng, truth, 0.9)
    carl = add_labels(graded, pairs, np.concatenate([truth[:100], tired[100:]]), rater="carl")
    # carl's last 20 labels come the next day: positions restart there.
    Label.objects.filter(id__in=[label.id for label in carl[100:]]).update(
        created_at=timezone.now() + timedelta(days=1)
    )

    result = annotator_agreement(graded, n_boot=100, bucket_size=50, buckets=10)

    rows = {a["rater"]: a for a in result["annotators"]}
    changed = int((tired[100:] != truth[100:]).sum())
    assert rows["anna"]["labels"] == 120 and rows["anna"]["vs_consensus"]["agreement"]["value"] == 1.0
    # Where carl left the others, anna's other raters (ben, carl) tie: no consensus.
    assert rows["anna"]["vs_consensus"]["kappa"]["n"] == 120 - changed
    positions = [(b["from"], b["to"], b["labels"]) for b in rows["carl"]["by_position"]]
    assert positions == [(1, 50, 70), (51, 100, 50)]
    assert rows["carl"]["vs_llm"]["agreement"]["value"] == pytest.approx(1 - changed / 120)
    first = rows["carl"]["by_position"][0]["vs_consensus"]["agreement"]
    assert first["n"] == 70 and first["value"] == pytest.approx(1 - changed / 70)
    assert rows["carl"]["by_position"][1]["vs_consensus"]["agreement"]["value"] == 1.0
    pooled = result["all"]["by_position"]
    assert [b["labels"] for b in pooled] == [50 * 2 + 70, 50 * 3, 20 * 2]


def test_consensus_prefers_adjudicated_gold_and_skips_ties(graded):
    pairs = make_pairs(graded, 2)
    add_labels(graded, pairs, [0, 0], rater="anna")
    add_labels(graded, pairs, [1, 1], rater="ben")
    add_labels(graded, pairs, [2, 2], rater="carl")
    set_gold(pairs[:1], [0], GoldProvenance.ADJUDICATED)
    rows = {a["rater"]: a for a in annotator_agreement(graded, n_boot=0)["annotators"]}
    # Pair 1: adjudicated 0 is everyone's reference; pair 2: the others tie, no reference.
    assert rows["anna"]["vs_consensus"]["agreement"] == {"value": 1.0, "ci": None, "n": 1, "reason": None}
    assert rows["ben"]["vs_consensus"]["agreement"]["value"] == 0.0


def test_bootstrap_is_seeded(graded):
    rng = np.random.default_rng(3)
    pairs = make_pairs(graded, 50)
    truth = rng.integers(0, 4, 50)
    add_labels(graded, pairs, noisy(rng, truth, 0.4), rater="gpt-x", source=LabelSource.LLM)
    add_labels(graded, pairs, truth, rater="anna")
    first = project_agreement_summary(graded, seed=1, n_boot=300)["llm_vs_human"]["kappa"]
    again = project_agreement_summary(graded, seed=1, n_boot=300)["llm_vs_human"]["kappa"]
    other = project_agreement_summary(graded, seed=2, n_boot=300)["llm_vs_human"]["kappa"]
    assert first == again and first["ci"] != other["ci"] and first["value"] == other["value"]
    assert project_agreement_summary(graded, n_boot=0)["llm_vs_human"]["kappa"]["ci"] is None


def test_confusion_bootstrap_resamples_pairs_not_label_pairs():
    # One pair with two identical human labels: resampling pairs keeps them together,
    # so agreement over {that pair, a disagreeing pair} is 2/3 or 0 or 1 — never 1/2.
    groups = np.zeros((2, 2, 2))
    groups[0, 1, 1] = 2  # humans 1, 1 vs LLM 1
    groups[1, 0, 1] = 1  # human 0 vs LLM 1
    figures = confusion_figures(groups, np.array([1, 1]), metrics=("agreement",), n_boot=500, seed=0)
    assert figures["agreement"]["value"] == pytest.approx(2 / 3)
    assert figures["agreement"]["ci"] == [0.0, 1.0]


def test_cached_figures_are_reused_until_they_are_stale_and_then_refreshed_once(
    graded, settings, monkeypatch, django_capture_on_commit_callbacks
):
    # The API's figures come from the dashboard's snapshots: one cache, one staleness rule.
    from reviews.dashboard import snapshot
    from reviews.dashboard.snapshot import agreement_figures, dashboard_touch
    from reviews.tasks import dashboard_refresh_task

    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "agreement-tests"}
    }
    queued = []
    monkeypatch.setattr(dashboard_refresh_task, "delay", lambda *args: queued.append(args))
    pairs = make_pairs(graded, 4)
    add_labels(graded, pairs, [0, 1, 2, 3], rater="gpt-x", source=LabelSource.LLM)
    add_labels(graded, pairs, [0, 1, 2, 3], rater="anna")
    first = agreement_figures(graded, "project_agreement_summary", n_boot=0)
    add_labels(graded, pairs, [3, 3, 3, 3], rater="anna")
    assert agreement_figures(graded, "project_agreement_summary", n_boot=0) == first
    fresh = agreement_figures(graded, "project_agreement_summary", fresh=True, n_boot=0)
    assert first["result"]["llm_vs_human"]["agreement"]["value"] == 1.0
    assert fresh["result"]["llm_vs_human"]["agreement"]["value"] == 0.25
    assert fresh["computed_at"] >= first["computed_at"] and fresh["compute_seconds"] >= 0
    assert set(fresh) == {"result", "computed_at", "compute_seconds"}
    by_tag = agreement_figures(graded, "agreement_by_segment", by="tag", n_boot=0)
    assert by_tag["result"][0]["segment"] == "(untagged)"
    with pytest.raises(ValueError):
        agreement_figures(graded, "reliability_matrix")

    # A label write makes the snapshot stale: it is still answered, and one refresh is queued.
    add_labels(graded, pairs, [0, 1, 2, 3], rater="anna")
    dashboard_touch(project=graded)
    with django_capture_on_commit_callbacks(execute=True):
        stale = agreement_figures(graded, "project_agreement_summary", n_boot=0)
        again = agreement_figures(graded, "project_agreement_summary", n_boot=0)
    assert stale == again == fresh
    assert queued == [(graded.id, "project_agreement_summary", {"n_boot": 0})]
    dashboard_refresh_task(*queued[0])
    refreshed = agreement_figures(graded, "project_agreement_summary", n_boot=0)
    assert refreshed["result"]["llm_vs_human"]["agreement"]["value"] == 1.0

    # So does age alone.
    monkeypatch.setattr(snapshot, "MAX_AGE", -1)
    with django_capture_on_commit_callbacks(execute=True):
        assert agreement_figures(graded, "project_agreement_summary", n_boot=0) == refreshed
    assert len(queued) == 2
