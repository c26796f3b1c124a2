"""The benches' bulk inserts, with the columns a bench does not set filled from the model.

Each bench builds its data with `INSERT … SELECT … FROM generate_series(…)` (or COPY, for
data made in Python). They used to spell out every NOT NULL column of the tables they
write, each its own copy, so a new NOT NULL column broke every bench separately (the
queries' `conditions` / `reference_hash` did). Here a bench gives only the columns that
vary, as SQL expressions, and the rest come from the Django model:

- nullable columns, the primary key and columns with a database default are left out;
- `auto_now` / `auto_now_add` timestamps are `now()` (the transaction's time);
- a field's `default` is written as a literal (`[]` for `default=list`, `0`, `'label'`);
- a blank CharField / TextField is `''`;
- anything else is a column the bench must give: asking without it raises ValueError,
  so a new required column fails loudly (and tests/test_bench_builders.py fails in CI).

Django is imported inside the functions: benches import this module before
`_setup.setup()` has configured Django.
"""

import enum
import json
from collections.abc import Iterable, Sequence
from decimal import Decimal

NOW = object()  # the fill of an auto_now / auto_now_add column


def _model(label: str):
    from django.apps import apps

    return apps.get_model(label)


def _fill(field):
    """What a column gets when the bench leaves it out: None (the database fills it),
    NOW, or a Python value. Raises ValueError for a required column."""
    from django.db.models import NOT_PROVIDED, CharField, DateTimeField, TextField

    if field.primary_key or field.null or field.db_default is not NOT_PROVIDED:
        return None
    if isinstance(field, DateTimeField) and (field.auto_now or field.auto_now_add):
        return NOW
    if field.has_default():
        return field.get_default()
    if field.blank and isinstance(field, CharField | TextField):
        return ""
    raise ValueError(f"{field.model._meta.db_table}.{field.column} is NOT NULL without a default: give it")


def _literal(field, value) -> str:
    """A default as an SQL literal. The statement runs with parameters, so % is doubled."""
    from django.db.models import JSONField

    if isinstance(field, JSONField):
        text = json.dumps(value)
        return "'" + text.replace("'", "''").replace("%", "%%") + "'::jsonb"
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''").replace("%", "%%") + "'"
    raise TypeError(f"no SQL literal for the default {value!r} of {field.column}")


def select_list(model_label: str, values: dict[str, str]) -> dict[str, str]:
    """{column: SQL expression} for one row of the model's table: `values` (keyed by
    column name, e.g. "project_id"), then every other NOT NULL column with its fill."""
    model = _model(model_label)
    fields = model._meta.concrete_fields
    unknown = set(values) - {field.column for field in fields}
    if unknown:
        raise ValueError(f"{model._meta.db_table} has no column {', '.join(sorted(unknown))}")
    # The given columns first, in their order: positional %s parameters stay in place.
    columns = dict(values)
    for field in fields:
        if field.column in values:
            continue
        fill = _fill(field)
        if fill is NOW:
            columns[field.column] = "now()"
        elif fill is not None:
            columns[field.column] = _literal(field, fill)
    return columns


def insert_sql(model_label: str, values: dict[str, str], rest: str) -> str:
    """`INSERT INTO <table> (<columns>) SELECT <expressions> <rest>`; `rest` is the FROM
    (and WHERE, ORDER BY, LIMIT, RETURNING …) the expressions read. For
    `cursor.execute(sql, params)` with parameters: a literal % is written %%."""
    columns = select_list(model_label, values)
    table = _model(model_label)._meta.db_table
    return f"INSERT INTO {table} ({', '.join(columns)})\nSELECT {', '.join(columns.values())}\n{rest}"


def queries(values: dict[str, str], rest: str) -> str:
    return insert_sql("annotation.Query", values, rest)


def products(values: dict[str, str], rest: str) -> str:
    return insert_sql("annotation.Product", values, rest)


def pairs(values: dict[str, str], rest: str) -> str:
    return insert_sql("annotation.Pair", values, rest)


def labels(values: dict[str, str], rest: str) -> str:
    return insert_sql("annotation.Label", values, rest)


def judgments(values: dict[str, str], rest: str) -> str:
    return insert_sql("judging.Judgment", values, rest)


def review_tasks(values: dict[str, str], rest: str) -> str:
    return insert_sql("reviews.ReviewTask", values, rest)


def copy_rows(model_label: str, fields: Sequence[str], rows: Iterable[Sequence], *, now=None) -> None:
    """Rows made in Python, through COPY (annotation.bulk.bulk_insert_rows): `fields` are
    the model's field names the tuples hold; every other NOT NULL column gets its fill
    (auto timestamps: `now`, default the current time)."""
    from django.utils import timezone

    from annotation.bulk import bulk_insert_rows

    model = _model(model_label)
    now = now or timezone.now()
    given = set(fields)
    extra_fields, extra_values = [], []
    for field in model._meta.concrete_fields:
        if field.name in given:
            continue
        fill = _fill(field)
        if fill is not None:
            extra_fields.append(field.name)
            extra_values.append(now if fill is NOW else fill)
    # One default object shared by every row is fine: COPY serialises it per row.
    tail = tuple(extra_values)
    bulk_insert_rows(model, [*fields, *extra_fields], [(*row, *tail) for row in rows])
