"""Products and queries on the staged path (PostgreSQL; see staging.py): the same checks,
messages and writes as catalogue.py's in-memory path, in bounded memory."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from annotation.bulk import bulk_update_rows
from annotation.images import ImageRejected, image_reencode, image_save
from annotation.models import Product, ProductImage, Project, Query
from annotation.services import product_content_hash

from .columns import PRODUCT_SPEC, QUERY_SPEC
from .errors import Problems
from .reading import ColumnSpec, Row, RowStream
from .records import PRODUCT_KEY, QUERY_KEY, ProductRecord, QueryRecord, product_record, query_record
from .staging import Dedupe, Stage, batches, dedupe, execute, scalar, stream
from .summary import ImportSummary, fail_if

Progress = Callable[[int], None] | None


def stage_rows(
    path: Path,
    spec: ColumnSpec,
    fmt: str | None,
    columns,
    validate: Callable[[Row, Problems], Any],
    to_values: Callable[[Any], tuple],
    progress: Progress,
) -> tuple[RowStream, Stage, Problems]:
    """Read and validate every row of the file into a stage; raise what the reading or
    the row checks found. Once a problem is known, rows are only checked, not staged."""
    rows = RowStream(path, spec, fmt)
    problems = Problems(rows.path.name)
    stage = Stage("import_rows", columns)
    for row in rows:
        record = validate(row, problems)
        if record is not None and not problems and not rows.problems:
            stage.add(row.line, to_values(record))
        if progress is not None and rows.rows % stage.batch_size == 0:
            progress(rows.rows)
    stage.flush()
    if progress is not None:
        progress(rows.rows)
    rows.finish()
    fail_if(problems)
    return rows, stage, problems


# --- queries ------------------------------------------------------------------------

QUERY_COLUMNS = (("query_id", "text"), ("text", "text"), ("locale", "text"), ("traffic", "bigint"))
QUERY_DEDUPE = Dedupe(QUERY_KEY, ("query_id",), ("text", "locale", "traffic"), (), lambda v: QueryRecord(*v))


def _query_values(r: QueryRecord) -> tuple:
    return (r.query_id, r.text, r.locale, r.traffic)


class QueriesWithReferences(Exception):
    """The file gives queries reference images or conditions (MERIT): the in-memory path,
    which stores them, imports it instead. Such files are small (a benchmark's queries)."""


def _plain_query_record(row, problems) -> QueryRecord | None:
    record = query_record(row, problems)
    if record is not None and (record.images or record.conditions):
        raise QueriesWithReferences  # rolls the staging transaction back
    return record


def queries_import_staged(*, project: Project, path: Path, fmt: str | None, progress: Progress) -> ImportSummary:
    table = Query._meta.db_table
    with transaction.atomic():
        rows, stage, problems = stage_rows(
            path, QUERY_SPEC, fmt, QUERY_COLUMNS, _plain_query_record, _query_values, progress
        )
        kept = dedupe(stage, QUERY_DEDUPE, problems)
        fail_if(problems)
        same = "q.project_id = %s AND q.external_id = k.query_id"
        matched = scalar(f"SELECT count(*) FROM {kept} k JOIN {table} q ON {same}", [project.id])
        # A row without locale or traffic keeps the query's, as on the in-memory path.
        locale, traffic = "COALESCE(NULLIF(k.locale, ''), q.locale)", "COALESCE(k.traffic, q.traffic)"
        updated = execute(
            f"UPDATE {table} q SET text = k.text, locale = {locale}, traffic = {traffic} FROM {kept} k "
            f"WHERE {same} AND ROW(q.text, q.locale, q.traffic) IS DISTINCT FROM ROW(k.text, {locale}, {traffic})",
            [project.id],
        )
        created = 0
        new = stream(
            f"SELECT query_id, text, locale, traffic FROM {kept} k "
            f"WHERE NOT EXISTS (SELECT 1 FROM {table} q WHERE {same}) ORDER BY line",
            [project.id],
        )
        for batch in batches(new):
            Query.objects.bulk_create(
                [Query(project=project, external_id=q, text=t, locale=loc, traffic=n or 0) for q, t, loc, n in batch]
            )
            created += len(batch)
    counts: dict[str, int | str] = {"queries created": created, "updated": updated, "unchanged": matched - updated}
    return ImportSummary(rows.path.name, rows.rows, counts, problems.notes)


# --- products -----------------------------------------------------------------------

PRODUCT_COLUMNS = (
    ("product_id", "text"),
    ("title", "text"),
    ("brand", "text"),
    ("category", "text"),
    ("description", "text"),
    ("attributes", "jsonb"),
    ("images", "text[]"),
)


def _product_values(r: ProductRecord) -> tuple:
    return (r.product_id, r.title, r.brand, r.category, r.description, json.dumps(r.attributes), list(r.images))


def _product(v: tuple) -> ProductRecord:
    attributes = json.loads(v[5]) if isinstance(v[5], str) else v[5]
    return ProductRecord(v[0], v[1], v[2], v[3], v[4], attributes, tuple(v[6] or ()))


PRODUCT_DEDUPE = Dedupe(
    PRODUCT_KEY, ("product_id",), ("title", "brand", "category", "description", "attributes", "images"), (), _product
)
_KEPT_ROWS = "SELECT line, product_id, title, brand, category, description, attributes, images FROM {kept}"


def products_import_staged(*, project: Project, path: Path, fmt: str | None, progress: Progress) -> ImportSummary:
    from .catalogue import _prepare_images  # the image checks of the in-memory path

    base_dir = Path(path).resolve().parent
    with transaction.atomic():
        rows, stage, problems = stage_rows(
            path, PRODUCT_SPEC, fmt, PRODUCT_COLUMNS, product_record, _product_values, progress
        )
        kept = dedupe(stage, PRODUCT_DEDUPE, problems)
        fail_if(problems)

        # Check pass: images and content hashes, one product's image bytes in memory at a
        # time; the products that changed are staged, their images re-encoded to check them.
        changed = Stage("import_changed", (("product_id", "text"), ("content_hash", "text")))
        unchanged = 0
        for batch in batches(stream(_KEPT_ROWS.format(kept=kept) + " ORDER BY line")):
            existing = _existing(project, [row[1] for row in batch])
            for line, *values in batch:
                record = _product(tuple(values))
                images = _prepare_images(record, line, base_dir, problems)
                if images is None:
                    continue
                content_hash = _content_hash(record, [image.raw_hash for image in images])
                current = existing.get(record.product_id)
                if current is not None and current[1] == content_hash:
                    unchanged += 1
                    continue
                for image in images:
                    if image.data is not None:
                        try:
                            image_reencode(image.data)
                        except ImageRejected as exc:
                            problems.add(line, "image", f"{image.source}: {exc}")
                changed.add(line, (record.product_id, content_hash))
        changed.flush()
        fail_if(problems)

        # Write pass: files are written only now that every row is known to be good.
        created = updated = images_written = 0
        query = (
            f"SELECT k.line, k.product_id, k.title, k.brand, k.category, k.description, k.attributes, k.images, "
            f"c.content_hash FROM {kept} k JOIN import_changed c USING (product_id) ORDER BY k.line"
        )
        for batch in batches(stream(query)):
            existing = _existing(project, [row[1] for row in batch])
            written = _write_products(project, batch, existing, base_dir, problems)
            fail_if(problems)  # only if an image changed on disk between the passes
            created, updated, images_written = (a + b for a, b in zip((created, updated, images_written), written))
    counts: dict[str, int | str] = {
        "products created": created,
        "updated": updated,
        "unchanged": unchanged,
        "images written": images_written,
    }
    return ImportSummary(rows.path.name, rows.rows, counts, problems.notes)


def _existing(project: Project, external_ids: list[str]) -> dict[str, tuple[int, str]]:
    return {
        external_id: (pk, content_hash)
        for pk, external_id, content_hash in Product.objects.filter(
            project=project, external_id__in=external_ids
        ).values_list("id", "external_id", "content_hash")
    }


def _content_hash(record: ProductRecord, image_keys: list[str]) -> str:
    return product_content_hash(
        title=record.title,
        brand=record.brand,
        category=record.category,
        description=record.description,
        attributes=record.attributes,
        image_keys=image_keys,
    )


def _write_products(project, batch, existing, base_dir: Path, problems: Problems) -> tuple[int, int, int]:
    from .catalogue import _prepare_images

    now = timezone.now()
    new, changed, image_rows = [], [], []
    for line, *values, content_hash in batch:
        record = _product(tuple(values))
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
            new.append(Product(project=project, external_id=record.product_id, **fields))
        else:
            changed.append(
                Product(id=current[0], project=project, external_id=record.product_id, updated_at=now, **fields)
            )
        for position, image in enumerate(_prepare_images(record, line, base_dir, problems) or ()):
            row = ProductImage(position=position, source=image.source, status=image.status)
            row.product_external_id = record.product_id  # type: ignore[attr-defined]
            if image.data is not None:
                try:
                    data, width, height = image_reencode(image.data)
                except ImageRejected as exc:
                    problems.add(line, "image", f"{image.source}: {exc}")
                    continue
                saved = image_save(encoded=data, width=width, height=height)
                row.stored_name, row.sha256, row.width, row.height = (
                    saved.stored_name,
                    saved.sha256,
                    saved.width,
                    saved.height,
                )
            image_rows.append(row)
    if problems:
        return 0, 0, 0
    Product.objects.bulk_create(new, batch_size=settings.QRELAY_IMPORT_BATCH_SIZE)
    bulk_update_rows(
        Product, changed, ["title", "brand", "category", "description", "attributes", "content_hash", "updated_at"]
    )
    ProductImage.objects.filter(product_id__in=[p.id for p in changed]).delete()
    ids = {p.external_id: p.id for p in new} | {p.external_id: p.id for p in changed}
    for row in image_rows:
        row.product_id = ids[row.product_external_id]  # type: ignore[attr-defined]
    ProductImage.objects.bulk_create(image_rows, batch_size=settings.QRELAY_IMPORT_BATCH_SIZE)
    return len(new), len(changed), len(image_rows)
