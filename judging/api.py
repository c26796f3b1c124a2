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
from django.utils.functional import cached_property
from rest_framework import status
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from annotation.models import Project
from annotation.selectors import project_for_user

from . import selectors
from .jobs import JobError, judge_job_cancel, judge_job_create
from .models import JudgeJob
from .serializers import JudgeJobCreateSerializer, JudgeJobSerializer


class ProjectScopedView(GenericAPIView):
    serializer_class = JudgeJobSerializer

    @cached_property
    def project(self) -> Project:
        return project_for_user(self.request.user, self.kwargs["project_id"])

    def get_queryset(self):
        return JudgeJob.objects.filter(project=self.project).select_related("run").order_by("-created_at", "-id")

    def require_manager(self) -> None:
        if not selectors.can_manage_jobs(self.request.user, self.project):
            raise PermissionDenied("Only a lead or admin of the project may start or cancel judging jobs.")

    def job_data(self, jobs) -> list[dict]:
        figures = {job.id: figures for job, figures in selectors.jobs_with_figures(jobs)}
        return JudgeJobSerializer(jobs, many=True, context={"figures": figures, "request": self.request}).data


class JudgeJobListView(ProjectScopedView):
    def get(self, request, project_id: int):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.job_data(page))

    def post(self, request, project_id: int):
        project = self.project
        self.require_manager()
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
        except JobError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        job = self.get_queryset().get(id=job.id)
        return Response(self.job_data([job])[0], status=status.HTTP_201_CREATED)


class JudgeJobDetailView(ProjectScopedView):
    def get(self, request, project_id: int, job_id: int):
        job = selectors.job_for_user(request.user, project_id, job_id)
        return Response(self.job_data([job])[0])


class JudgeJobCancelView(ProjectScopedView):
    def post(self, request, project_id: int, job_id: int):
        job = selectors.job_for_user(request.user, project_id, job_id)
        self.require_manager()
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
