"""A query's reference images (MERIT): read, validated and re-encoded before the query
import writes anything, stored the same way as product images, written after the queries.

The query's `reference_hash` covers its conditions and the images' source content (file
bytes, or the URL of a remote one), like a product's content hash: it changes when a
reference image changes, and fetching a remote image later does not change it.
"""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from annotation.images import ImageRejected, StoredImage, image_reencode, image_save
from annotation.models import ProductImage, QueryImage

from .catalogue import _prepare_images, _PreparedImage
from .records import Problems, QueryRecord


@dataclass
class PreparedQueryImages:
    reference_hash: str
    images: list[tuple[_PreparedImage, tuple[bytes, int, int] | None]]


def reference_hash(conditions, image_keys: list[str]) -> str:
    if not conditions and not image_keys:
        return ""
    payload = json.dumps([list(conditions), image_keys], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


def query_images_prepare(
    records: list[tuple[int, QueryRecord]], base_dir: Path, problems: Problems
) -> dict[str, PreparedQueryImages]:
    """query_id → its hash and validated images, for every record; reads and decodes
    only (no file is written, no row touched), problems reported on their line."""
    prepared: dict[str, PreparedQueryImages] = {}
    for line, record in records:
        images = _prepare_images(record, line, base_dir, problems)
        if images is None:
            continue
        encoded: list[tuple[_PreparedImage, tuple[bytes, int, int] | None]] = []
        for image in images:
            if image.status == ProductImage.Status.STORED and image.data is not None:
                try:
                    encoded.append((image, image_reencode(image.data)))
                except ImageRejected as exc:
                    problems.add(line, "image", f"{image.source}: {exc}")
            else:
                encoded.append((image, None))
        key = reference_hash(record.conditions, [image.raw_hash for image in images])
        prepared[record.query_id] = PreparedQueryImages(key, encoded)
    return prepared


def query_images_write(prepared: dict[str, PreparedQueryImages], ids: dict[str, int]) -> int:
    """Replace the images of the queries in `ids` (query_id → pk): store the files, then
    the rows. Called inside the import's transaction, after the queries are written."""
    QueryImage.objects.filter(query_id__in=list(ids.values())).delete()
    rows = []
    for query_id, pk in ids.items():
        for position, (image, jpeg) in enumerate(prepared[query_id].images):
            saved: StoredImage | None = image_save(encoded=jpeg[0], width=jpeg[1], height=jpeg[2]) if jpeg else None
            rows.append(
                QueryImage(
                    query_id=pk,
                    position=position,
                    source=image.source,
                    status=image.status,
                    stored_name=saved.stored_name if saved else "",
                    sha256=saved.sha256 if saved else "",
                    width=saved.width if saved else None,
                    height=saved.height if saved else None,
                )
            )
    QueryImage.objects.bulk_create(rows)
    return len(rows)
