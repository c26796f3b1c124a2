from django.urls import path

from . import views
from .views.hard_subset import hard_subset_build

app_name = "reviews"

urlpatterns = [
    path("projects/<int:project_id>/review/", views.queue, name="queue"),
    path("projects/<int:project_id>/review/next/", views.review, name="review"),
    path("projects/<int:project_id>/review/tasks/<int:task_id>/submit/", views.submit, name="submit"),
    path("projects/<int:project_id>/review/tasks/<int:task_id>/skip/", views.skip, name="skip"),
    path("projects/<int:project_id>/review/tasks/<int:task_id>/flag/", views.flag, name="flag"),
    path("projects/<int:project_id>/review/tasks/<int:task_id>/undo/", views.undo, name="undo"),
    path("projects/<int:project_id>/review/policy/", views.policy, name="policy"),
    path("projects/<int:project_id>/review/policy/preview/", views.policy_preview, name="policy_preview"),
    path("projects/<int:project_id>/agreement/", views.dashboard, name="dashboard"),
    path("projects/<int:project_id>/agreement/judge/", views.calibration, name="calibration"),
    path("projects/<int:project_id>/agreement/accept/", views.dashboard_accept, name="dashboard_accept"),
    path("projects/<int:project_id>/agreement/disagreements/", views.disagreements, name="disagreements"),
    path(
        "projects/<int:project_id>/agreement/disagreements/<int:pair_id>/tag/",
        views.disagreement_tag,
        name="disagreement_tag",
    ),
    path("projects/<int:project_id>/runs/<int:run_id>/status/", views.run_status_page, name="run_status"),
    path("projects/<int:project_id>/runs/<int:run_id>/evaluate/", views.run_evaluate_start, name="run_evaluate"),
    path("projects/<int:project_id>/review/flagged/", views.flagged, name="flagged"),
    path("projects/<int:project_id>/review/flagged/<int:task_id>/", views.flag_resolve, name="flag_resolve"),
    path("projects/<int:project_id>/agreement/hard-subset/", hard_subset_build, name="hard_subset"),
]
