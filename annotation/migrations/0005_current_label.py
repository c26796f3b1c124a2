"""annotation_currentlabel: the newest label of each pair per source and over all
sources ("any"), kept in step with annotation_label by triggers in the same transaction
as the label write (see CurrentLabel). The rows of existing labels come in 0005.

"Newest" is the largest (created_at, id), as the old per-result subquery ordered them.
Inserts upsert only when the new label is newer, so two transactions writing labels of
one pair at the same time end with the newest of both whichever commits last (ON
CONFLICT waits for the other and re-checks its WHERE against the committed row).
Deletes and updates of labels (the admin, cascades) drop the rows that pointed at the
changed labels and re-derive them from the labels that remain.

PostgreSQL: statement-level triggers over transition tables, so a bulk import of a
million labels is one set-based upsert. SQLite (embedded mode): row-level triggers.
"""

import django.db.models.deletion
from django.db import migrations, models

# The newest label per (pair, source) and per pair ("any") among the rows of `labels`.
PG_NEWEST = """
    SELECT * FROM (
        SELECT DISTINCT ON (pair_id, source) pair_id, source, id, value, created_at
        FROM {labels} ORDER BY pair_id, source, created_at DESC, id DESC
    ) per_source
    UNION ALL
    SELECT * FROM (
        SELECT DISTINCT ON (pair_id) pair_id, 'any'::varchar, id, value, created_at
        FROM {labels} ORDER BY pair_id, created_at DESC, id DESC
    ) any_source
"""
PG_UPSERT = """
    INSERT INTO annotation_currentlabel AS cur (pair_id, source, label_id, value, created_at)
    {rows}
    ON CONFLICT (pair_id, source) DO UPDATE
        SET label_id = EXCLUDED.label_id, value = EXCLUDED.value, created_at = EXCLUDED.created_at
        WHERE (EXCLUDED.created_at, EXCLUDED.label_id) > (cur.created_at, cur.label_id);
"""
PG_REMAINING = "(SELECT l.* FROM annotation_label l WHERE l.pair_id IN (SELECT pair_id FROM {changed})) AS remaining"

PG_FORWARD = [
    f"""
    CREATE FUNCTION annotation_currentlabel_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        {PG_UPSERT.format(rows=PG_NEWEST.format(labels="new_labels"))}
        RETURN NULL;
    END $$;
    """,
    f"""
    CREATE FUNCTION annotation_currentlabel_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM annotation_currentlabel cur USING old_labels o
            WHERE cur.pair_id = o.pair_id AND cur.label_id = o.id;
        {PG_UPSERT.format(rows=PG_NEWEST.format(labels=PG_REMAINING.format(changed="old_labels")))}
        RETURN NULL;
    END $$;
    """,
    f"""
    CREATE FUNCTION annotation_currentlabel_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM annotation_currentlabel cur USING old_labels o
            WHERE cur.pair_id = o.pair_id AND cur.label_id = o.id;
        {
        PG_UPSERT.format(
            rows=PG_NEWEST.format(
                labels=PG_REMAINING.format(
                    changed="(SELECT pair_id FROM old_labels UNION SELECT pair_id FROM new_labels) AS changed"
                )
            )
        )
    }
        RETURN NULL;
    END $$;
    """,
    """
    CREATE FUNCTION annotation_currentlabel_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        -- DELETE, not TRUNCATE: Django's flush truncates both tables in one statement,
        -- and a nested TRUNCATE of a table that statement holds is refused.
        DELETE FROM annotation_currentlabel;
        RETURN NULL;
    END $$;
    """,
    "CREATE TRIGGER annotation_currentlabel_insert AFTER INSERT ON annotation_label "
    "REFERENCING NEW TABLE AS new_labels FOR EACH STATEMENT EXECUTE FUNCTION annotation_currentlabel_insert()",
    "CREATE TRIGGER annotation_currentlabel_delete AFTER DELETE ON annotation_label "
    "REFERENCING OLD TABLE AS old_labels FOR EACH STATEMENT EXECUTE FUNCTION annotation_currentlabel_delete()",
    "CREATE TRIGGER annotation_currentlabel_update AFTER UPDATE ON annotation_label "
    "REFERENCING OLD TABLE AS old_labels NEW TABLE AS new_labels "
    "FOR EACH STATEMENT EXECUTE FUNCTION annotation_currentlabel_update()",
    "CREATE TRIGGER annotation_currentlabel_truncate AFTER TRUNCATE ON annotation_label "
    "FOR EACH STATEMENT EXECUTE FUNCTION annotation_currentlabel_truncate()",
]
PG_BACKWARD = [
    "DROP TRIGGER annotation_currentlabel_insert ON annotation_label",
    "DROP TRIGGER annotation_currentlabel_delete ON annotation_label",
    "DROP TRIGGER annotation_currentlabel_update ON annotation_label",
    "DROP TRIGGER annotation_currentlabel_truncate ON annotation_label",
    "DROP FUNCTION annotation_currentlabel_insert()",
    "DROP FUNCTION annotation_currentlabel_delete()",
    "DROP FUNCTION annotation_currentlabel_update()",
    "DROP FUNCTION annotation_currentlabel_truncate()",
]

# SQLite: one row at a time. `{row}` is NEW or OLD; the WHERE before ON CONFLICT is
# required by SQLite's parser for INSERT … SELECT … ON CONFLICT.
SQLITE_UPSERT = """
    INSERT INTO annotation_currentlabel (pair_id, source, label_id, value, created_at)
    SELECT pair_id, {source}, id, value, created_at FROM annotation_label
        WHERE pair_id = {row}.pair_id {and_source} ORDER BY created_at DESC, id DESC LIMIT 1
    ON CONFLICT (pair_id, source) DO UPDATE
        SET label_id = excluded.label_id, value = excluded.value, created_at = excluded.created_at
        WHERE (excluded.created_at, excluded.label_id)
            > (annotation_currentlabel.created_at, annotation_currentlabel.label_id);
"""


def _sqlite_rederive(row: str) -> str:
    return (
        f"DELETE FROM annotation_currentlabel WHERE pair_id = {row}.pair_id AND label_id = {row}.id;"
        + SQLITE_UPSERT.format(source="source", row=row, and_source=f"AND source = {row}.source")
        + SQLITE_UPSERT.format(source="'any'", row=row, and_source="")
    )


SQLITE_FORWARD = [
    """
    CREATE TRIGGER annotation_currentlabel_insert AFTER INSERT ON annotation_label FOR EACH ROW BEGIN
        INSERT INTO annotation_currentlabel (pair_id, source, label_id, value, created_at)
            VALUES (NEW.pair_id, NEW.source, NEW.id, NEW.value, NEW.created_at),
                   (NEW.pair_id, 'any', NEW.id, NEW.value, NEW.created_at)
        ON CONFLICT (pair_id, source) DO UPDATE
            SET label_id = excluded.label_id, value = excluded.value, created_at = excluded.created_at
            WHERE (excluded.created_at, excluded.label_id)
                > (annotation_currentlabel.created_at, annotation_currentlabel.label_id);
    END
    """,
    f"""
    CREATE TRIGGER annotation_currentlabel_delete AFTER DELETE ON annotation_label FOR EACH ROW BEGIN
        {_sqlite_rederive("OLD")}
    END
    """,
    f"""
    CREATE TRIGGER annotation_currentlabel_update AFTER UPDATE ON annotation_label FOR EACH ROW BEGIN
        {_sqlite_rederive("OLD")}
        {_sqlite_rederive("NEW")}
    END
    """,
]
SQLITE_BACKWARD = [
    "DROP TRIGGER annotation_currentlabel_insert",
    "DROP TRIGGER annotation_currentlabel_delete",
    "DROP TRIGGER annotation_currentlabel_update",
]


def create_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for statement in {"postgresql": PG_FORWARD, "sqlite": SQLITE_FORWARD}.get(vendor, []):
        schema_editor.execute(statement)


def drop_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for statement in {"postgresql": PG_BACKWARD, "sqlite": SQLITE_BACKWARD}.get(vendor, []):
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("annotation", "0004_query_images")]

    operations = [
        migrations.CreateModel(
            name="CurrentLabel",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "pair", "source", blank=True, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("source", models.CharField(max_length=10)),
                ("value", models.SmallIntegerField()),
                ("created_at", models.DateTimeField()),
                (
                    "label",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="annotation.label",
                    ),
                ),
                (
                    "pair",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="current_labels",
                        to="annotation.pair",
                    ),
                ),
            ],
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
