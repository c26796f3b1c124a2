from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("projects/<int:project_id>/", views.project_detail, name="project_detail"),
    path("projects/<int:project_id>/runs/<int:run_id>/", views.run_detail, name="run_detail"),
    path("images/<int:image_id>/", views.product_image, name="product_image"),
    path("projects/<int:project_id>/runs/<int:run_id>/metrics/", views.run_metrics_page, name="run_metrics"),
    path("projects/<int:project_id>/compare/", views.run_compare, name="run_compare"),
    path("projects/<int:project_id>/downloads/", views.downloads, name="downloads"),
    path("projects/<int:project_id>/downloads/gold.<str:fmt>", views.download_gold, name="download_gold"),
    path("projects/<int:project_id>/downloads/labels.jsonl", views.download_labels, name="download_labels"),
    path("projects/<int:project_id>/runs/<int:run_id>/run.trec", views.download_run, name="download_run"),
    path("projects/<int:project_id>/imports/", views.imports_page, name="imports"),
    path("projects/<int:project_id>/imports/<int:job_id>/", views.import_job, name="import_job"),
]
