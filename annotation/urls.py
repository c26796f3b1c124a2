from django.urls import path

from . import views, views_downloads, views_evaluate

urlpatterns = [
    path("", views.home, name="home"),
    path("projects/<int:project_id>/", views.project_detail, name="project_detail"),
    path("projects/<int:project_id>/runs/<int:run_id>/", views.run_detail, name="run_detail"),
    path("images/<int:image_id>/", views.product_image, name="product_image"),
    path("projects/<int:project_id>/runs/<int:run_id>/metrics/", views_evaluate.run_metrics_page, name="run_metrics"),
    path("projects/<int:project_id>/compare/", views_evaluate.run_compare, name="run_compare"),
    path("projects/<int:project_id>/downloads/", views_downloads.downloads, name="downloads"),
    path("projects/<int:project_id>/downloads/gold.<str:fmt>", views_downloads.download_gold, name="download_gold"),
    path("projects/<int:project_id>/downloads/labels.jsonl", views_downloads.download_labels, name="download_labels"),
    path("projects/<int:project_id>/runs/<int:run_id>/run.trec", views_downloads.download_run, name="download_run"),
]
