"""Streamed exports through the API: the generators of annotation.exports handed to a
StreamingHttpResponse, so memory stays flat whatever the project's size.

    GET /api/projects/<p>/exports/gold/?format=csv|jsonl|qrels   gold labels with provenance
        &run=<id>&provenance=human,adjudicated&human_only=true     only some gold rows
        &excel=true                                               csv with a UTF-8 BOM, for Excel
    GET /api/projects/<p>/exports/labels/                         every label (JSONL)
    GET /api/projects/<p>/runs/<r>/export/?scores=auto|rank&tag=  the run as a TREC run file

A problem found before the first byte (an id TREC cannot hold, say) is a 400 in JSON;
the body is the file, sent as an attachment with a server-chosen name.
"""

import re

from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from ..access import IsProjectLead
from ..exports import ExportError, GoldFilter, export_gold, export_labels_jsonl, export_run_trec
from ..models import SearchRun
from .base import ProjectScopedView
from .serializers.files import GoldExportParams, RunExportParams

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson; charset=utf-8",
    "qrels": "text/plain; charset=utf-8",
    "run": "text/plain; charset=utf-8",
}
EXTENSIONS = {"csv": "csv", "jsonl": "jsonl", "qrels": "qrels", "run": "run"}


class FileExportNegotiation(BaseContentNegotiation):
    """The body is a file whatever the Accept header says (a client asking for text/csv
    must not get a 406); errors before the file are JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None


def file_stem(name: str) -> str:
    # Project and run names come from users: only safe characters reach the header.
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:80] or "export"


def stream(blocks, kind: str, stem: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse((block.encode() for block in blocks), content_type=CONTENT_TYPES[kind])
    response["Content-Disposition"] = f'attachment; filename="{file_stem(stem)}.{EXTENSIONS[kind]}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store"
    return response


def file_responses(*kinds: str) -> dict:
    responses: dict[int | tuple[int, str], OpenApiTypes | OpenApiResponse] = {
        (200, CONTENT_TYPES[kind].split(";")[0]): OpenApiTypes.STR for kind in kinds
    }
    responses[400] = OpenApiResponse(
        description="The data cannot be written in this format (e.g. whitespace in an id for TREC)."
    )
    return responses


class ExportView(ProjectScopedView):
    content_negotiation_class = FileExportNegotiation

    def refuse(self, exc: ExportError) -> Response:
        return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)


class GoldExport(ExportView):
    filter_serializer_class = GoldExportParams

    @extend_schema(
        parameters=[GoldExportParams], responses=file_responses("csv", "jsonl", "qrels"), summary="Export gold labels"
    )
    def get(self, request, project_id: int):
        params = self.filter_params
        fmt = params["format"]
        run = params.get("run")
        if run is not None and not SearchRun.objects.filter(pk=run, project=self.project).exists():
            return self.refuse(ExportError(f"no run {run} in this project"))
        gold_filter = GoldFilter(run_id=run, provenances=params.get("provenance", ()), human_only=params["human_only"])
        try:
            blocks = export_gold(self.project, fmt, gold_filter=gold_filter, excel=params["excel"])
        except ExportError as exc:
            return self.refuse(exc)
        return stream(blocks, fmt, f"{self.project.name}-gold")


class LabelsExport(ExportView):
    permission_classes = [IsAuthenticated, IsProjectLead]
    lead_action = "download every rater's labels"

    @extend_schema(responses=file_responses("jsonl"), summary="Export every label (LLM and human) as JSONL")
    def get(self, request, project_id: int):
        return stream(export_labels_jsonl(self.project), "jsonl", f"{self.project.name}-labels")


class RunExport(ExportView):
    filter_serializer_class = RunExportParams

    @extend_schema(
        parameters=[RunExportParams], responses=file_responses("run"), summary="Export a run as a TREC run file"
    )
    def get(self, request, project_id: int, run_id: int):
        run = get_object_or_404(SearchRun, pk=run_id, project=self.project)
        params = self.filter_params
        try:
            blocks = export_run_trec(run, tag=params.get("tag"), scores=params["scores"])
        except ExportError as exc:
            return self.refuse(exc)
        return stream(blocks, "run", f"{self.project.name}-{run.name}")
