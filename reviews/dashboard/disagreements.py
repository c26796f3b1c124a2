"""Hard disagreements: pairs where the LLM's label and the humans' gold are far apart on
the ordinal scale (top label vs bottom label), and the lead's error category for each —
the paper's error analysis, kept in the product."""

from collections.abc import Mapping
from typing import TYPE_CHECKING

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery

from annotation.access import require_lead
from annotation.models import Label, LabelSource, Pair, Project
from judging.models import Judgment

from ..agreement.data import HUMAN_GOLD, scale_of
from ..models import DisagreementTag, ErrorCategory

if TYPE_CHECKING:  # django_stubs_ext is a development requirement, for mypy only
    from typing import TypeAlias, TypedDict

    from django_stubs_ext import WithAnnotations

    class _DisagreementAnnotations(TypedDict):
        # Set on every pair returned: the filter compares llm_value with a scale value.
        llm_value: int
        llm_label_id: int
        error_category: str | None  # None: untagged

    # A Pair as hard_disagreements() returns it.
    DisagreementPair: TypeAlias = WithAnnotations[Pair, _DisagreementAnnotations]


def max_gap(project: Project) -> int:
    """The largest distance on the scale, in steps (2 on a 0/1/2 scale)."""
    return scale_of(project).size - 1


def hard_disagreements(project: Project, *, gap: int | None = None) -> "QuerySet[DisagreementPair]":
    """Pairs with human gold whose latest LLM label is at least `gap` scale steps away
    from it (default: the whole scale apart), most searched queries first. Each pair
    carries llm_value, llm_label_id and its tag's category ('' = untagged)."""
    scale = scale_of(project)
    gap = scale.size - 1 if gap is None else gap
    values = [int(v) for v in scale.values]
    # Scale values need not be consecutive: the gap is counted in positions, and the
    # filter lists the (gold, LLM) value combinations that far apart.
    far = Q(pk__in=[])
    for i, gold in enumerate(values):
        for j, llm in enumerate(values):
            if abs(i - j) >= max(gap, 1):
                far |= Q(gold_value=gold, llm_value=llm)
    latest_llm = Label.objects.filter(pair_id=OuterRef("pk"), source=LabelSource.LLM).order_by("-id")
    return (
        Pair.objects.filter(project=project, gold_provenance__in=[str(p) for p in HUMAN_GOLD])
        .annotate(
            llm_value=Subquery(latest_llm.values("value")[:1]),
            llm_label_id=Subquery(latest_llm.values("id")[:1]),
            error_category=F("disagreement_tag__category"),
        )
        .filter(far)
        .select_related("query", "product")
        .order_by("-query__traffic", "id")
    )


def rows_for_page(pairs: "list[DisagreementPair]") -> list[dict]:
    """The page's rows: each pair with its LLM rationale and its human labels."""
    ids = [p.id for p in pairs]
    rationale: dict[int, Mapping[str, object]] = {}
    for j in Judgment.objects.filter(label_id__in=[p.llm_label_id for p in pairs if p.llm_label_id]).values(
        "label_id", "rationale", "model"
    ):
        rationale[j["label_id"]] = j
    humans: dict[int, list] = {}
    for label in (
        Label.objects.filter(pair_id__in=ids, source=LabelSource.HUMAN)
        .order_by("pair_id", "id")
        .values("pair_id", "rater", "value")
    ):
        humans.setdefault(label["pair_id"], []).append(label)
    llm_rationale = dict(Label.objects.filter(id__in=[p.llm_label_id for p in pairs]).values_list("id", "rationale"))
    return [
        {
            "pair": p,
            "llm_value": p.llm_value,
            "llm_model": rationale.get(p.llm_label_id, {}).get("model", ""),
            "rationale": rationale.get(p.llm_label_id, {}).get("rationale") or llm_rationale.get(p.llm_label_id, ""),
            "human_labels": humans.get(p.id, []),
            "category": p.error_category or "",
        }
        for p in pairs
    ]


def category_counts(project: Project) -> list[tuple[str, str, int]]:
    """(category, name, count) for every error category, in the fixed order."""
    counts = dict(
        DisagreementTag.objects.filter(project=project)
        .values_list("category")
        .annotate(n=Count("id"))
        .values_list("category", "n")
    )
    return [(value, name, counts.get(value, 0)) for value, name in ErrorCategory.choices]


def disagreement_tag_set(*, project: Project, pair: Pair, user, category: str) -> DisagreementTag | None:
    """Tag (or, with category '', untag) a pair's disagreement. Leads only."""
    require_lead(user, project)
    if pair.project_id != project.id:
        raise ValueError("the pair belongs to another project")
    if not category:
        DisagreementTag.objects.filter(pair=pair).delete()
        return None
    if category not in ErrorCategory.values:
        raise ValueError(f"unknown error category {category!r}")
    tag, _ = DisagreementTag.objects.update_or_create(
        pair=pair, defaults={"project": project, "category": category, "tagged_by": user}
    )
    return tag
