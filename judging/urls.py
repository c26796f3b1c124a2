from django.urls import path

from . import views

app_name = "judging"

urlpatterns = [
    path("projects/<int:project_id>/runs/<int:run_id>/judging/", views.run_judging_panel, name="run_judging_panel"),
    path("projects/<int:project_id>/runs/<int:run_id>/judge/", views.run_judge_start, name="run_judge_start"),
    path("projects/<int:project_id>/runs/<int:run_id>/fill-holes/", views.run_fill_holes, name="run_fill_holes"),
    path("projects/<int:project_id>/jobs/", views.job_list, name="job_list"),
    path("projects/<int:project_id>/jobs/<int:job_id>/cancel/", views.job_cancel, name="job_cancel"),
    path("projects/<int:project_id>/pairs/<int:pair_id>/", views.pair_detail, name="pair_detail"),
]
