"""REST API of a project's data, under /api/ (annotation/api/urls.py).

    GET /api/projects/                          the caller's projects
    GET /api/projects/<p>/                      one project: scale, counts, the caller's role
    GET /api/projects/<p>/queries/              ?search= ?locale= ?tag=
    GET /api/projects/<p>/queries/<id>/
    GET /api/projects/<p>/products/             ?search= ?brand= ?category=
    GET /api/projects/<p>/products/<id>/
    GET /api/projects/<p>/pairs/                ?run= ?query= ?product= ?has_gold= ?provenance=
    GET /api/projects/<p>/pairs/<id>/           with its labels
    GET /api/projects/<p>/labels/               ?source=llm|human ?pair= ?rater=

Runs, metrics, uploads and exports are in runs.py, imports.py and exports.py. Lists are
paginated (?page=, ?page_size= up to 1000) in a stable order.
"""

from django.db.models import Prefetch, Q
from django.shortcuts import get_object_or_404
from django.utils.functional import cached_property
from drf_spectacular.utils import extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.mixins import ListModelMixin
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from ..access import IsProjectLead, can_see_all_labels, projects_for_user
from ..models import Label, Membership, Pair, Product, ProductImage, Project, Query, Role, SearchResult
from ..selectors import project_counts
from .base import ProjectScopedView
from .serializers.projects import (
    LabelFilter,
    LabelSerializer,
    PairDetailSerializer,
    PairFilter,
    PairSerializer,
    ProductFilter,
    ProductSerializer,
    ProjectDetailSerializer,
    ProjectSerializer,
    QueryFilter,
    QuerySerializer,
)


def roles_of(user) -> dict[int, str]:
    """{project id: the user's role}; a superuser is an admin of every project."""
    roles = dict(Membership.objects.filter(user=user).values_list("project_id", "role"))
    if user.is_superuser:
        return dict.fromkeys(Project.objects.values_list("id", flat=True), Role.ADMIN)
    return roles


class ProjectList(ListAPIView):
    serializer_class = ProjectSerializer

    def get_queryset(self):
        return projects_for_user(self.request.user).order_by("name", "id")

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "roles": roles_of(self.request.user)}


class ProjectDetail(ProjectScopedView):
    serializer_class = ProjectDetailSerializer

    def get(self, request, project_id: int):
        project = self.project
        role = (
            Role.ADMIN if request.user.is_superuser else Membership.objects.get(project=project, user=request.user).role
        )
        context = {"roles": {project.id: role}, "counts": project_counts(project), "request": request}
        return Response(ProjectDetailSerializer(project, context=context).data)


class ScaleContextMixin(ProjectScopedView):
    """The scale's level names in the serializer context (a project-scoped view's)."""

    @cached_property
    def level_names(self) -> dict[int, str]:
        return dict(self.project.levels.values_list("value", "name"))

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "level_names": self.level_names}


# --- queries and products ----------------------------------------------------------------


@extend_schema(parameters=[QueryFilter])
class QueryList(ListModelMixin, ProjectScopedView):
    serializer_class = QuerySerializer
    filter_serializer_class = QueryFilter

    def get_queryset(self):
        params = self.filter_params
        queries = Query.objects.filter(project=self.project)
        if search := params.get("search", "").strip():
            queries = queries.filter(Q(text__icontains=search) | Q(external_id=search))
        if "locale" in params:
            queries = queries.filter(locale=params["locale"])
        if "tag" in params:
            queries = queries.filter(tags__contains=[params["tag"]])
        return queries.prefetch_related("images").order_by("-traffic", "external_id", "id")

    def get(self, request, project_id: int):
        return self.list(request)


class QueryDetail(ProjectScopedView):
    serializer_class = QuerySerializer

    def get(self, request, project_id: int, query_id: int):
        query = get_object_or_404(Query, pk=query_id, project=self.project)
        return Response(QuerySerializer(query).data)


def _with_images(products):
    return products.prefetch_related(Prefetch("images", queryset=ProductImage.objects.order_by("position")))


@extend_schema(parameters=[ProductFilter])
class ProductList(ListModelMixin, ProjectScopedView):
    serializer_class = ProductSerializer
    filter_serializer_class = ProductFilter

    def get_queryset(self):
        params = self.filter_params
        products = Product.objects.filter(project=self.project)
        if search := params.get("search", "").strip():
            products = products.filter(Q(title__icontains=search) | Q(external_id=search))
        if "brand" in params:
            products = products.filter(brand__iexact=params["brand"])
        if "category" in params:
            products = products.filter(category=params["category"])
        return _with_images(products).order_by("external_id", "id")

    def get(self, request, project_id: int):
        return self.list(request)


class ProductDetail(ProjectScopedView):
    serializer_class = ProductSerializer

    def get(self, request, project_id: int, product_id: int):
        product = get_object_or_404(_with_images(Product.objects.all()), pk=product_id, project=self.project)
        return Response(ProductSerializer(product).data)


# --- pairs and labels ----------------------------------------------------------------------


@extend_schema(parameters=[PairFilter])
class PairList(ScaleContextMixin, ListModelMixin, ProjectScopedView):
    serializer_class = PairSerializer
    filter_serializer_class = PairFilter

    def get_queryset(self):
        params = self.filter_params
        pairs = Pair.objects.filter(project=self.project)
        if params.get("run") is not None:
            pairs = pairs.filter(id__in=SearchResult.objects.filter(run=params["run"]).values("pair_id"))
        if params.get("query") is not None:
            pairs = pairs.filter(query=params["query"])
        if params.get("product") is not None:
            pairs = pairs.filter(product=params["product"])
        if params.get("has_gold") is not None:
            pairs = pairs.filter(gold_value__isnull=not params["has_gold"])
        if "provenance" in params:
            pairs = pairs.filter(gold_provenance=params["provenance"])
        return pairs.select_related("query", "product").order_by("id")

    def get(self, request, project_id: int):
        return self.list(request)


class PairDetail(ScaleContextMixin, ProjectScopedView):
    serializer_class = PairDetailSerializer

    def get(self, request, project_id: int, pair_id: int):
        pairs = Pair.objects.select_related("query", "product").prefetch_related(
            Prefetch("labels", queryset=Label.objects.order_by("created_at", "id"))
        )
        pair = get_object_or_404(pairs, pk=pair_id, project=self.project)
        data = PairDetailSerializer(pair, context=self.get_serializer_context()).data
        if not can_see_all_labels(request.user, self.project):
            # Annotators label blind (audits, second raters): other raters' labels are for leads.
            data["labels"] = []
        return Response(data)


@extend_schema(parameters=[LabelFilter])
class LabelList(ScaleContextMixin, ListModelMixin, ProjectScopedView):
    serializer_class = LabelSerializer
    filter_serializer_class = LabelFilter
    # Every rater's values and rationales: leads only, as the all-labels download.
    permission_classes = [IsAuthenticated, IsProjectLead]
    lead_action = "read every rater's labels"

    def get_queryset(self):
        params = self.filter_params
        labels = Label.objects.filter(project=self.project)
        if "source" in params:
            labels = labels.filter(source=params["source"])
        if params.get("pair") is not None:
            labels = labels.filter(pair=params["pair"])
        if "rater" in params:
            labels = labels.filter(rater=params["rater"])
        return labels.order_by("id")

    def get(self, request, project_id: int):
        return self.list(request)
