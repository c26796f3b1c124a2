"""Triggers that keep reviews_pairsignal in step with judgments (PostgreSQL only)."""

from django.db import migrations

from reviews import pair_signal_sql


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(pair_signal_sql.FUNCTION)
        schema_editor.execute(pair_signal_sql.TRIGGERS)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(pair_signal_sql.DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("judging", "0005_endpoint_settings_and_failure_reasons"),
        ("reviews", "0007_pair_signal"),
    ]

    operations = [migrations.RunPython(create, drop)]
