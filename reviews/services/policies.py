"""Routing policies: the current version, a cached read of any version, and saving a
change as a new version (reroute.policy_change saves and reroutes in one call)."""

from django.db import transaction
from django.db.models import Max

from annotation.access import require_lead
from annotation.models import Project

from ..models import RoutingPolicy

POLICY_FIELDS = (
    "min_confidence",
    "route_sample_disagreement",
    "route_style_sensitive",
    "style_keywords",
    "route_invalid",
    "audit_rate",
    "humans_per_pair",
    "adjudicate_human_vs_llm",
    "route_segments",
    "target_alpha",
    "min_segment_n",
    "hourly_rate",
)


def policy_current(project: Project) -> RoutingPolicy:
    policy = RoutingPolicy.objects.filter(project=project).order_by("-version").first()
    if policy is None:
        policy, _ = RoutingPolicy.objects.get_or_create(project=project, version=1, defaults={"note": "default"})
    return policy


# Policy versions are never edited in place (a change is a new version), so a process
# may keep the ones it has read: gold resolution runs on every submit.
_POLICY_VERSIONS: dict[tuple[int, int], RoutingPolicy | None] = {}


def policy_version_of(project_id: int, version: int) -> RoutingPolicy | None:
    key = (project_id, version)
    if key not in _POLICY_VERSIONS:
        policy = RoutingPolicy.objects.filter(project_id=project_id, version=version).order_by().first()
        if policy is None:
            return None  # not cached: it may be created later
        if len(_POLICY_VERSIONS) > 1000:
            _POLICY_VERSIONS.clear()
        _POLICY_VERSIONS[key] = policy
    return _POLICY_VERSIONS[key]


@transaction.atomic
def policy_update(*, project: Project, user, note: str = "", **changes) -> RoutingPolicy:
    """Save changed thresholds as a new policy version."""
    require_lead(user, project)
    unknown = set(changes) - set(POLICY_FIELDS)
    if unknown:
        raise ValueError(f"unknown policy field(s): {', '.join(sorted(unknown))}")
    current = policy_current(project)
    values = {name: getattr(current, name) for name in POLICY_FIELDS}
    values.update(changes)
    latest = RoutingPolicy.objects.select_for_update().filter(project=project).aggregate(v=Max("version"))["v"] or 0
    return RoutingPolicy.objects.create(project=project, version=latest + 1, created_by=user, note=note, **values)
