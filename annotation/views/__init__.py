"""Annotation pages, by topic: home, a project and a run (`projects`), product images
(`images`), a run's metrics and two runs compared (`evaluate`), and the downloads page
with the exports it links to (`downloads`). Query-string helpers are in `params`."""

from .downloads import download_gold, download_labels, download_run, downloads
from .evaluate import run_compare, run_metrics_page
from .images import product_image, query_image
from .imports import import_job, imports_page
from .projects import home, project_detail, run_detail
from .scale import scale_page

__all__ = [
    "download_gold",
    "download_labels",
    "download_run",
    "downloads",
    "home",
    "import_job",
    "imports_page",
    "product_image",
    "project_detail",
    "query_image",
    "run_compare",
    "run_detail",
    "run_metrics_page",
    "scale_page",
]
