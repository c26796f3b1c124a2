"""The agreement tallies' trigger on pair updates (0011) joins the statement's old and new
rows on the pair id. The planner cannot size transition tables and plans that join as a
nested loop, quadratic in the rows one statement updates: 1.3 s for a reroute batch that
gives 4,454 pairs back to the LLM (19.8 million comparisons), 45 s of a 1M-pair reroute.
Without nested loops inside the function the join is a hash join (a few ms). PostgreSQL
only, like the trigger."""

from django.db import migrations

FUNCTION = "reviews_agreement_dirty_pair_upd()"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER FUNCTION {FUNCTION} SET enable_nestloop = off")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER FUNCTION {FUNCTION} RESET enable_nestloop")


class Migration(migrations.Migration):
    dependencies = [("reviews", "0016_agreement_tallies_go_with_project")]

    operations = [migrations.RunPython(forwards, backwards)]
