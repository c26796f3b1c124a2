"""Fetching the product images (and queries' reference images) an import recorded as URLs
(status `remote`).

Real catalogues list their images as URLs. Until fetched, reviewers see no image and
the caption mode describes nothing, so `fetch_images` downloads them through the same
guarded fetcher the connectors use (the URL's own host only, every resolved address
checked, timeouts, a size cap), then validates and re-encodes them exactly like an
imported file. Network I/O happens outside any transaction; each image is stored with a
conditional update, so a second fetcher running at the same time changes nothing.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import QuerySet

from .connectors.http import FetchError, fetch_image, new_client
from .images import ImageRejected, image_store
from .models import ProductImage, Project, QueryImage


@dataclass
class ImageFetchReport:
    fetched: int = 0
    failed: dict[int, str] = field(default_factory=dict)  # image id → why it stays remote
    already: int = 0  # stored meanwhile by someone else
    query_failed: dict[int, str] = field(default_factory=dict)  # query image id → why it stays remote

    def summary(self) -> str:
        lines = [f"fetched {self.fetched} image(s); {len(self.failed) + len(self.query_failed)} failed"]
        lines += [f"  image {image_id}: {error}" for image_id, error in list(self.failed.items())[:20]]
        lines += [f"  query image {image_id}: {error}" for image_id, error in list(self.query_failed.items())[:20]]
        return "\n".join(lines)


def remote_images(project: Project) -> QuerySet[ProductImage]:
    return ProductImage.objects.filter(product__project=project, status=ProductImage.Status.REMOTE).order_by("id")


def remote_query_images(project: Project) -> QuerySet[QueryImage]:
    return QueryImage.objects.filter(query__project=project, status=ProductImage.Status.REMOTE).order_by("id")


def images_fetch_remote(
    *, project: Project, limit: int | None = None, progress: Callable[[int, int], None] | None = None
) -> ImageFetchReport:
    """Download, validate and store the project's remote images (at most `limit`).
    A failed image stays remote with its reason in the report; nothing else is touched."""
    pending = remote_images(project).values_list("id", "source")
    images: list[tuple[type[ProductImage] | type[QueryImage], int, str]] = [
        (ProductImage, image_id, url) for image_id, url in (pending[:limit] if limit else pending)
    ]
    # Reference images next, within the same limit.
    room = None if limit is None else max(limit - len(images), 0)
    pending_query = remote_query_images(project).values_list("id", "source")
    images += [
        (QueryImage, image_id, url) for image_id, url in (pending_query if room is None else pending_query[:room])
    ]
    report = ImageFetchReport()
    timeout = settings.QRELAY_IMAGE_FETCH_TIMEOUT
    with new_client(timeout) as client:
        for done, (model, image_id, url) in enumerate(images, 1):
            try:
                data = fetch_image(url=url, timeout=timeout, max_bytes=settings.QRELAY_IMAGE_MAX_BYTES, client=client)
                stored = image_store(data=data)
            except (FetchError, ImageRejected) as exc:
                (report.failed if model is ProductImage else report.query_failed)[image_id] = str(exc)
            else:
                updated = model.objects.filter(id=image_id, status=ProductImage.Status.REMOTE).update(
                    status=ProductImage.Status.STORED,
                    stored_name=stored.stored_name,
                    sha256=stored.sha256,
                    width=stored.width,
                    height=stored.height,
                )
                if updated:
                    report.fetched += 1
                else:
                    report.already += 1
            if progress:
                progress(done, len(images))
    return report
