"""Composite foreign keys that keep label and gold values inside the project's scale.

Django cannot express a foreign key over (project_id, value), so it is added in SQL on
PostgreSQL, the production database. The embedded SQLite mode relies on the services'
validation alone. Deferred, so deleting a whole project in one transaction works.
"""

from django.db import migrations

CONSTRAINTS = [
    ("annotation_label", "label_value_in_scale", "project_id, value"),
    ("annotation_pair", "pair_gold_value_in_scale", "project_id, gold_value"),
]


def add_constraints(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, name, columns in CONSTRAINTS:
        schema_editor.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({columns}) "
            "REFERENCES annotation_scalelevel (project_id, value) DEFERRABLE INITIALLY DEFERRED"
        )


def drop_constraints(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, name, _ in CONSTRAINTS:
        schema_editor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")


class Migration(migrations.Migration):
    dependencies = [("annotation", "0001_initial")]

    operations = [migrations.RunPython(add_constraints, drop_constraints)]
