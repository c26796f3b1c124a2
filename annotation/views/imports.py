"""The imports page: a lead uploads a products, queries, run or labels file. A small file
is imported during the request (its summary, or every problem, shown at once); a file over
QRELAY_IMPORT_ASYNC_BYTES becomes an ImportJob that the worker runs, and its page polls
the job's status with htmx until it is done."""

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_http_methods, require_safe

from .. import access
from ..api.imports import MAX_UPLOAD_BYTES, safe_file_name, uploaded_path
from ..htmx import wants_fragment
from ..importers import ImportFailed
from ..importers.jobs import import_file, import_job_create
from ..importers.reading import FORMATS
from ..importers.stall import import_jobs_fail_stalled
from ..models import ImportJob, SearchRun

PROBLEMS_SHOWN = 200


class ImportForm(forms.Form):
    kind = forms.ChoiceField(choices=ImportJob.Kind.choices)
    file = forms.FileField()
    format = forms.ChoiceField(choices=[("", "from the file name")] + [(f, f) for f in FORMATS], required=False)
    run_name = forms.CharField(max_length=200, required=False, help_text="For run results: the run to fill.")
    rater = forms.CharField(max_length=200, required=False, help_text="For labels without a rater column.")
    gold = forms.BooleanField(required=False, help_text="For labels: also make them the pairs' gold.")

    def clean(self):
        super().clean()
        data = self.cleaned_data
        if data.get("kind") == ImportJob.Kind.RUN and not (data.get("run_name") or "").strip():
            self.add_error("run_name", "Name the run the results belong to.")
        upload = data.get("file")
        if upload is not None and upload.size > MAX_UPLOAD_BYTES:
            self.add_error("file", "The file is larger than 1 GiB.")
        return data


def _options(project, data: dict) -> dict:
    options = {"format": data.get("format") or None}
    if data["kind"] == ImportJob.Kind.RUN:
        run, _ = SearchRun.objects.get_or_create(project=project, name=data["run_name"].strip())
        options["run_id"] = run.pk
    if data["kind"] == ImportJob.Kind.LABELS:
        options |= {"rater": data.get("rater") or None, "gold": bool(data.get("gold"))}
    return options


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def imports_page(request, project_id: int):
    project = access.lead_project(request.user, project_id, "import files")
    form = ImportForm(request.POST or None, request.FILES or None)
    ctx: dict = {"project": project, "form": form, "async_bytes": settings.QRELAY_IMPORT_ASYNC_BYTES}
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data, upload = form.cleaned_data, form.cleaned_data["file"]
            options = _options(project, data)
            if upload.size > settings.QRELAY_IMPORT_ASYNC_BYTES:
                job = import_job_create(
                    project=project,
                    kind=data["kind"],
                    upload=upload,
                    file_name=safe_file_name(upload.name),
                    options=options,
                    user=request.user,
                )
                return redirect("import_job", project.id, job.pk)
            try:
                with uploaded_path(upload) as path:
                    ctx["summary"] = import_file(kind=data["kind"], project=project, path=path, options=options)
            except ImportFailed as exc:
                ctx["failure"] = {"problems": exc.problems[:PROBLEMS_SHOWN], "total": exc.total}
                status = 400
        else:
            status = 400
    import_jobs_fail_stalled(project.import_jobs.all())
    ctx["jobs"] = project.import_jobs.all()[:10]
    return TemplateResponse(request, "annotation/imports.html", ctx, status=status)


@login_required
@require_safe
def import_job(request, project_id: int, job_id: int):
    project = access.lead_project(request.user, project_id, "see imports")
    import_jobs_fail_stalled(ImportJob.objects.filter(pk=job_id, project=project))
    job = get_object_or_404(ImportJob, pk=job_id, project=project)
    ctx = {"project": project, "job": job, "problems": job.problems[:PROBLEMS_SHOWN]}
    template = "annotation/_import_job.html" if wants_fragment(request) else "annotation/import_job.html"
    return TemplateResponse(request, template, ctx)
