"""Agreement tallies kept up to date incrementally (issue 16).

- reviews_agreement_dirty: pairs whose agreement contribution may have changed, written by
  statement triggers in the writer's own transaction (label insert/update/delete, a
  pair's gold, an adjudication task's label). No key: concurrent writers never wait on
  each other; the delta pass deduplicates.
- reviews_agreement_part: each pair's current contribution, one row per (kind, key).
- reviews_agreement_total: the per-project sums of those rows, what the figures read.
- reviews_agreement_built: projects whose tallies exist (and the project's creation time:
  ids are reused when a database is recreated).

reviews/agreement/tallies.py holds the delta pass. PostgreSQL only, like the figures.
"""

from django.db import migrations

TABLES = """
CREATE TABLE reviews_agreement_dirty (
    project_id bigint NOT NULL, pair_id bigint NOT NULL, rater text, created_at timestamptz
);
CREATE INDEX reviews_agreement_dirty_project ON reviews_agreement_dirty (project_id);
CREATE TABLE reviews_agreement_part (
    project_id bigint NOT NULL, pair_id bigint NOT NULL, kind text NOT NULL, key text[] NOT NULL, n bigint NOT NULL
);
CREATE INDEX reviews_agreement_part_pair ON reviews_agreement_part (project_id, pair_id);
CREATE TABLE reviews_agreement_total (
    project_id bigint NOT NULL, kind text NOT NULL, key text[] NOT NULL, n bigint NOT NULL,
    PRIMARY KEY (project_id, kind, key)
);
CREATE TABLE reviews_agreement_built (project_id bigint PRIMARY KEY, born timestamptz NOT NULL, built_at timestamptz NOT NULL);
"""

# (trigger name, table, event, transition tables, SELECT of (project_id, pair_id, rater,
# created_at) rows). A human label's rater and time say whose day positions it moves.
HUMAN = "CASE WHEN source = 'human' THEN {} END"
LABEL_ROWS = f"SELECT project_id, pair_id, {HUMAN.format('rater')}, {HUMAN.format('created_at')} FROM "
TRIGGERS = [
    ("label_ins", "annotation_label", "INSERT", "NEW TABLE AS new_rows", LABEL_ROWS + "new_rows"),
    ("label_del", "annotation_label", "DELETE", "OLD TABLE AS old_rows", LABEL_ROWS + "old_rows"),
    (
        "label_upd",
        "annotation_label",
        "UPDATE",
        "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        f"{LABEL_ROWS} new_rows UNION {LABEL_ROWS} old_rows",
    ),
    (
        "pair_ins",
        "annotation_pair",
        "INSERT",
        "NEW TABLE AS new_rows",
        "SELECT project_id, id, NULL::text, NULL::timestamptz FROM new_rows WHERE gold_value IS NOT NULL",
    ),
    (
        "pair_del",
        "annotation_pair",
        "DELETE",
        "OLD TABLE AS old_rows",
        "SELECT project_id, id, NULL::text, NULL::timestamptz FROM old_rows",
    ),
    (
        "pair_upd",
        "annotation_pair",
        "UPDATE",
        "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        "SELECT n.project_id, n.id, NULL::text, NULL::timestamptz FROM new_rows n JOIN old_rows o ON o.id = n.id "
        "WHERE (n.gold_value, n.gold_provenance) IS DISTINCT FROM (o.gold_value, o.gold_provenance)",
    ),
    (
        "task_ins",
        "reviews_reviewtask",
        "INSERT",
        "NEW TABLE AS new_rows",
        "SELECT n.project_id, n.pair_id, l.rater, l.created_at FROM new_rows n JOIN annotation_label l ON l.id = n.label_id "
        "WHERE n.kind = 'adjudication'",
    ),
    (
        "task_upd",
        "reviews_reviewtask",
        "UPDATE",
        "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        "SELECT n.project_id, n.pair_id, l.rater, l.created_at FROM new_rows n JOIN old_rows o ON o.id = n.id "
        "LEFT JOIN annotation_label l ON l.id = COALESCE(n.label_id, o.label_id) "
        "WHERE (n.kind = 'adjudication' OR o.kind = 'adjudication') AND n.label_id IS DISTINCT FROM o.label_id",
    ),
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(TABLES)
    for name, table, event, transition, rows in TRIGGERS:
        schema_editor.execute(
            f"""CREATE FUNCTION reviews_agreement_dirty_{name}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO reviews_agreement_dirty SELECT DISTINCT * FROM ({rows}) x;
                RETURN NULL;
            END $$;"""
        )
        schema_editor.execute(
            f"CREATE TRIGGER reviews_agreement_dirty_{name} AFTER {event} ON {table} "
            f"REFERENCING {transition} FOR EACH STATEMENT EXECUTE FUNCTION reviews_agreement_dirty_{name}()"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, table, *_ in TRIGGERS:
        schema_editor.execute(f"DROP TRIGGER reviews_agreement_dirty_{name} ON {table}")
        schema_editor.execute(f"DROP FUNCTION reviews_agreement_dirty_{name}()")
    for table in ("dirty", "part", "total", "built"):
        schema_editor.execute(f"DROP TABLE reviews_agreement_{table}")


class Migration(migrations.Migration):
    dependencies = [
        ("reviews", "0010_pair_subset"),
        ("annotation", "0013_import_job"),
    ]

    operations = [migrations.RunPython(create, drop)]
