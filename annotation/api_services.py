"""Writes the API needs that the rest of annotation has no service for yet."""

from django.db import IntegrityError, transaction

from .models import Project, SearchRun


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
