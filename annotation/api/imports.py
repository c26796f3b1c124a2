"""File uploads through the API: the same importers as the import_* commands, so a bad
file is refused whole with the same per-row problem report (as a 400), and nothing is
written. Uploading is for leads and admins, as importing is for operators.

    POST /api/projects/<p>/runs/<r>/results/upload/   a run file (CSV, JSONL or TREC run)
    POST /api/projects/<p>/queries/upload/      a queries file
    POST /api/projects/<p>/products/upload/     a products file (image URLs; no local paths)
    POST /api/projects/<p>/labels/upload/       a labels file (CSV, JSONL or TREC qrels)

Each takes multipart/form-data with `file` and optionally `format`. A file larger than
QRELAY_IMPORT_ASYNC_BYTES is imported by the worker: the answer is a 202 with the job
and its status URL,

    GET /api/projects/<p>/imports/<job>/        status, rows done, then summary or problems
"""

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

from django.conf import settings
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from ..access import require_lead
from ..importers import ImportFailed
from ..importers.jobs import import_file, import_job_create, summary_dict
from ..importers.stall import import_jobs_fail_stalled
from ..models import ImportJob, SearchRun
from .base import ProjectScopedView
from .serializers.files import (
    ImportErrorSerializer,
    ImportJobSerializer,
    ImportSummarySerializer,
    LabelUploadSerializer,
    UploadSerializer,
)

MAX_UPLOAD_BYTES = 1 << 30
MAX_PROBLEMS_SHOWN = 1000
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_file_name(name: str | None) -> str:
    """The client's base name reduced to safe characters: the importers read the format
    from its extension and name it in every problem, but it never chooses a path."""
    base = _UNSAFE.sub("_", Path(name or "").name).lstrip(".")[-120:]
    return base or "upload"


@contextmanager
def uploaded_path(upload) -> Iterator[Path]:
    """The upload as a file alone in a fresh temporary folder, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="qrelay-upload-") as folder:
        target = Path(folder) / safe_file_name(upload.name)
        with target.open("wb") as handle:
            for chunk in upload.chunks():
                handle.write(chunk)
        yield target


def import_failed_response(exc: ImportFailed) -> Response:
    problems = [asdict(problem) for problem in exc.problems[:MAX_PROBLEMS_SHOWN]]
    hidden = exc.total - len(problems)
    detail = f"Nothing was imported: {exc.total} problem(s)" + (
        f", the first {len(problems)} listed." if hidden else "."
    )
    return Response({"detail": detail, "problems": problems}, status=status.HTTP_400_BAD_REQUEST)


def job_payload(request, job: ImportJob) -> dict:
    payload = ImportJobSerializer(job).data
    payload["status_url"] = request.build_absolute_uri(
        reverse("annotation_api:import_job", args=[job.project_id, job.pk])
    )
    return payload


UPLOAD_RESPONSES = {
    200: ImportSummarySerializer,
    202: OpenApiResponse(ImportJobSerializer, description="A large file: the worker imports it; poll status_url."),
    400: OpenApiResponse(ImportErrorSerializer, description="The file was refused whole; every problem is listed."),
    413: OpenApiResponse(description="The file is larger than 1 GiB."),
}


class UploadView(ProjectScopedView):
    parser_classes = [MultiPartParser, FormParser]
    serializer_class = UploadSerializer
    action_name = "import files"
    kind: str = ""

    def import_options(self, data: dict) -> dict:
        """The importer's options from the validated body (JSON: they may wait in a job)."""
        return {"format": data.get("format")}

    def target(self):
        """Checked before the body is read: a foreign object is a 404 whatever is sent."""

    def upload(self, request) -> Response:
        """What every subclass's post does; each declares its own post for its URL's
        parameters and its schema."""
        self.target()
        require_lead(self.request.user, self.project, self.action_name)
        given = self.serializer_class(data=request.data)
        given.is_valid(raise_exception=True)
        upload = given.validated_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            return Response(
                {"detail": "The file is larger than 1 GiB."}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
            )
        options = self.import_options(given.validated_data)
        if upload.size > settings.QRELAY_IMPORT_ASYNC_BYTES:
            job = import_job_create(
                project=self.project,
                kind=self.kind,
                upload=upload,
                file_name=safe_file_name(upload.name),
                options=options,
                user=request.user,
            )
            job.refresh_from_db()  # in embedded mode (tasks eager) it has run already
            return Response(job_payload(request, job), status=status.HTTP_202_ACCEPTED)
        try:
            with uploaded_path(upload) as file_path:
                summary = import_file(kind=self.kind, project=self.project, path=file_path, options=options)
        except ImportFailed as exc:
            return import_failed_response(exc)
        return Response(summary_dict(summary))


class RunResultsUpload(UploadView):
    action_name = "upload run results"
    kind = ImportJob.Kind.RUN

    def target(self) -> SearchRun:
        return self.run_object

    @property
    def run_object(self) -> SearchRun:
        return get_object_or_404(SearchRun, pk=self.kwargs["run_id"], project=self.project)

    @extend_schema(request=UploadSerializer, responses=UPLOAD_RESPONSES, summary="Upload a run's results")
    def post(self, request, project_id: int, run_id: int):
        return self.upload(request)

    def import_options(self, data: dict) -> dict:
        return {"format": data.get("format"), "run_id": self.run_object.pk}


class QueriesUpload(UploadView):
    action_name = "import queries"
    kind = ImportJob.Kind.QUERIES

    @extend_schema(request=UploadSerializer, responses=UPLOAD_RESPONSES, summary="Import queries from a file")
    def post(self, request, project_id: int):
        return self.upload(request)


class ProductsUpload(UploadView):
    action_name = "import products"
    kind = ImportJob.Kind.PRODUCTS

    @extend_schema(request=UploadSerializer, responses=UPLOAD_RESPONSES, summary="Import products from a file")
    def post(self, request, project_id: int):
        return self.upload(request)


class LabelsUpload(UploadView):
    serializer_class = LabelUploadSerializer
    action_name = "import labels"
    kind = ImportJob.Kind.LABELS

    @extend_schema(request=LabelUploadSerializer, responses=UPLOAD_RESPONSES, summary="Import human labels from a file")
    def post(self, request, project_id: int):
        return self.upload(request)

    def import_options(self, data: dict) -> dict:
        return {"format": data.get("format"), "rater": data.get("rater"), "gold": data["gold"]}


class ImportJobDetail(ProjectScopedView):
    """An upload the worker imports: its status, rows read so far, then its summary or
    its problems. For leads, as uploading is."""

    serializer_class = ImportJobSerializer

    @extend_schema(responses={200: ImportJobSerializer}, summary="The status of a large upload's import")
    def get(self, request, project_id: int, job_id: int):
        job = get_object_or_404(ImportJob, pk=job_id, project=self.project)
        require_lead(request.user, self.project, "see imports")
        if import_jobs_fail_stalled(ImportJob.objects.filter(pk=job.pk)):
            job.refresh_from_db()
        return Response(job_payload(request, job))
