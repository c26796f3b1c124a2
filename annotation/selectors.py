"""Reads that are reused across views and the API. Every entry point is scoped to the
projects the user may see, so a foreign id is a 404 rather than a leak."""

from typing import TYPE_CHECKING, cast

from django.core.paginator import Page, Paginator
from django.db.models import (
    Count,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404

from .access import projects_for_user
from .label_keys import ShownLabel, label_keys
from .models import (
    GoldProvenance,
    Label,
    LabelSource,
    Pair,
    Product,
    ProductImage,
    Project,
    Query,
    QueryImage,
    SearchResult,
    SearchRun,
)

if TYPE_CHECKING:  # django_stubs_ext is a development requirement, for mypy only
    from typing import TypeAlias, TypedDict

    from django_stubs_ext import WithAnnotations

    class _ProjectCounts(TypedDict):
        query_count: int
        product_count: int
        pair_count: int
        run_count: int
        label_count: int
        gold_count: int

    class _StoredImages(TypedDict):
        stored_images: list[ProductImage]

    class _ShownResult(TypedDict):
        gold_shown: ShownLabel | None
        llm_label: Label | None
        llm_shown: ShownLabel | None
        thumbnail: ProductImage | None

    ProjectWithCounts: TypeAlias = WithAnnotations[Project, _ProjectCounts]
    # What run_queries_page sets on its results and queries for the run page.
    ShownResult: TypeAlias = WithAnnotations[SearchResult, _ShownResult]

    class _ShownQuery(TypedDict):
        top_results: list[ShownResult]

    ShownQuery: TypeAlias = WithAnnotations[Query, _ShownQuery]

QUERIES_PER_PAGE = 50
RUN_QUERIES_PER_PAGE = 20
RUN_TOP_K = 10


def product_image_for_user(user, image_id: int) -> ProductImage:
    return get_object_or_404(
        ProductImage.objects.select_related("product"),
        pk=image_id,
        status=ProductImage.Status.STORED,
        product__project__in=projects_for_user(user),
    )


def query_image_for_user(user, image_id: int) -> QueryImage:
    return get_object_or_404(
        QueryImage.objects.select_related("query"),
        pk=image_id,
        status=ProductImage.Status.STORED,
        query__project__in=projects_for_user(user),
    )


def _count(model, *, link: str = "project", **filters) -> Coalesce:
    # One correlated COUNT per column: joining several big tables into one GROUP BY
    # would multiply their rows before counting.
    counted = (
        model.objects.filter(**{link: OuterRef("pk")}, **filters)
        .order_by()
        .values(link)
        .annotate(n=Count("*"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def _with_counts(projects: QuerySet[Project]) -> "QuerySet[ProjectWithCounts]":
    return projects.annotate(
        query_count=_count(Query),
        product_count=_count(Product),
        pair_count=_count(Pair),
        run_count=_count(SearchRun),
        label_count=_count(Label),
        gold_count=_count(Pair, gold_value__isnull=False),
    )


def projects_with_counts(user) -> "QuerySet[ProjectWithCounts]":
    return _with_counts(projects_for_user(user)).order_by("name")


def project_counts(project: Project) -> dict[str, int]:
    row = _with_counts(Project.objects.filter(pk=project.pk)).values(
        "query_count", "product_count", "pair_count", "run_count", "label_count", "gold_count"
    )
    counts = row.get()
    return {
        "queries": counts["query_count"],
        "products": counts["product_count"],
        "pairs": counts["pair_count"],
        "runs": counts["run_count"],
        "labels": counts["label_count"],
        "gold_pairs": counts["gold_count"],
    }


def runs_with_counts(project: Project) -> QuerySet[SearchRun]:
    return (
        SearchRun.objects.filter(project=project)
        .annotate(result_count=Count("results"), query_count=Count("results__query", distinct=True))
        .order_by("-created_at", "-id")
    )


def queries_page(project: Project, *, search: str, page: int) -> Page:
    queries = Query.objects.filter(project=project)
    search = search.strip()
    if search:
        queries = queries.filter(Q(text__icontains=search) | Q(external_id=search))
    queries = queries.annotate(
        pair_count=_count(Pair, link="query"),
        gold_count=_count(Pair, link="query", gold_value__isnull=False),
    ).order_by("-traffic", "external_id", "id")
    return Paginator(queries, QUERIES_PER_PAGE).get_page(page)


def latest_llm_labels(pair_ids) -> dict[int, Label]:
    """The newest LLM label of each pair, in one query: a correlated subquery picks one
    label per pair among that pair's few labels (index on pair, source, rater)."""
    ids = list(pair_ids)
    if not ids:
        return {}
    newest = Label.objects.filter(pair_id=OuterRef("pair_id"), source=LabelSource.LLM).order_by("-created_at", "-id")
    labels = Label.objects.filter(pair_id__in=ids, source=LabelSource.LLM, pk=Subquery(newest.values("pk")[:1]))
    labels = labels.only("id", "pair_id", "rater", "value", "confidence")
    return {label.pair_id: label for label in labels}


def run_queries_page(run: SearchRun, *, page: int, top_k: int = RUN_TOP_K, query_id: int | None = None) -> Page:
    """A page of the run's queries (only query_id's, if given), each with `.top_results`
    (rank ≤ top_k) whose results carry `.gold_shown` (the gold's key and name, None when
    the pair has no gold), `.thumbnail` (the first stored image, or None), `.llm_label`
    (the pair's newest LLM label, or None) and `.llm_shown` (its key and name)."""
    queries = Query.objects.filter(
        project_id=run.project_id, id__in=SearchResult.objects.filter(run=run).values("query_id")
    ).order_by("-traffic", "external_id", "id")
    if query_id is not None:
        queries = queries.filter(id=query_id)
    result_page = Paginator(queries, RUN_QUERIES_PER_PAGE).get_page(page)
    result_page.object_list = list(result_page.object_list)

    shown = label_keys(run.project)
    results = list(
        SearchResult.objects.filter(run=run, query_id__in=[q.id for q in result_page.object_list], rank__lte=top_k)
        .select_related("product", "pair")
        .prefetch_related(
            Prefetch(
                "product__images",
                queryset=ProductImage.objects.filter(status=ProductImage.Status.STORED).order_by("position"),
                to_attr="stored_images",
            )
        )
        .order_by("query_id", "rank")
    )
    llm_labels = latest_llm_labels({result.pair_id for result in results})
    by_query: dict[int, list[ShownResult]] = {}
    # The casts name the attributes set here (and the prefetch's, which the plugin types
    # only on the queryset's own model, not through product__).
    for result in cast("list[ShownResult]", results):
        product = cast("WithAnnotations[Product, _StoredImages]", result.product)
        llm_label = llm_labels.get(result.pair_id)
        result.gold_shown = shown.get(result.pair.gold_value) if result.pair.gold_value is not None else None
        result.llm_label = llm_label
        result.llm_shown = shown.get(llm_label.value) if llm_label else None
        result.thumbnail = product.stored_images[0] if product.stored_images else None
        by_query.setdefault(result.query_id, []).append(result)
    for query in cast("list[ShownQuery]", result_page.object_list):
        query.top_results = by_query.get(query.id, [])
    return result_page


# Gold that people settled: reviewed in qrelay, adjudicated, or imported from their files.
PEOPLE = (GoldProvenance.HUMAN, GoldProvenance.ADJUDICATED, GoldProvenance.IMPORTED)


def human_labelled_pairs(project: Project) -> QuerySet[Pair]:
    """The pairs people labelled or settled: what a judge can be measured on."""
    humans = Label.objects.filter(project=project, source=LabelSource.HUMAN).values("pair_id")
    return Pair.objects.filter(project=project).filter(Q(gold_provenance__in=PEOPLE) | Q(id__in=humans))
