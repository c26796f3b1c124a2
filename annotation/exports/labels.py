"""Every label of a project (LLM and human, gold or not) as JSONL."""

from collections.abc import Iterator

from django.db import connection

from ..models import Label, Pair, Product, Project, Query, ScaleLevel
from .streaming import iso_sql, json_lines, json_object, jsonl_blocks
from .tables import CHUNK, ExtraColumns, IsoTimestamp, Table, batches, snapshot, with_extra

LABEL_COLUMNS = (
    "label_id",
    "query_id",
    "product_id",
    "source",
    "rater",
    "label",
    "label_name",
    "confidence",
    "rationale",
    "guideline_version",
    "created_at",
)


def labels_table(project: Project, *, extra: ExtraColumns | None = None, chunk_size: int = CHUNK) -> Table:
    """Every label of the project (LLM and human, gold or not), oldest first
    (LABEL_COLUMNS + extra; extra.fetch gets label ids)."""
    return Table(with_extra(LABEL_COLUMNS, extra), _label_chunks(project, extra, chunk_size))


def _label_chunks(project: Project, extra: ExtraColumns | None, chunk_size: int) -> Iterator[list[tuple]]:
    with snapshot():
        names = dict(ScaleLevel.objects.filter(project=project).values_list("value", "name"))
        rows = (
            Label.objects.filter(project=project)
            .order_by("id")
            .values_list(
                "id",
                "pair__query__external_id",
                "pair__product__external_id",
                "source",
                "rater",
                "value",
                "confidence",
                "rationale",
                "guideline_version",
                IsoTimestamp("created_at"),
            )
        )
        for batch in batches(rows.iterator(chunk_size=chunk_size), chunk_size):
            more = extra.fetch([row[0] for row in batch]) if extra else {}
            out = []
            for row in batch:
                row = row[:6] + (names.get(row[5]),) + row[6:]
                if extra:
                    found = more.get(row[0], {})
                    row += tuple(found.get(name) for name in extra.names)
                out.append(row)
            yield out


def export_labels_jsonl(
    project: Project, *, extra: ExtraColumns | None = None, chunk_size: int = CHUNK
) -> Iterator[str]:
    if extra is None and connection.vendor == "postgresql":
        return json_lines(_labels_sql(), [project.id], chunk_size)
    return jsonl_blocks(labels_table(project, extra=extra, chunk_size=chunk_size))


def _labels_sql() -> str:
    """SELECT of every label as one JSON object (LABEL_COLUMNS); parameter: the project id."""
    columns = {
        "label_id": "l.id",
        "query_id": "q.external_id",
        "product_id": "pr.external_id",
        "source": "l.source",
        "rater": "l.rater",
        "label": "l.value",
        "label_name": "s.name",
        "confidence": "l.confidence",
        "rationale": "l.rationale",
        "guideline_version": "l.guideline_version",
        "created_at": iso_sql("l.created_at"),
    }
    assert tuple(columns) == LABEL_COLUMNS
    return f"""
        SELECT {json_object(columns)}
        FROM {Label._meta.db_table} l
        JOIN {Pair._meta.db_table} p ON p.id = l.pair_id
        JOIN {Query._meta.db_table} q ON q.id = p.query_id
        JOIN {Product._meta.db_table} pr ON pr.id = p.product_id
        LEFT JOIN {ScaleLevel._meta.db_table} s ON s.project_id = l.project_id AND s.value = l.value
        WHERE l.project_id = %s
        ORDER BY l.id
    """
