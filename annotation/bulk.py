"""Fast bulk writes for the hot tables (pairs, labels, results, gold values).

Django's bulk_update builds one CASE WHEN per field with a branch per row, which grows
quadratically with the batch (60 s for 100k rows here), and bulk_create builds a model
instance and a placeholder per value. On PostgreSQL these helpers send one array per
column (UPDATE ... FROM unnest(...)) or stream COPY, which keeps 100k-row imports in
seconds. Other databases (the embedded SQLite) fall back to the ORM.
"""

from collections.abc import Sequence

from django.db import connection, models, transaction

BATCH = 10_000


def _adapt(field: models.Field, value):
    # Plain ints, strings, floats and datetimes are adapted by psycopg itself; only JSON
    # needs Django's preparation. Skipping the rest saves most of the Python time.
    if isinstance(field, models.JSONField):
        return field.get_db_prep_save(value, connection)
    return value


def bulk_update_rows(model, objs: Sequence, fields: Sequence[str]) -> None:
    if not objs:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_update(objs, fields, batch_size=100)
        return
    meta = model._meta
    pk = meta.pk
    columns = [meta.get_field(name) for name in fields]
    set_clause = ", ".join(f'"{field.column}" = v."{field.column}"' for field in columns)
    names = ", ".join(f'"{column}"' for column in [pk.column] + [field.column for field in columns])
    arrays = ", ".join(
        [f"%s::{pk.cast_db_type(connection)}[]"] + [f"%s::{field.cast_db_type(connection)}[]" for field in columns]
    )
    sql = (
        f'UPDATE "{meta.db_table}" AS t SET {set_clause} FROM unnest({arrays}) AS v({names}) '
        f'WHERE t."{pk.column}" = v."{pk.column}"'
    )
    with connection.cursor() as cursor:
        for start in range(0, len(objs), BATCH):
            batch = objs[start : start + BATCH]
            params = [[obj.pk for obj in batch]]
            params += [[_adapt(field, getattr(obj, field.attname)) for obj in batch] for field in columns]
            cursor.execute(sql, params)


def bulk_insert_rows(model, fields: Sequence[str], rows: Sequence[Sequence], *, ignore_conflicts: bool = False) -> None:
    """Insert plain tuples (values in `fields` order) without building model instances.

    On PostgreSQL this streams COPY into a temporary table and moves the rows over with
    INSERT ... SELECT, so a unique conflict can be ignored. Callers pass every NOT NULL
    column, auto_now_add timestamps included: nothing fills Django defaults here.
    """
    if not rows:
        return
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    if connection.vendor != "postgresql":
        attnames = [field.attname for field in columns]  # "project_id", so plain ids can be given
        model.objects.bulk_create(
            [model(**dict(zip(attnames, row))) for row in rows], batch_size=500, ignore_conflicts=ignore_conflicts
        )
        return
    json_positions = [i for i, field in enumerate(columns) if isinstance(field, models.JSONField)]
    column_list = ", ".join(f'"{field.column}"' for field in columns)
    staging = f"_staging_{meta.db_table}"
    conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    with transaction.atomic(), connection.cursor() as wrapper:
        cursor = wrapper.cursor  # the psycopg cursor, for COPY
        # Column types only, no constraints: the real table checks the rows on INSERT.
        cursor.execute(
            f'CREATE TEMPORARY TABLE IF NOT EXISTS "{staging}" ON COMMIT DROP AS '
            f'SELECT {column_list} FROM "{meta.db_table}" WITH NO DATA'
        )
        cursor.execute(f'TRUNCATE "{staging}"')
        with cursor.copy(f'COPY "{staging}" ({column_list}) FROM STDIN') as copy:
            for row in rows:
                if json_positions:
                    row = list(row)
                    for i in json_positions:
                        row[i] = _adapt(columns[i], row[i])
                copy.write_row(row)
        cursor.execute(f'INSERT INTO "{meta.db_table}" ({column_list}) SELECT {column_list} FROM "{staging}"{conflict}')
        cursor.execute(f'TRUNCATE "{staging}"')
