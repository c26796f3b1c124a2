"""File uploads through the API: the same importers as the import_* commands, so a bad
file is refused whole with the same per-row problem report (as a 400), and nothing is
written. Uploading is for leads and admins, as importing is for operators.

    POST /api/projects/<p>/runs/<r>/results/upload/   a run file (CSV, JSONL or TREC run)
    POST /api/projects/<p>/queries/upload/      a queries file
    POST /api/projects/<p>/products/upload/     a products file (image URLs; no local paths)
    POST /api/projects/<p>/labels/upload/       a labels file (CSV, JSONL or TREC qrels)

Each takes multipart/form-data with `file` and optionally `format`.
"""

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from ..access import require_lead
from ..importers import ImportFailed, labels_import, products_import, queries_import, run_import
from ..models import LabelSource, SearchRun
from .base import ProjectScopedView
from .serializers.files import ImportErrorSerializer, ImportSummarySerializer, LabelUploadSerializer, UploadSerializer

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
    hidden = len(exc.problems) - len(problems)
    detail = f"Nothing was imported: {len(exc.problems)} problem(s)" + (
        f", the first {len(problems)} listed." if hidden else "."
    )
    return Response({"detail": detail, "problems": problems}, status=status.HTTP_400_BAD_REQUEST)


UPLOAD_RESPONSES = {
    200: ImportSummarySerializer,
    400: OpenApiResponse(ImportErrorSerializer, description="The file was refused whole; every problem is listed."),
    413: OpenApiResponse(description="The file is larger than 1 GiB."),
}


class UploadView(ProjectScopedView):
    parser_classes = [MultiPartParser, FormParser]
    serializer_class = UploadSerializer
    action_name = "import files"

    def run(self, path: Path, data: dict):
        raise NotImplementedError

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
        try:
            with uploaded_path(upload) as file_path:
                summary = self.run(file_path, given.validated_data)
        except ImportFailed as exc:
            return import_failed_response(exc)
        return Response({"file": summary.file, "rows": summary.rows, "counts": summary.counts, "notes": summary.notes})


class RunResultsUpload(UploadView):
    action_name = "upload run results"

    def target(self) -> SearchRun:
        return self.run_object

    @property
    def run_object(self) -> SearchRun:
        return get_object_or_404(SearchRun, pk=self.kwargs["run_id"], project=self.project)

    @extend_schema(request=UploadSerializer, responses=UPLOAD_RESPONSES, summary="Upload a run's results")
    def post(self, request, project_id: int, run_id: int):
        return self.upload(request)

    def run(self, path: Path, data: dict):
        run = self.run_object
        return run_import(project=self.project, run_name=run.name, path=path, fmt=data.get("format"))


class QueriesUpload(UploadView):
    action_name = "import queries"

    @extend_schema(request=UploadSerializer, responses=UPLOAD_RESPONSES, summary="Import queries from a file")
    def post(self, request, project_id: int):
        return self.upload(request)

    def run(self, path: Path, data: dict):
        return queries_import(project=self.project, path=path, fmt=data.get("format"))


class ProductsUpload(UploadView):
    action_name = "import products"

    @extend_schema(request=UploadSerializer, responses=UPLOAD_RESPONSES, summary="Import products from a file")
    def post(self, request, project_id: int):
        return self.upload(request)

    def run(self, path: Path, data: dict):
        return products_import(project=self.project, path=path, fmt=data.get("format"))


class LabelsUpload(UploadView):
    serializer_class = LabelUploadSerializer
    action_name = "import labels"

    @extend_schema(request=LabelUploadSerializer, responses=UPLOAD_RESPONSES, summary="Import human labels from a file")
    def post(self, request, project_id: int):
        return self.upload(request)

    def run(self, path: Path, data: dict):
        return labels_import(
            project=self.project,
            path=path,
            rater=data.get("rater"),
            gold=data["gold"],
            source=LabelSource.HUMAN,
            fmt=data.get("format"),
        )
