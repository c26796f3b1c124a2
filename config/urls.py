from django.contrib import admin
from django.urls import include, path

from config.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/", include("config.api_urls")),
    path("", include("annotation.urls")),
    path("", include("reviews.urls")),
    path("", include("reviews.repeat.urls")),
    path("", include("judging.urls")),
]
