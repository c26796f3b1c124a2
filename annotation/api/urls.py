"""The annotation API's routes, mounted under /api/ by config/api_urls.py (namespace
annotation_api)."""

from django.urls import path

from . import exports, imports, projects, rules, runs

app_name = "annotation_api"

P = "projects/<int:project_id>/"
R = P + "runs/"

urlpatterns = [
    path("projects/", projects.ProjectList.as_view(), name="project_list"),
    path(P, projects.ProjectDetail.as_view(), name="project_detail"),
    path(P + "queries/", projects.QueryList.as_view(), name="query_list"),
    path(P + "queries/<int:query_id>/", projects.QueryDetail.as_view(), name="query_detail"),
    path(P + "products/", projects.ProductList.as_view(), name="product_list"),
    path(P + "products/<int:product_id>/", projects.ProductDetail.as_view(), name="product_detail"),
    path(P + "pairs/", projects.PairList.as_view(), name="pair_list"),
    path(P + "pairs/<int:pair_id>/", projects.PairDetail.as_view(), name="pair_detail"),
    path(P + "labels/", projects.LabelList.as_view(), name="label_list"),
    path(R, runs.RunList.as_view(), name="run_list"),
    path(R + "<int:run_id>/", runs.RunDetail.as_view(), name="run_detail"),
    path(R + "<int:run_id>/results/", runs.RunResults.as_view(), name="run_results"),
    path(R + "<int:run_id>/metrics/", runs.RunMetricsView.as_view(), name="run_metrics"),
    path(R + "<int:run_id>/compare/", runs.RunCompareView.as_view(), name="run_compare"),
    path(R + "<int:run_id>/results/upload/", imports.RunResultsUpload.as_view(), name="run_results_upload"),
    path(P + "queries/upload/", imports.QueriesUpload.as_view(), name="queries_upload"),
    path(P + "products/upload/", imports.ProductsUpload.as_view(), name="products_upload"),
    path(P + "labels/upload/", imports.LabelsUpload.as_view(), name="labels_upload"),
    path(P + "imports/<int:job_id>/", imports.ImportJobDetail.as_view(), name="import_job"),
    path(P + "exports/gold/", exports.GoldExport.as_view(), name="export_gold"),
    path(P + "exports/labels/", exports.LabelsExport.as_view(), name="export_labels"),
    path(R + "<int:run_id>/export/", exports.RunExport.as_view(), name="run_export"),
    path(P + "rules/", rules.RuleList.as_view(), name="rule_list"),
    path(P + "rules/_preset/", rules.RulePreset.as_view(), name="rule_preset"),
    path(P + "rules/<str:rule_id>/", rules.RuleDetail.as_view(), name="rule_detail"),
    path(P + "rules/<str:rule_id>/retire/", rules.RuleRetire.as_view(), name="rule_retire"),
]
