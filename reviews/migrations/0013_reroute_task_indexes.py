"""Partial indexes for the reroute preview (reviews/services/reroute_sql.py): the open label
tasks a new threshold could give back, and the pairs a person works or worked on. At 1M
pairs both were whole-table scans of reviews_reviewtask on every what-if keystroke. Not
model indexes (Django cannot express `reason <> 'audit'` portably for the embedded
SQLite, which never runs this SQL): PostgreSQL only."""

from django.db import migrations

CREATE = """
CREATE INDEX IF NOT EXISTS reviewtask_reroute_open_idx ON reviews_reviewtask (project_id, pair_id)
    WHERE kind = 'label' AND status = 'open' AND slot = 1 AND reason <> 'audit';
CREATE INDEX IF NOT EXISTS reviewtask_touched_idx ON reviews_reviewtask (pair_id)
    WHERE status NOT IN ('open', 'cancelled');
"""
DROP = """
DROP INDEX IF EXISTS reviewtask_reroute_open_idx;
DROP INDEX IF EXISTS reviewtask_touched_idx;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("reviews", "0012_agreement_label_day")]

    operations = [migrations.RunPython(forwards, backwards)]
