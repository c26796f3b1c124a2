"""Hard disagreements: pairs where the LLM's label and the humans' gold are far apart on
the ordinal scale (top label vs bottom label), and the lead's error category for each —
the paper's error analysis, kept in the product."""

from collections.abc import Mapping
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Count, F, Max, OuterRef, Q, QuerySet, Subquery

from annotation.access import require_lead
from annotation.label_keys import label_keys
from annotation.models import GoldProvenance, Label, LabelSource, Pair, ProductImage, Project
from judging.models import Judgment

from ..agreement.data import HUMAN_GOLD, scale_of
from ..models import DisagreementTag, ErrorCategory, Reason, ReviewTask
from ..services.errors import ReviewError
from ..services.gold import gold_set
from ..services.policies import policy_current
from .snapshot import dashboard_touch

UNTAGGED = "untagged"  # the category filter's value for pairs without a tag

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


def hard_disagreements(project: Project, *, gap: int | None = None, category: str = "") -> "QuerySet[DisagreementPair]":
    """Pairs with human gold whose latest LLM label is at least `gap` scale steps away
    from it (default: the whole scale apart), most searched queries first. Each pair
    carries llm_value, llm_label_id and its tag's category ('' = untagged).
    category: only pairs tagged so (UNTAGGED: without a tag; '': all)."""
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
        .filter(_category_filter(category))
        .select_related("query", "product")
        .order_by("-query__traffic", "id")
    )


def _category_filter(category: str) -> Q:
    if not category:
        return Q()
    if category == UNTAGGED:
        return Q(disagreement_tag__isnull=True)
    return Q(disagreement_tag__category=category)


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
    thumbnails: dict[int, int] = {}
    for image_id, product_id in (
        ProductImage.objects.filter(product_id__in=[p.product_id for p in pairs], status=ProductImage.Status.STORED)
        .order_by("product_id", "-position", "-id")
        .values_list("id", "product_id")
    ):
        thumbnails[product_id] = image_id  # the lowest position is read last and wins
    adjudicating = set(
        ReviewTask.objects.filter(
            pair_id__in=ids,
            kind=ReviewTask.Kind.ADJUDICATION,
            status__in=[ReviewTask.Status.OPEN, ReviewTask.Status.CLAIMED],
        ).values_list("pair_id", flat=True)
    )
    return [
        {
            "pair": p,
            "llm_value": p.llm_value,
            "llm_model": rationale.get(p.llm_label_id, {}).get("model", ""),
            "rationale": rationale.get(p.llm_label_id, {}).get("rationale") or llm_rationale.get(p.llm_label_id, ""),
            "human_labels": humans.get(p.id, []),
            "category": p.error_category or "",
            "thumbnail": thumbnails.get(p.product_id),
            "adjudicating": p.id in adjudicating,
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


# --- a lead's actions on a disagreement ----------------------------------------------------


def send_to_adjudication(*, project: Project, pair: Pair, user) -> ReviewTask:
    """Open an adjudication task for the pair (a lead settles it in the queue), unless
    one is open already. The gold stays until the adjudication replaces it."""
    require_lead(user, project, "send pairs to adjudication")
    with transaction.atomic():
        Pair.objects.select_for_update().filter(id=pair.id).first()  # one request at a time per pair
        tasks = ReviewTask.objects.filter(pair=pair, kind=ReviewTask.Kind.ADJUDICATION)
        live = tasks.filter(status__in=[ReviewTask.Status.OPEN, ReviewTask.Status.CLAIMED]).first()
        if live is not None:
            raise ReviewError("this pair is waiting for adjudication already")
        # A done adjudication keeps its slot: the new task takes the next one.
        slot = (tasks.exclude(status=ReviewTask.Status.CANCELLED).aggregate(m=Max("slot"))["m"] or 0) + 1
        return ReviewTask.objects.create(
            project=project,
            pair=pair,
            kind=ReviewTask.Kind.ADJUDICATION,
            slot=slot,
            reasons=[Reason.HUMAN_VS_LLM],
            reason=Reason.HUMAN_VS_LLM,
            priority=1.0,
            policy_version=policy_current(project).version,
        )


def override_gold(*, project: Project, pair: Pair, user, value: int) -> Label:
    """A lead sets the pair's gold to `value`: recorded as the lead's own human label and
    gold with provenance `adjudicated` under the current policy version, so exports and
    the dashboard say who settled it and how. Open adjudication tasks are cancelled."""
    require_lead(user, project, "override gold")
    if not project.levels.filter(value=value).exists():
        raise ReviewError(f"{value} is not a label of this project's scale", status=400)
    with transaction.atomic():
        Pair.objects.select_for_update().filter(id=pair.id).first()
        label = Label.objects.create(
            project=project, pair=pair, source=LabelSource.HUMAN, rater=user.get_username(), user=user, value=value
        )
        gold_set(
            pair_id=pair.id,
            value=value,
            provenance=GoldProvenance.ADJUDICATED,
            policy_version=policy_current(project).version,
        )
        ReviewTask.objects.filter(
            pair=pair,
            kind=ReviewTask.Kind.ADJUDICATION,
            status__in=[ReviewTask.Status.OPEN, ReviewTask.Status.CLAIMED],
        ).update(status=ReviewTask.Status.CANCELLED, claimed_by=None, lease_expires_at=None)
        transaction.on_commit(lambda: dashboard_touch(project=project))  # a new human label and gold
    return label


def gold_set_message(project: Project, value: int) -> str:
    """What a lead reads after an override: the label by its key and name, not its stored value."""
    return f"Gold set to {label_keys(project)[value]} by you (provenance: adjudicated)."
