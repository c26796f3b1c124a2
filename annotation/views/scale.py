"""The project's scale page: every level with its key, name, gain and one-line
definition; a lead edits the definitions (names and values stay: labels refer to them)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_http_methods

from .. import access
from ..label_keys import keyed_scale
from ..models import ScaleLevel

DEFINITION_MAX = ScaleLevel._meta.get_field("definition").max_length or 200


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def scale_page(request, project_id: int):
    project = access.project_for_user(request.user, project_id)
    lead = access.is_lead(request.user, project)
    scale = keyed_scale(project)
    levels = [level for _, level in scale]
    errors: dict[int, str] = {}
    if request.method == "POST":
        access.require_lead(request.user, project, "edit the scale's definitions")
        changed = []
        for level in levels:
            text = " ".join(request.POST.get(f"definition-{level.value}", level.definition).split())
            if len(text) > DEFINITION_MAX:
                errors[level.value] = f"At most {DEFINITION_MAX} characters (one line on a button)."
            elif text != level.definition:
                level.definition = text
                changed.append(level)
        if not errors:
            ScaleLevel.objects.bulk_update(changed, ["definition"])
            messages.success(request, f"Saved {len(changed)} definition(s).")
            return redirect("scale_page", project.id)
    rows = [{"key": key, "level": level, "error": errors.get(level.value, "")} for key, level in scale]
    status = 400 if errors else 200
    return TemplateResponse(
        request, "annotation/scale.html", {"project": project, "rows": rows, "is_lead": lead}, status=status
    )
