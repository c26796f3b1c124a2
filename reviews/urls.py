from django.urls import path

from . import views
from .views import run_states
from .views.hard_subset import hard_subset_build, hard_subset_download

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
    path(
        "projects/<int:project_id>/review/policy/revert/<int:version>/", views.policy_revert_view, name="policy_revert"
    ),
    path(
        "projects/<int:project_id>/review/policy/reroute/<int:job_id>/", views.reroute_progress, name="reroute_progress"
    ),
    path(
        "projects/<int:project_id>/review/policy/reroute/<int:job_id>/resume/",
        views.reroute_resume,
        name="reroute_resume",
    ),
    path("projects/<int:project_id>/agreement/", views.dashboard, name="dashboard"),
    path("projects/<int:project_id>/agreement/judge/", views.calibration, name="calibration"),
    path("projects/<int:project_id>/agreement/accept/", views.dashboard_accept, name="dashboard_accept"),
    path("projects/<int:project_id>/agreement/disagreements/", views.disagreements, name="disagreements"),
    path(
        "projects/<int:project_id>/agreement/disagreements/<int:pair_id>/tag/",
        views.disagreement_tag,
        name="disagreement_tag",
    ),
    path(
        "projects/<int:project_id>/agreement/disagreements/<int:pair_id>/action/",
        views.disagreement_action,
        name="disagreement_action",
    ),
    path("projects/<int:project_id>/runs/<int:run_id>/status/", views.run_status_page, name="run_status"),
    path("projects/<int:project_id>/runs/<int:run_id>/evaluate/", views.run_evaluate_start, name="run_evaluate"),
    path("projects/<int:project_id>/review/flagged/", views.flagged, name="flagged"),
    path("projects/<int:project_id>/review/flagged/<int:task_id>/", views.flag_resolve, name="flag_resolve"),
    path("projects/<int:project_id>/review/flagged/<int:task_id>/action/", views.flag_action, name="flag_action"),
    path("projects/<int:project_id>/runs/<int:run_id>/pair-states/", run_states.run_states, name="run_states"),
    path(
        "projects/<int:project_id>/runs/<int:run_id>/pair-states/judge/",
        run_states.run_states_judge,
        name="run_states_judge",
    ),
    path(
        "projects/<int:project_id>/runs/<int:run_id>/pair-states/route/",
        run_states.run_states_route,
        name="run_states_route",
    ),
    path("projects/<int:project_id>/agreement/hard-subset/", hard_subset_build, name="hard_subset"),
    path(
        "projects/<int:project_id>/agreement/hard-subset/benchmark.zip",
        hard_subset_download,
        name="hard_subset_download",
    ),
]
