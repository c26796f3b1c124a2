"""Everything under /api/: each app's API, the OpenAPI 3 schema and its docs page.

The schema and the docs page are public (they describe the API, they hold no data);
every endpoint they describe needs a token or a session (see docs/api.md)."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny

urlpatterns = [
    path("", include("annotation.api.urls", namespace="annotation_api")),
    path("", include("judging.api", namespace="judging_api")),
    path("", include("reviews.api", namespace="reviews_api")),
    path("schema/", SpectacularAPIView.as_view(permission_classes=[AllowAny]), name="api_schema"),
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api_schema", permission_classes=[AllowAny]),
        name="api_docs",
    ),
]
