"""Backfill annotation_currentlabel from the labels written before 0004's triggers.

The same newest-wins upsert as the triggers, so it is safe to run again and safe
against labels written while it runs (their triggers already upserted them)."""

from django.db import migrations

PG_BACKFILL = """
    INSERT INTO annotation_currentlabel AS cur (pair_id, source, label_id, value, created_at)
    SELECT * FROM (
        SELECT DISTINCT ON (pair_id, source) pair_id, source, id, value, created_at
        FROM annotation_label ORDER BY pair_id, source, created_at DESC, id DESC
    ) per_source
    UNION ALL
    SELECT * FROM (
        SELECT DISTINCT ON (pair_id) pair_id, 'any'::varchar, id, value, created_at
        FROM annotation_label ORDER BY pair_id, created_at DESC, id DESC
    ) any_source
    ON CONFLICT (pair_id, source) DO UPDATE
        SET label_id = EXCLUDED.label_id, value = EXCLUDED.value, created_at = EXCLUDED.created_at
        WHERE (EXCLUDED.created_at, EXCLUDED.label_id) > (cur.created_at, cur.label_id)
"""
SQLITE_BACKFILL = """
    INSERT INTO annotation_currentlabel (pair_id, source, label_id, value, created_at)
    SELECT pair_id, source, id, value, created_at FROM (
        SELECT l.*, ROW_NUMBER() OVER (PARTITION BY pair_id, source ORDER BY created_at DESC, id DESC) AS n
        FROM annotation_label l
    ) WHERE n = 1
    UNION ALL
    SELECT pair_id, 'any', id, value, created_at FROM (
        SELECT l.*, ROW_NUMBER() OVER (PARTITION BY pair_id ORDER BY created_at DESC, id DESC) AS n
        FROM annotation_label l
    ) WHERE n = 1
    ON CONFLICT (pair_id, source) DO UPDATE
        SET label_id = excluded.label_id, value = excluded.value, created_at = excluded.created_at
        WHERE (excluded.created_at, excluded.label_id)
            > (annotation_currentlabel.created_at, annotation_currentlabel.label_id)
"""


def backfill(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statement = {"postgresql": PG_BACKFILL, "sqlite": SQLITE_BACKFILL}.get(vendor)
    if statement:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("annotation", "0005_current_label")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
