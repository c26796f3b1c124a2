"""The downloads page and the exports it links to, streamed.

Who may download what: every member of the project gets the gold labels and the runs
(the project's shared output, which every member already sees on its pages); all labels
(every rater's value and rationale, names included) is for leads and admins only, like
the other per-annotator views.

Each export checks what it can before the first byte (annotation.exports), so a bad
request is a 400 page; after that the rows stream from a server-side cursor, so memory
stays flat whatever the size.
"""

from django.contrib.auth.decorators import login_required
from django.http import Http404, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.utils.http import content_disposition_header
from django.utils.text import slugify
from django.views.decorators.http import require_safe

from .. import access, selectors
from ..exports import (
    GOLD_FORMATS,
    ExportError,
    export_gold,
    export_labels_jsonl,
    export_run_trec,
)
from ..forms import GoldDownloadForm
from ..models import Pair, Project

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson; charset=utf-8",
    "qrels": "text/plain; charset=utf-8",
    "trec": "text/plain; charset=utf-8",
}

GOLD_DOWNLOADS = (
    ("csv", "CSV", "for spreadsheets: one row per gold pair, with provenance"),
    ("jsonl", "JSONL", "for programs: the same rows as JSON lines"),
    ("qrels", "TREC qrels", "for trec_eval: query_id 0 product_id label"),
)


def _slug(name: str, fallback: str) -> str:
    # A name of only non-ASCII letters or punctuation slugifies to nothing.
    return slugify(name) or fallback


def _download(blocks, *, fmt: str, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(blocks, content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = content_disposition_header(True, filename)
    response["X-Content-Type-Options"] = "nosniff"
    # Labels change with every review: a download is always fresh, and stays private.
    response["Cache-Control"] = "private, no-store"
    return response


def _page(
    request, project: Project, *, error: str = "", status: int = 200, form: GoldDownloadForm | None = None
) -> TemplateResponse:
    ctx = {
        "form": form or GoldDownloadForm(project=project),
        "project": project,
        "runs": selectors.runs_with_counts(project),
        "gold_pairs": Pair.objects.filter(project=project, gold_value__isnull=False).count(),
        "can_download_labels": access.can_see_all_labels(request.user, project),
        "gold_formats": GOLD_DOWNLOADS,
        "error": error,
    }
    return TemplateResponse(request, "annotation/downloads.html", ctx, status=status)


@require_safe
@login_required
def downloads(request, project_id: int):
    project = access.project_for_user(request.user, project_id)
    return _page(request, project)


@require_safe
@login_required
def download_gold(request, project_id: int, fmt: str):
    project = access.project_for_user(request.user, project_id)
    if fmt not in GOLD_FORMATS:
        raise Http404("no such export format")
    form = GoldDownloadForm(request.GET, project=project)
    if not form.is_valid():
        return _page(request, project, error="Check the download's filters.", status=400, form=form)
    excel = form.cleaned_data["excel"] and fmt == "csv"  # the Excel variant is a CSV option
    try:
        blocks = export_gold(project, fmt, gold_filter=form.gold_filter(), excel=excel)
    except ExportError as exc:
        return _page(request, project, error=str(exc), status=400, form=form)
    run = form.cleaned_data.get("run")
    stem = _slug(project.name, f"project-{project.id}")
    if run is not None:
        stem += f"-{_slug(run.name, f'run-{run.id}')}"
    if form.gold_filter().provenance_values() is not None:
        stem += "-filtered"  # some provenances only
    return _download(blocks, fmt=fmt, filename=f"{stem}-gold{'-excel' if excel else ''}.{fmt}")


@require_safe
@login_required
def download_labels(request, project_id: int):
    project = access.project_for_user(request.user, project_id)
    if not access.can_see_all_labels(request.user, project):
        raise access.LeadRequired("download every rater's labels")
    blocks = export_labels_jsonl(project)
    return _download(blocks, fmt="jsonl", filename=f"{_slug(project.name, f'project-{project.id}')}-labels.jsonl")


@require_safe
@login_required
def download_run(request, project_id: int, run_id: int):
    run = access.run_for_user(request.user, project_id, run_id)
    project = run.project
    try:
        blocks = export_run_trec(run)
    except ExportError as exc:
        return _page(request, project, error=str(exc), status=400)
    name = f"{_slug(project.name, f'project-{project.id}')}-{_slug(run.name, f'run-{run.id}')}.trec"
    return _download(blocks, fmt="trec", filename=name)
