from django.urls import path

from . import views

app_name = "repeat"

urlpatterns = [
    path("projects/<int:project_id>/repeat/", views.repeat_page, name="page"),
    path("projects/<int:project_id>/repeat/connectors/new/", views.connector_edit, name="connector_new"),
    path(
        "projects/<int:project_id>/repeat/connectors/<int:connector_id>/", views.connector_edit, name="connector_edit"
    ),
    path(
        "projects/<int:project_id>/repeat/connectors/<int:connector_id>/test/",
        views.connector_test,
        name="connector_test",
    ),
    path("projects/<int:project_id>/repeat/schedules/new/", views.schedule_edit, name="schedule_new"),
    path("projects/<int:project_id>/repeat/schedules/<int:schedule_id>/", views.schedule_edit, name="schedule_edit"),
    path("projects/<int:project_id>/repeat/schedules/<int:schedule_id>/run/", views.schedule_run, name="schedule_run"),
]
