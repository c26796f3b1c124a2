"""REST API of search runs: list, create, results, metrics and comparison.

    GET  /api/projects/<p>/runs/                      the project's runs, newest first
    POST /api/projects/<p>/runs/                      {"name", "description"?}: an empty run (leads)
    GET  /api/projects/<p>/runs/<r>/
    GET  /api/projects/<p>/runs/<r>/results/          ?query=  ranked results
    GET  /api/projects/<p>/runs/<r>/metrics/          ?k= ?labels= ?relevant_min= ?per_query=
    GET  /api/projects/<p>/runs/<r>/compare/          ?baseline=<run id> ?metric= ?k= ?labels= ?seed= ?top=

Uploading results is in imports.py. The figures are annotation.metrics.run_metrics
and annotation.comparison.compare_run_metrics, as the `metrics` command prints them.
"""

from django.shortcuts import get_object_or_404
from django.utils.functional import cached_property
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.mixins import ListModelMixin
from rest_framework.response import Response

from ..access import require_label_source, require_lead
from ..comparison import compare_run_metrics
from ..metrics import MetricsError, run_metrics
from ..metrics.recall import recall_by_locale
from ..models import SearchResult, SearchRun
from ..selectors import runs_with_counts
from ..services import RunExists, run_create
from .base import ProjectScopedView
from .serializers.runs import (
    CompareParams,
    ComparisonSerializer,
    MetricsParams,
    ResultFilter,
    ResultSerializer,
    RunCreateSerializer,
    RunMetricsSerializer,
    RunSerializer,
)


class RunScopedView(ProjectScopedView):
    @cached_property
    def run(self) -> SearchRun:
        return get_object_or_404(
            SearchRun.objects.select_related("project"), pk=self.kwargs["run_id"], project=self.project
        )


class RunList(ListModelMixin, ProjectScopedView):
    serializer_class = RunSerializer

    def get_queryset(self):
        return runs_with_counts(self.project)

    def get(self, request, project_id: int):
        return self.list(request)

    @extend_schema(request=RunCreateSerializer, responses={201: RunSerializer})
    def post(self, request, project_id: int):
        project = self.project
        require_lead(self.request.user, self.project, "create runs")
        given = RunCreateSerializer(data=request.data, context={"project": project})
        given.is_valid(raise_exception=True)
        try:
            run = run_create(project=project, **given.validated_data)
        except RunExists as exc:
            return Response({"name": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        return Response(RunSerializer(runs_with_counts(project).get(pk=run.pk)).data, status=status.HTTP_201_CREATED)


class RunDetail(RunScopedView):
    serializer_class = RunSerializer

    def get(self, request, project_id: int, run_id: int):
        run = get_object_or_404(runs_with_counts(self.project), pk=run_id)
        return Response(RunSerializer(run).data)


@extend_schema(parameters=[ResultFilter])
class RunResults(ListModelMixin, RunScopedView):
    serializer_class = ResultSerializer
    filter_serializer_class = ResultFilter

    def get_queryset(self):
        results = SearchResult.objects.filter(run=self.run)
        if self.filter_params.get("query") is not None:
            results = results.filter(query=self.filter_params["query"])
        return results.select_related("query", "product").order_by("query__external_id", "query_id", "rank", "id")

    def get(self, request, project_id: int, run_id: int):
        return self.list(request)


def _metrics_data(metrics, per_query: bool) -> dict:
    data = metrics.to_dict()
    data["by_locale"] = [row.to_dict() for row in recall_by_locale(metrics)]
    if not per_query:
        del data["per_query"]
    return data


class RunMetricsView(RunScopedView):
    serializer_class = RunMetricsSerializer
    filter_serializer_class = MetricsParams

    @extend_schema(parameters=[MetricsParams], responses=RunMetricsSerializer, summary="nDCG@k, P@k, … of a run")
    def get(self, request, project_id: int, run_id: int):
        run = self.run  # a foreign run is a 404 before any parameter is judged
        params = self.filter_params
        require_label_source(request.user, self.project, params["labels"])
        try:
            metrics = run_metrics(
                run, k=params["k"], label_source=params["labels"], relevant_min_value=params.get("relevant_min")
            )
        except MetricsError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(_metrics_data(metrics, params["per_query"]))


class RunCompareView(RunScopedView):
    serializer_class = ComparisonSerializer
    filter_serializer_class = CompareParams

    @extend_schema(
        parameters=[CompareParams], responses=ComparisonSerializer, summary="This run against a baseline run"
    )
    def get(self, request, project_id: int, run_id: int):
        run = self.run
        params = self.filter_params
        require_label_source(request.user, self.project, params["labels"])
        options = {"k": params["k"], "label_source": params["labels"], "relevant_min_value": params.get("relevant_min")}
        try:
            comparison = compare_run_metrics(
                run_metrics(params["baseline"], **options),
                run_metrics(run, **options),
                metric=params["metric"],
                seed=params["seed"],
            )
        except MetricsError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(comparison.to_dict(params["top"]))
