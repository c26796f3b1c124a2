"""The signals of the judgments written before the triggers (PostgreSQL only)."""

from django.db import migrations

from reviews import pair_signal_sql


def backfill(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(pair_signal_sql.BACKFILL)


class Migration(migrations.Migration):
    dependencies = [("reviews", "0008_pair_signal_triggers")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
