"""An index for the agreement tallies' day positions: a rater's human labels of one day
(reviews/agreement/tallies.py numbers them to put each in a fatigue bucket). Without it
each rater-day a delta pass touches reads every label written that day."""

from django.db import migrations


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS reviews_agreement_label_day ON annotation_label "
            "(project_id, rater, created_at) WHERE source = 'human'"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS reviews_agreement_label_day")


class Migration(migrations.Migration):
    dependencies = [("reviews", "0011_agreement_tallies")]

    operations = [migrations.RunPython(create, drop)]
