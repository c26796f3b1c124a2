from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("projects/<int:project_id>/", views.project_detail, name="project_detail"),
    path("projects/<int:project_id>/runs/<int:run_id>/", views.run_detail, name="run_detail"),
    path("images/<int:image_id>/", views.product_image, name="product_image"),
]
