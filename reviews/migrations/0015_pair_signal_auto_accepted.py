"""PairSignal.auto_accepted: the pair's gold is the LLM's. The judgment triggers' function
is replaced by the current one (it fills the flag for new signal rows), a trigger on
annotation_pair keeps it when gold changes, and the rows already there are backfilled
(PostgreSQL only: nothing reads the table on SQLite)."""

import importlib

from django.db import migrations, models

from reviews import pair_signal_sql


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(pair_signal_sql.FUNCTION)
        schema_editor.execute(pair_signal_sql.AUTO_FUNCTION)
        schema_editor.execute(pair_signal_sql.AUTO_TRIGGER)
        schema_editor.execute(pair_signal_sql.AUTO_BACKFILL)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(pair_signal_sql.AUTO_DROP)
        first = importlib.import_module("reviews.migrations.0008_pair_signal_triggers")
        schema_editor.execute(first.FUNCTION)


class Migration(migrations.Migration):
    dependencies = [
        ("reviews", "0014_drop_redundant_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="pairsignal",
            name="auto_accepted",
            field=models.BooleanField(default=False),
        ),
        migrations.RunPython(install, uninstall),
    ]
