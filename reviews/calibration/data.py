"""What the judge-vs-humans report compares, read from the database (any backend: the
embedded SQLite mode gets the report too).

The human reference of a pair is its gold when people settled it (reviewed, adjudicated or
imported), else the majority of its human raters' latest labels (ties go to the lower
label, the conservative reading). A judge configuration is what changes a judgment:
backend, model, prompt version, mode and the number of samples k; each configuration's
latest judgment of a pair is the one compared.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from annotation.models import Label, LabelSource, Pair, Project
from annotation.selectors import PEOPLE, human_labelled_pairs
from judging.models import Judgment


@dataclass(frozen=True, order=True)
class JudgeConfiguration:
    backend: str
    model: str
    prompt_version: str
    mode: str
    samples: int

    @property
    def label(self) -> str:
        return f"{self.model} · {self.mode} · prompt {self.prompt_version} · k={self.samples}"

    def as_dict(self) -> dict:
        return {
            "backend": self.backend,
            "model": self.model,
            "prompt_version": self.prompt_version,
            "mode": self.mode,
            "samples": self.samples,
        }


@dataclass
class ConfigurationJudgments:
    """The latest judgment of each pair by one configuration."""

    values: dict[int, int | None] = field(default_factory=dict)  # None: invalid answer
    confidence: dict[int, float | None] = field(default_factory=dict)
    cost_eur: Decimal = Decimal(0)


@dataclass(frozen=True)
class PairFacts:
    locale: str
    tags: tuple[str, ...]
    category: str


def human_reference(project: Project) -> dict[int, int]:
    """pair id → the human reference value."""
    gold = Pair.objects.filter(project=project, gold_provenance__in=PEOPLE).values_list("id", "gold_value")
    # A check constraint sets gold_value whenever gold_provenance is; the test only narrows.
    reference = {pair_id: value for pair_id, value in gold if value is not None}
    latest: dict[tuple[int, str], int] = {}
    humans = (
        Label.objects.filter(project=project, source=LabelSource.HUMAN)
        .order_by("created_at", "id")
        .values_list("pair_id", "rater", "value")
    )
    for pair_id, rater, value in humans.iterator(chunk_size=10_000):
        if pair_id not in reference:
            latest[(pair_id, rater)] = value  # later rows win: a correction is a new row
    votes: dict[int, Counter] = defaultdict(Counter)
    for (pair_id, _), value in latest.items():
        votes[pair_id][value] += 1
    for pair_id, counts in votes.items():
        top = max(counts.values())
        reference[pair_id] = min(value for value, count in counts.items() if count == top)
    return reference


def judgments_by_configuration(project: Project, pair_ids) -> dict[JudgeConfiguration, ConfigurationJudgments]:
    wanted = set(pair_ids)
    out: dict[JudgeConfiguration, ConfigurationJudgments] = defaultdict(ConfigurationJudgments)
    rows = (
        # Filtered in the database: a project may hold a million judgments and a few
        # thousand human labels.
        Judgment.objects.filter(project=project, pair__in=human_labelled_pairs(project).values("id"))
        .order_by("created_at", "id")
        .values_list(
            "pair_id",
            "backend",
            "model",
            "prompt_version",
            "mode",
            "samples",
            "status",
            "value",
            "confidence",
            "cost_eur",
        )
    )
    for pair_id, backend, model, prompt, mode, samples, status, value, confidence, cost in rows.iterator(
        chunk_size=10_000
    ):
        if pair_id not in wanted:
            continue
        key = JudgeConfiguration(backend, model, prompt, mode, max(1, len(samples or [])))
        judged = out[key]
        judged.values[pair_id] = value if status == Judgment.Status.OK else None
        judged.confidence[pair_id] = confidence
        judged.cost_eur += cost or 0
    return dict(out)


def pair_facts(project: Project, pair_ids) -> dict[int, PairFacts]:
    rows = Pair.objects.filter(project=project, id__in=list(pair_ids)).values_list(
        "id", "query__locale", "query__tags", "product__category"
    )
    return {
        pair_id: PairFacts(locale or "", tuple(str(t) for t in tags or ()), (category or "").split(">")[0].strip())
        for pair_id, locale, tags, category in rows
    }
