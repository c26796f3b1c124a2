"""The lead's "build a hard subset" form (on the rules page) and its download as a .zip
(benchmark.jsonl + images/): thin, reviews/benchmark.py does the work; the same export is
`manage.py hard_subset --out`."""

import tempfile

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.template.response import TemplateResponse
from django.utils.text import slugify
from django.views.decorators.http import require_http_methods, require_safe

from annotation.access import lead_project

from ..benchmark import BenchmarkError, benchmark_zip, subset_build
from ..models import PairSubset

SUBSET_NAME = "hard"


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def hard_subset_build(request, project_id: int):
    """POST builds (or rebuilds) the subset; GET shows the one built last, with its
    download link (the rules page loads it)."""
    project = lead_project(request.user, project_id, "build a hard subset")
    ctx: dict = {"project": project}
    if request.method != "POST":
        ctx["subset"] = PairSubset.objects.filter(project=project, name=SUBSET_NAME).first()
        return TemplateResponse(request, "reviews/_hard_subset.html", ctx)
    try:
        threshold = float(request.POST.get("threshold", "0.5"))
        ctx["subset"] = subset_build(project, name=SUBSET_NAME, threshold=threshold)
    except (ValueError, BenchmarkError) as exc:
        ctx["problem"] = str(exc) if isinstance(exc, BenchmarkError) else "the threshold is a number in (0, 1]"
    status = 400 if "problem" in ctx else 200
    return TemplateResponse(request, "reviews/_hard_subset.html", ctx, status=status)


@require_safe
@login_required
def hard_subset_download(request, project_id: int):
    """The project's hard subset as it was last built, as a .zip; leads only (it holds gold)."""
    project = lead_project(request.user, project_id, "download the hard subset")
    subset = PairSubset.objects.filter(project=project, name=SUBSET_NAME).first()
    if subset is None:
        raise Http404("no hard subset built yet")
    # On disk, not in memory: the images can be large. Removed when the response closes it.
    archive = tempfile.TemporaryFile()  # noqa: SIM115  (FileResponse closes it)
    benchmark_zip(subset, archive)
    archive.seek(0)
    name = f"{slugify(project.name) or 'project'}-{SUBSET_NAME}-benchmark.zip"
    return FileResponse(archive, as_attachment=True, filename=name, content_type="application/zip")
