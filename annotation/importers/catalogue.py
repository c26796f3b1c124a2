"""Imports of the catalogue: products (with their images) and queries. Each one: read →
validate everything (reads only) → one transaction of bulk writes → a summary.
Re-importing the same file changes nothing. On PostgreSQL the rows are staged in a
temporary table instead (catalogue_staged.py), in bounded memory."""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from annotation.bulk import bulk_update_rows
from annotation.images import ImageRejected, StoredImage, image_reencode, image_save
from annotation.models import Product, ProductImage, Project, Query
from annotation.services import chunked, external_ids_map, product_content_hash

from .catalogue_staged import QueriesWithReferences, products_import_staged, queries_import_staged
from .columns import PRODUCT_SPEC, QUERY_SPEC
from .reading import read_rows
from .records import Problems, ProductRecord, QueryRecord, product_records, query_records
from .staging import staged
from .summary import ImportSummary, fail_if

# --- products -----------------------------------------------------------------------


@dataclass
class _PreparedImage:
    source: str
    status: str
    data: bytes | None = None  # raw bytes of a local file, re-encoded only if the product changed
    raw_hash: str = ""


def _prepare_images(
    record: ProductRecord | QueryRecord, line: int, base_dir: Path, problems: Problems
) -> list[_PreparedImage] | None:
    prepared = []
    ok = True
    for source in record.images:
        scheme = urlsplit(source).scheme.lower()
        if scheme in ("http", "https"):
            prepared.append(_PreparedImage(source, ProductImage.Status.REMOTE, raw_hash=source))
            continue
        if scheme and len(scheme) > 1:  # "c:" style drive letters are paths, other schemes are not
            problems.add(line, "image", f"only http(s) URLs or relative paths are accepted, got {source!r}")
            ok = False
            continue
        path = (base_dir / source).resolve()
        if not path.is_relative_to(base_dir):
            problems.add(line, "image", f"image path {source!r} points outside the file's folder")
            ok = False
            continue
        try:
            size = path.stat().st_size
            if size > settings.QRELAY_IMAGE_MAX_BYTES:
                raise ImageRejected(f"image is larger than {settings.QRELAY_IMAGE_MAX_BYTES} bytes")
            data = path.read_bytes()
        except FileNotFoundError:
            problems.add(line, "image", f"image file not found: {source}")
            ok = False
            continue
        except (OSError, ImageRejected) as exc:
            problems.add(line, "image", f"cannot read image {source}: {exc}")
            ok = False
            continue
        prepared.append(_PreparedImage(source, ProductImage.Status.STORED, data, hashlib.sha256(data).hexdigest()))
    return prepared if ok else None


def products_import(
    *, project: Project, path: Path, fmt: str | None = None, progress: Callable[[int], None] | None = None
) -> ImportSummary:
    """Import products; `progress` is told the number of rows read, now and then."""
    path = Path(path)
    if staged():
        return products_import_staged(project=project, path=path, fmt=fmt, progress=progress)
    base_dir = path.resolve().parent
    rows = read_rows(path, PRODUCT_SPEC, fmt)
    problems = Problems(path.name)
    records = product_records(rows, problems)
    fail_if(problems)

    existing = {
        p.external_id: p
        for chunk in chunked([r.product_id for _, r in records])
        for p in Product.objects.filter(project=project, external_id__in=chunk).only(
            "id", "external_id", "content_hash"
        )
    }
    to_write: list[tuple[ProductRecord, str, list[tuple[_PreparedImage, tuple[bytes, int, int] | None]]]] = []
    unchanged = 0
    for line, record in records:
        images = _prepare_images(record, line, base_dir, problems)
        if images is None:
            continue
        content_hash = product_content_hash(
            title=record.title,
            brand=record.brand,
            category=record.category,
            description=record.description,
            attributes=record.attributes,
            image_keys=[image.raw_hash for image in images],
        )
        current = existing.get(record.product_id)
        if current is not None and current.content_hash == content_hash:
            unchanged += 1
            continue
        # Decode and re-encode now, outside the transaction: slow work never holds locks.
        encoded: list[tuple[_PreparedImage, tuple[bytes, int, int] | None]] = []
        for image in images:
            if image.status == ProductImage.Status.STORED and image.data is not None:
                try:
                    encoded.append((image, image_reencode(image.data)))
                except ImageRejected as exc:
                    problems.add(line, "image", f"{image.source}: {exc}")
            else:
                encoded.append((image, None))
        to_write.append((record, content_hash, encoded))
    fail_if(problems)
    # Files are written only now that every row is valid, so a rejected import leaves none behind.
    stored: dict[int, StoredImage] = {}  # id(prepared image) → where its file went
    for _, _, prepared in to_write:
        for image, jpeg in prepared:
            if jpeg is not None:
                data, width, height = jpeg
                stored[id(image)] = image_save(encoded=data, width=width, height=height)

    created = updated = images_written = 0
    with transaction.atomic():
        new_products, changed_products = [], []
        for record, content_hash, _ in to_write:
            fields = dict(
                title=record.title,
                brand=record.brand,
                category=record.category,
                description=record.description,
                attributes=record.attributes,
                content_hash=content_hash,
            )
            current = existing.get(record.product_id)
            if current is None:
                new_products.append(Product(project=project, external_id=record.product_id, **fields))
            else:
                for name, value in fields.items():
                    setattr(current, name, value)
                current.updated_at = timezone.now()
                changed_products.append(current)
        batch = settings.QRELAY_IMPORT_BATCH_SIZE
        Product.objects.bulk_create(new_products, batch_size=batch)
        bulk_update_rows(
            Product,
            changed_products,
            ["title", "brand", "category", "description", "attributes", "content_hash", "updated_at"],
        )
        created, updated = len(new_products), len(changed_products)
        ids = external_ids_map(Product, project, [record.product_id for record, _, _ in to_write])
        ProductImage.objects.filter(product_id__in=[p.id for p in changed_products]).delete()
        image_rows = []
        for record, _, encoded_images in to_write:
            for position, (image, _jpeg) in enumerate(encoded_images):
                saved = stored.get(id(image))
                image_rows.append(
                    ProductImage(
                        product_id=ids[record.product_id],
                        position=position,
                        source=image.source,
                        status=image.status,
                        stored_name=saved.stored_name if saved else "",
                        sha256=saved.sha256 if saved else "",
                        width=saved.width if saved else None,
                        height=saved.height if saved else None,
                    )
                )
        ProductImage.objects.bulk_create(image_rows, batch_size=batch)
        images_written = len(image_rows)
    return ImportSummary(
        path.name,
        len(rows),
        {"products created": created, "updated": updated, "unchanged": unchanged, "images written": images_written},
        problems.notes,
    )


# --- queries ------------------------------------------------------------------------


def queries_import(
    *, project: Project, path: Path, fmt: str | None = None, progress: Callable[[int], None] | None = None
) -> ImportSummary:
    from .query_images import query_images_prepare, query_images_write  # it builds on this module

    path = Path(path)
    if staged():
        try:
            return queries_import_staged(project=project, path=path, fmt=fmt, progress=progress)
        except QueriesWithReferences:
            pass  # reference images or conditions: the in-memory path below stores them
    rows = read_rows(path, QUERY_SPEC, fmt)
    problems = Problems(path.name)
    records = query_records(rows, problems)
    fail_if(problems)
    references = query_images_prepare(records, path.resolve().parent, problems)
    fail_if(problems)
    existing = {
        q.external_id: q
        for chunk in chunked([r.query_id for _, r in records])
        for q in Query.objects.filter(project=project, external_id__in=chunk).only(
            "id", "external_id", "text", "locale", "traffic", "conditions", "reference_hash"
        )
    }
    new, changed, unchanged = [], [], 0
    images_changed: set[str] = set()
    for _, record in records:
        current = existing.get(record.query_id)
        reference = references[record.query_id].reference_hash
        # Plain queries ("" before and after) never touch the images table.
        if (current.reference_hash if current else "") != reference:
            images_changed.add(record.query_id)
        if current is None:
            new.append(
                Query(
                    project=project,
                    external_id=record.query_id,
                    text=record.text,
                    locale=record.locale,
                    traffic=record.traffic or 0,
                    conditions=list(record.conditions),
                    reference_hash=reference,
                )
            )
            continue
        traffic = current.traffic if record.traffic is None else record.traffic
        locale = record.locale or current.locale
        if (current.text, current.locale, current.traffic, current.reference_hash) == (
            record.text, locale, traffic, reference
        ):  # fmt: skip
            unchanged += 1
            continue
        current.text, current.locale, current.traffic = record.text, locale, traffic
        current.conditions, current.reference_hash = list(record.conditions), reference
        changed.append(current)
    with transaction.atomic():
        Query.objects.bulk_create(new, batch_size=settings.QRELAY_IMPORT_BATCH_SIZE)
        bulk_update_rows(Query, changed, ["text", "locale", "traffic", "conditions", "reference_hash"])
        images = external_ids_map(Query, project, images_changed)
        images_written = query_images_write(references, images) if images else 0
    return ImportSummary(
        path.name,
        len(rows),
        {
            "queries created": len(new),
            "updated": len(changed),
            "unchanged": unchanged,
            **({"images written": images_written} if images_written else {}),
        },
        problems.notes,
    )
