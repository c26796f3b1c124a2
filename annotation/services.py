"""Writes on annotation data: projects, memberships, pairs, runs. Keyword-only, typed."""

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from .bulk import bulk_insert_rows
from .models import Membership, Pair, Project, Role, ScaleLevel, SearchRun
from .scales import BUILTIN_SCALES, Level, ScaleError, parse_custom_scale, validate_levels

T = TypeVar("T")

# Keeps every IN (...) list well under SQLite's and PostgreSQL's parameter limits.
CHUNK = 5000


def chunked(items: Iterable[T], size: int = CHUNK) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def external_ids_map(model, project: Project, external_ids: Iterable[str]) -> dict[str, int]:
    """{external_id: pk} of the project's rows of model (Query or Product) among external_ids."""
    found: dict[str, int] = {}
    for chunk in chunked(sorted(set(external_ids))):
        found.update(model.objects.filter(project=project, external_id__in=chunk).values_list("external_id", "id"))
    return found


def product_content_hash(
    *,
    title: str,
    brand: str = "",
    category: str = "",
    description: str = "",
    attributes: dict | None = None,
    image_keys: Sequence[str] = (),
) -> str:
    payload = json.dumps(
        [title, brand, category, description, attributes or {}, list(image_keys)], sort_keys=True, ensure_ascii=False
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def pairs_ensure(*, project: Project, keys: Iterable[tuple[int, int]]) -> tuple[dict[tuple[int, int], int], int]:
    """Get or create the pairs for (query pk, product pk) keys, in bulk.

    Returns ({key: pair pk}, number created). Safe against a concurrent import creating
    the same pairs: conflicts are ignored and the ids are read back.
    """
    wanted = set(keys)
    found: dict[tuple[int, int], int] = {}
    query_ids = sorted({q for q, _ in wanted})
    for chunk in chunked(query_ids, 1000):
        for pair_id, q, p in Pair.objects.filter(project=project, query_id__in=chunk).values_list(
            "id", "query_id", "product_id"
        ):
            if (q, p) in wanted:
                found[(q, p)] = pair_id
    missing = [key for key in wanted if key not in found]
    if missing:
        now = timezone.now()
        bulk_insert_rows(
            Pair,
            ["project", "query", "product", "gold_provenance", "created_at"],
            [(project.id, q, p, "", now) for q, p in missing],
            ignore_conflicts=True,
        )
        missing_set = set(missing)
        for chunk in chunked(sorted({q for q, _ in missing}), 1000):
            for pair_id, q, p in Pair.objects.filter(project=project, query_id__in=chunk).values_list(
                "id", "query_id", "product_id"
            ):
                if (q, p) in missing_set:
                    found[(q, p)] = pair_id
    return found, len(missing)


@transaction.atomic
def project_create(
    *, name: str, scale: str = "default", labels: str | None = None, description: str = "", locales: Sequence[str] = ()
) -> Project:
    """Create a project with a built-in scale by name, or a custom one ("Bad:0,Good:1")."""
    if not name.strip():
        raise ScaleError("a project needs a name")
    if Project.objects.filter(name=name).exists():
        raise ScaleError(f"a project named {name!r} exists already")
    if labels:
        levels: list[Level] = parse_custom_scale(labels)
        scale_name = "custom"
    else:
        if scale not in BUILTIN_SCALES:
            raise ScaleError(f"unknown scale {scale!r}; choose one of {', '.join(BUILTIN_SCALES)} or pass --labels")
        levels = validate_levels(BUILTIN_SCALES[scale])
        scale_name = scale
    project = Project.objects.create(name=name, description=description, scale_name=scale_name, locales=list(locales))
    ScaleLevel.objects.bulk_create(
        [
            ScaleLevel(
                project=project, value=level.value, name=level.name, gain=level.gain, definition=level.definition
            )
            for level in levels
        ]
    )
    return project


def membership_set(*, project: Project, username: str, role: str = Role.ANNOTATOR) -> Membership:
    if role not in Role.values:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(Role.values)}")
    user = get_user_model().objects.get(username=username)
    membership, _ = Membership.objects.update_or_create(project=project, user=user, defaults={"role": role})
    return membership


class RunExists(ValueError):
    pass


def run_create(*, project: Project, name: str, description: str = "") -> SearchRun:
    """An empty run, to be filled by uploading its results. The unique constraint, not
    a prior lookup, decides a race between two creators of the same name."""
    try:
        with transaction.atomic():
            return SearchRun.objects.create(project=project, name=name, description=description)
    except IntegrityError:
        raise RunExists(f"The project has a run named {name!r} already.") from None
