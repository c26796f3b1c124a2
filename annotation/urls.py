from django.urls import path

from . import views
from .views import rules

urlpatterns = [
    path("", views.home, name="home"),
    path("projects/<int:project_id>/", views.project_detail, name="project_detail"),
    path("projects/<int:project_id>/runs/<int:run_id>/", views.run_detail, name="run_detail"),
    path("images/<int:image_id>/", views.product_image, name="product_image"),
    path("images/query/<int:image_id>/", views.query_image, name="query_image"),
    path("projects/<int:project_id>/runs/<int:run_id>/metrics/", views.run_metrics_page, name="run_metrics"),
    path("projects/<int:project_id>/compare/", views.run_compare, name="run_compare"),
    path("projects/<int:project_id>/downloads/", views.downloads, name="downloads"),
    path("projects/<int:project_id>/downloads/gold.<str:fmt>", views.download_gold, name="download_gold"),
    path("projects/<int:project_id>/downloads/labels.jsonl", views.download_labels, name="download_labels"),
    path("projects/<int:project_id>/runs/<int:run_id>/run.trec", views.download_run, name="download_run"),
    path("projects/<int:project_id>/scale/", views.scale_page, name="scale_page"),
    path("projects/<int:project_id>/rules/", rules.rules_page, name="rules"),
    path("projects/<int:project_id>/rules/save/", rules.rule_save_view, name="rule_save"),
    path("projects/<int:project_id>/rules/preset/", rules.rule_preset_view, name="rule_preset"),
    path("projects/<int:project_id>/rules/<int:rule_pk>/retire/", rules.rule_retire_view, name="rule_retire"),
    path("projects/<int:project_id>/imports/", views.imports_page, name="imports"),
    path("projects/<int:project_id>/imports/<int:job_id>/", views.import_job, name="import_job"),
]
