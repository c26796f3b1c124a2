"""The lead's "build a hard subset" form (on the rules page): thin, reviews/benchmark.py
does the work; the export is `manage.py hard_subset --out`."""

from django.contrib.auth.decorators import login_required
from django.template.response import TemplateResponse
from django.views.decorators.http import require_POST

from annotation.access import lead_project

from ..benchmark import BenchmarkError, subset_build


@require_POST
@login_required
def hard_subset_build(request, project_id: int):
    project = lead_project(request.user, project_id, "build a hard subset")
    ctx: dict = {"project": project}
    try:
        threshold = float(request.POST.get("threshold", "0.5"))
        ctx["subset"] = subset_build(project, name="hard", threshold=threshold)
    except (ValueError, BenchmarkError) as exc:
        ctx["problem"] = str(exc) if isinstance(exc, BenchmarkError) else "the threshold is a number in (0, 1]"
    status = 400 if "problem" in ctx else 200
    return TemplateResponse(request, "reviews/_hard_subset.html", ctx, status=status)
