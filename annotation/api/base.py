"""Building blocks every app's REST API shares: pagination, the project scope, the lead
check and validated query parameters.

Every API view starts from `project_for_user`, so a project (or any object under it) the
caller is not a member of is a 404, never a 403 that would confirm it exists. Query
parameters go through a serializer with explicit fields: a bad value is a 400 naming
the parameter, and no ORM filter is ever built from a client-supplied name.
"""

from django.utils.functional import cached_property
from rest_framework import serializers
from rest_framework.generics import GenericAPIView

from ..access import project_for_user
from ..models import Project

MAX_ID = 2**63 - 1  # BigAutoField


class IdField(serializers.IntegerField):
    """A primary key in a query parameter or body: positive and within BigAutoField, so
    an absurd number is a 400 rather than a database overflow."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)


class ProjectScopedView(GenericAPIView):
    """A view under /api/projects/<project_id>/: `self.project` is the caller's project
    or a 404; `filter_params` are the validated query parameters."""

    # A serializer of the accepted query parameters; None accepts none beyond pagination.
    filter_serializer_class: type[serializers.Serializer] | None = None

    @cached_property
    def project(self) -> Project:
        return project_for_user(self.request.user, self.kwargs["project_id"])

    @cached_property
    def filter_params(self) -> dict:
        if self.filter_serializer_class is None:
            return {}
        # A plain dict, not the QueryDict: DRF reads a missing boolean in "HTML form" input
        # as false, which would turn an absent ?has_gold into a filter.
        params = self.request.query_params.dict()
        given = self.filter_serializer_class(data=params, context={"project": self.project})
        given.is_valid(raise_exception=True)
        return given.validated_data
