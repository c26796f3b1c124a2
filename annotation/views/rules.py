"""The lead's rulebook page: add, edit and retire rules, or add the RAIR preset. Thin:
annotation/rulebook.py does the work; every member may read the rules, leads edit."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_POST, require_safe

from .. import access
from ..htmx import wants_fragment
from ..models import Rule
from ..rulebook import PRESETS, RuleError, RuleSpec, preset_specs, rule_retire, rule_save, rules_import


def _page(request, project, *, problem: str = "", notice: str = "", status: int = 200):
    ctx = {
        "project": project,
        "rules": Rule.objects.filter(project=project).order_by("retired", "rule_id"),
        "is_lead": access.is_lead(request.user, project),
        "presets": PRESETS,
        "problem": problem,
        "notice": notice,
    }
    template = "annotation/rules.html#rules-panel" if wants_fragment(request) else "annotation/rules.html"
    response = TemplateResponse(request, template, ctx, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _done(request, project, notice: str):
    if wants_fragment(request):
        return _page(request, project, notice=notice)
    return redirect("rules", project.id)


@require_safe
@login_required
def rules_page(request, project_id: int):
    return _page(request, access.project_for_user(request.user, project_id))


@require_POST
@login_required
def rule_save_view(request, project_id: int):
    """Add a rule, or a new version of the rule with that id."""
    project = access.lead_project(request.user, project_id, "edit the rulebook")
    spec = RuleSpec(
        rule_id=request.POST.get("rule_id", "").strip(),
        text=request.POST.get("text", "").strip(),
        category=request.POST.get("category", "").strip(),
        query_tag=request.POST.get("query_tag", "").strip(),
    )
    try:
        rule, outcome = rule_save(project, spec)
    except RuleError as exc:
        return _page(request, project, problem=str(exc), status=400)
    return _done(request, project, f"Rule {rule.rule_id} {outcome} (version {rule.version}).")


@require_POST
@login_required
def rule_retire_view(request, project_id: int, rule_pk: int):
    project = access.lead_project(request.user, project_id, "edit the rulebook")
    rule = rule_retire(get_object_or_404(Rule, pk=rule_pk, project=project))
    return _done(request, project, f"Rule {rule.rule_id} retired.")


@require_POST
@login_required
def rule_preset_view(request, project_id: int):
    project = access.lead_project(request.user, project_id, "edit the rulebook")
    name = request.POST.get("preset", "")
    try:
        counts = rules_import(project, preset_specs(project, name))
    except RuleError as exc:
        return _page(request, project, problem=str(exc), status=400)
    return _done(request, project, f"Preset {name}: {counts['added']} added, {counts['updated']} updated.")
