"""REST API for judge jobs, under /api/ (config/urls.py).

    GET  /api/projects/<p>/judge-jobs/              the project's jobs, newest first (paginated)
    POST /api/projects/<p>/judge-jobs/              {"run": name|id, "mode"?, "holes_only"?: true}
                                                    or {"pair_ids": [...], "mode"?, "holes_only"?}
    GET  /api/projects/<p>/judge-jobs/<id>/         one job, with live figures while it runs
    POST /api/projects/<p>/judge-jobs/<id>/cancel/  stop a queued or running job

Every request is scoped to the caller's projects (a foreign project or job is a 404);
creating and cancelling need the lead or admin role (else 403).
"""

from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.mixins import ListModelMixin
from rest_framework.response import Response

from annotation.access import require_lead
from annotation.api.base import ProjectScopedView as BaseProjectScopedView

from . import selectors
from .jobs import JobError, judge_job_cancel, judge_job_create
from .models import JudgeJob
from .serializers import JudgeJobCreateSerializer, JudgeJobSerializer


class ProjectScopedView(BaseProjectScopedView):
    serializer_class = JudgeJobSerializer

    def get_queryset(self):
        return JudgeJob.objects.filter(project=self.project).select_related("run").order_by("-created_at", "-id")

    def job_data(self, jobs) -> list[dict]:
        figures = {job.id: figures for job, figures in selectors.jobs_with_figures(jobs)}
        return list(JudgeJobSerializer(jobs, many=True, context={"figures": figures, "request": self.request}).data)


CONFLICT = OpenApiResponse(description="The job is finished already: nothing to cancel.")
RUN_BUSY = OpenApiResponse(description="The run has a queued or running job already.")


class JudgeJobListView(ListModelMixin, ProjectScopedView):
    def list(self, request, *args, **kwargs):
        # The figures of a page of jobs come from a few grouped queries, not one per job.
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.job_data(page))

    def get(self, request, project_id: int):
        return self.list(request)

    @extend_schema(
        request=JudgeJobCreateSerializer,
        responses={201: JudgeJobSerializer, 409: RUN_BUSY},
        summary="Start a judging job",
    )
    def post(self, request, project_id: int):
        project = self.project
        require_lead(self.request.user, self.project, "start or cancel judging jobs")
        given = JudgeJobCreateSerializer(data=request.data, context={"project": project})
        given.is_valid(raise_exception=True)
        data = given.validated_data
        try:
            job = judge_job_create(
                project=project,
                run=data.get("run"),
                pair_ids=data.get("pair_ids"),
                holes_only=data["holes_only"],
                mode=data.get("mode"),
                user=request.user,
            )
        except JobError as exc:  # JobConflict (409): another request started a job first
            return Response({"detail": str(exc)}, status=exc.status)
        job = self.get_queryset().get(id=job.id)
        return Response(self.job_data([job])[0], status=status.HTTP_201_CREATED)


class JudgeJobDetailView(ProjectScopedView):
    @extend_schema(responses=JudgeJobSerializer, summary="A job and its progress")
    def get(self, request, project_id: int, job_id: int):
        job = selectors.job_for_user(request.user, project_id, job_id)
        return Response(self.job_data([job])[0])


class JudgeJobCancelView(ProjectScopedView):
    @extend_schema(request=None, responses={200: JudgeJobSerializer, 409: CONFLICT}, summary="Cancel a job")
    def post(self, request, project_id: int, job_id: int):
        job = selectors.job_for_user(request.user, project_id, job_id)
        require_lead(self.request.user, self.project, "start or cancel judging jobs")
        if not judge_job_cancel(job=job):
            job.refresh_from_db()
            return Response({"detail": f"The job is already {job.status}."}, status=status.HTTP_409_CONFLICT)
        job.refresh_from_db()
        return Response(self.job_data([job])[0])


app_name = "judging_api"

urlpatterns = [
    path("projects/<int:project_id>/judge-jobs/", JudgeJobListView.as_view(), name="job_list"),
    path("projects/<int:project_id>/judge-jobs/<int:job_id>/", JudgeJobDetailView.as_view(), name="job_detail"),
    path("projects/<int:project_id>/judge-jobs/<int:job_id>/cancel/", JudgeJobCancelView.as_view(), name="job_cancel"),
]
