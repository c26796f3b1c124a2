"""Every access rule of qrelay, in one place.

Two questions decide what a user may do in a project:
- *may they see it?* Members of the project and superusers. Everything else gets a 404,
  never a 403 that would confirm the project exists (`project_for_user`).
- *do they lead it?* Leads and admins of the project, and superusers. They spend money on
  judging, change routing policies, adjudicate, manage connectors and read every rater's
  labels. Annotators label blind: they never see another rater's label or the LLM's
  (outside the tasks the policy shows it on), nor figures computed from them.

Services and views call `require_lead` (or `lead_project` to fetch and check at once); a
REST API view that only leads may use takes the `IsProjectLead` permission. All of them
raise `LeadRequired`, a `PermissionDenied`, so Django and DRF both answer 403 for it.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from rest_framework.permissions import BasePermission

from .models import Membership, Project, Role, SearchRun

LEAD_ROLES = (Role.LEAD, Role.ADMIN)


class LeadRequired(PermissionDenied):
    """The user may see the project but does not lead it."""

    def __init__(self, action: str = "do this"):
        super().__init__(f"Only a lead or admin of the project may {action}.")


# --- who sees what -------------------------------------------------------------------


def projects_for_user(user: Any) -> QuerySet[Project]:
    if not user.is_authenticated or not user.is_active:
        return Project.objects.none()
    if user.is_superuser:
        return Project.objects.all()
    # Membership is unique per (project, user), so the join cannot duplicate rows.
    return Project.objects.filter(memberships__user=user)


def project_for_user(user: Any, project_id: int) -> Project:
    return get_object_or_404(projects_for_user(user), pk=project_id)


def run_for_user(user: Any, project_id: int, run_id: int) -> SearchRun:
    project = project_for_user(user, project_id)
    return get_object_or_404(SearchRun.objects.select_related("project"), pk=run_id, project=project)


# --- who leads -----------------------------------------------------------------------


def role_of(user: Any, project: Project) -> str | None:
    """The user's role in the project (superusers act as admins), None for strangers."""
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        return Role.ADMIN
    return Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()


def is_lead(user: Any, project: Project) -> bool:
    """Leads and admins of the project, and superusers."""
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    return Membership.objects.filter(project=project, user=user, role__in=LEAD_ROLES).exists()


def require_lead(user: Any, project: Project, action: str = "do this") -> None:
    if not is_lead(user, project):
        raise LeadRequired(action)


def lead_project(user: Any, project_id: int, action: str = "do this") -> Project:
    """The user's project (a foreign id is a 404) when they lead it, else a 403."""
    project = project_for_user(user, project_id)
    require_lead(user, project, action)
    return project


# --- per-object rules ----------------------------------------------------------------
# Blind labelling: what a rater may learn about other raters' labels.


def can_see_all_labels(user: Any, project: Project) -> bool:
    """Other raters' and the LLM's labels, on pages, in the API and in downloads."""
    return is_lead(user, project)


def require_label_source(user: Any, project: Project, source: str) -> None:
    """Figures from gold are for everyone in the project. Figures from the LLM's or the
    human raters' labels are for leads: per query, or compared at k and k-1, they give away
    single labels an annotator is asked to give blind."""
    if source != "gold":
        require_lead(user, project, f"see figures computed from {source} labels (annotators see gold figures)")


def require_default_agreement_options(
    user: Any, project: Project, options: dict[str, Any], defaults: dict[str, Any]
) -> None:
    """Agreement figures with other options than the defaults (level, bootstrap size,
    seed) are computed anew, seconds of a worker each time: leads choose them."""
    if any(options.get(name) != value for name, value in defaults.items()):
        require_lead(user, project, "choose the level, bootstrap replicates or seed of agreement figures")


def can_manage_jobs(user: Any, project: Project) -> bool:
    """Starting and cancelling judging jobs spends money."""
    return is_lead(user, project)


# --- the REST API --------------------------------------------------------------------


class IsProjectLead(BasePermission):
    """For API views with a `project` attribute (annotation.api.base.ProjectScopedView)
    that only leads may use; `lead_action` on the view words the refusal. The project is
    looked up first, so a foreign project stays a 404."""

    def has_permission(self, request: Any, view: Any) -> bool:
        require_lead(request.user, view.project, getattr(view, "lead_action", "do this"))
        return True
