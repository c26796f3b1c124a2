"""REST API of reviewing: queue figures, run status and "evaluate run", agreement.

    GET  /api/projects/<p>/review-stats/              queue sizes per reason, flagged, the caller's count today
    GET  /api/projects/<p>/runs/<r>/status/           unjudged, in review, gold per provenance
    POST /api/projects/<p>/runs/<r>/evaluate/         route what is judged, judge the holes (leads)
    GET  /api/projects/<p>/agreement/                 the summary: α, κ, LLM vs gold, human vs human
    GET  /api/projects/<p>/agreement/segments/?by=    the same per tag, category, locale, reason, …
    GET  /api/projects/<p>/agreement/annotators/      per annotator and per pair of raters (leads)

What is leads-only in the web UI is leads-only here (403 for annotators). Agreement
figures come from the snapshots the dashboard reads (reviews.dashboard.snapshot): a
stale one (over five minutes old, or older than the last label) is answered while one
task recomputes it; ?fresh=true (leads) recomputes now. Each says when it was computed.
"""

from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils.functional import cached_property
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response

from annotation.access import can_see_all_labels, require_default_agreement_options, require_lead
from annotation.api.base import ProjectScopedView
from annotation.models import SearchRun
from judging.jobs import JobError
from judging.models import JudgeJob
from judging.selectors import job_figures
from judging.serializers import JudgeJobSerializer

from . import selectors
from .dashboard.snapshot import agreement_figures
from .models import ReviewTask
from .serializers import (
    AgreementParams,
    AgreementSerializer,
    ReviewStatsSerializer,
    RunStatusSerializer,
    SegmentParams,
)
from .services.evaluate import run_evaluate, run_status
from .services.policies import policy_current


class ReviewStats(ProjectScopedView):
    serializer_class = ReviewStatsSerializer

    def get(self, request, project_id: int):
        project = self.project
        total, per_reason = selectors.queue_counts(project)
        lead = can_see_all_labels(request.user, project)
        return Response(
            {
                "label_queue": {
                    "total": total,
                    "by_reason": [{"reason": r.reason, "name": str(r.name), "count": r.count} for r in per_reason],
                },
                "adjudication_queue": selectors.queue_size(project, ReviewTask.Kind.ADJUDICATION) if lead else None,
                "flagged": selectors.flagged_count(project) if lead else None,
                "labels_today": selectors.labels_today(request.user, project),
                "policy_version": policy_current(project).version,
            }
        )


class RunScopedView(ProjectScopedView):
    @cached_property
    def run(self) -> SearchRun:
        return get_object_or_404(
            SearchRun.objects.select_related("project"), pk=self.kwargs["run_id"], project=self.project
        )

    def active_job(self) -> JudgeJob | None:
        return JudgeJob.objects.filter(run=self.run, status__in=JudgeJob.ACTIVE).order_by("-created_at", "-id").first()


class RunStatus(RunScopedView):
    serializer_class = RunStatusSerializer

    def get(self, request, project_id: int, run_id: int):
        counts = run_status(self.run)
        gold = {key.removeprefix("gold_"): value for key, value in counts.items() if key.startswith("gold_")}
        active = self.active_job()
        return Response(
            {
                **{key: counts[key] for key in ("total", "judged", "unjudged", "in_review")},
                "gold": gold,
                "active_job": active.id if active else None,
            }
        )


class RunEvaluate(RunScopedView):
    serializer_class = JudgeJobSerializer

    @extend_schema(
        request=None,
        responses={
            201: JudgeJobSerializer,
            400: OpenApiResponse(description="The job cannot be made (e.g. no judge configured)."),
            409: OpenApiResponse(description="A judging job of this run is still active."),
        },
        summary="Evaluate a run: route what is judged, judge the holes",
    )
    def post(self, request, project_id: int, run_id: int):
        run = self.run
        require_lead(self.request.user, self.project, "evaluate runs")
        # Two jobs over the same holes would pay for every pair twice.
        active = self.active_job()
        if active is not None:
            return Response(
                {"detail": f"Judging job {active.id} of this run is still {active.status}."},
                status=status.HTTP_409_CONFLICT,
            )
        try:
            job = run_evaluate(run=run, user=request.user)
        except JobError as exc:  # JobConflict (409): another request started a job first
            return Response({"detail": str(exc)}, status=exc.status)
        job = JudgeJob.objects.select_related("run").get(id=job.id)
        data = JudgeJobSerializer(job, context={"figures": {job.id: job_figures(job)}, "request": request}).data
        return Response(data, status=status.HTTP_201_CREATED)


AGREEMENT_RESPONSES = {
    200: AgreementSerializer,
    400: OpenApiResponse(description="The project's scale cannot carry agreement figures."),
    501: OpenApiResponse(description="The server runs on SQLite: agreement needs PostgreSQL."),
}


class AgreementView(ProjectScopedView):
    serializer_class = AgreementSerializer
    filter_serializer_class = AgreementParams

    def cached(self, function: str, **extra) -> dict:
        params = self.filter_params
        if params["fresh"]:
            # A recomputation takes seconds on a big project and holds a web worker.
            require_lead(self.request.user, self.project, "recompute agreement figures (fresh=true)")
        require_default_agreement_options(
            self.request.user,
            self.project,
            {"level": params.get("level"), "boot": params["boot"], "seed": params["seed"]},
            {"level": None, "boot": AgreementParams().fields["boot"].default, "seed": 0},
        )
        options = {"level": params.get("level"), "n_boot": params["boot"], "seed": params["seed"], **extra}
        return agreement_figures(self.project, function, fresh=params["fresh"], **options)

    def figures(self, compute) -> Response:
        try:
            return Response(compute())
        except NotImplementedError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_501_NOT_IMPLEMENTED)
        except ValueError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)

    @extend_schema(parameters=[AgreementParams], responses=AGREEMENT_RESPONSES, summary="Agreement: the main figures")
    def get(self, request, project_id: int):
        return self.figures(lambda: self.cached("project_agreement_summary"))


class AgreementSegments(AgreementView):
    filter_serializer_class = SegmentParams

    @extend_schema(parameters=[SegmentParams], responses=AGREEMENT_RESPONSES, summary="Agreement per segment")
    def get(self, request, project_id: int):
        params = self.filter_params
        return self.figures(lambda: self.cached("agreement_by_segment", by=params["by"], limit=params["limit"]))


class AgreementAnnotators(AgreementView):
    @extend_schema(
        parameters=[AgreementParams], responses=AGREEMENT_RESPONSES, summary="Agreement per annotator (leads)"
    )
    def get(self, request, project_id: int):
        # How each person labels is for the leads, as on the dashboard.
        require_lead(self.request.user, self.project, "see agreement per annotator")

        def compute() -> dict:
            entry = self.cached("annotator_agreement")
            pairs = self.cached("human_pairwise_agreement")["result"]["pairs"]
            return {**entry, "result": {**entry["result"], "human_pairs": pairs}}

        return self.figures(compute)


app_name = "reviews_api"

P = "projects/<int:project_id>/"

urlpatterns = [
    path(P + "review-stats/", ReviewStats.as_view(), name="review_stats"),
    path(P + "runs/<int:run_id>/status/", RunStatus.as_view(), name="run_status"),
    path(P + "runs/<int:run_id>/evaluate/", RunEvaluate.as_view(), name="run_evaluate"),
    path(P + "agreement/", AgreementView.as_view(), name="agreement"),
    path(P + "agreement/segments/", AgreementSegments.as_view(), name="agreement_segments"),
    path(P + "agreement/annotators/", AgreementAnnotators.as_view(), name="agreement_annotators"),
]
