"""The agreement tallies' tables (0011_agreement_tallies: raw SQL, no foreign key) go with
their project: a statement trigger on annotation_project deletes a deleted project's rows
of the four, whatever deletes it (the ORM, the admin, raw SQL). Rows of projects deleted
before this migration are removed here.

Why a trigger and not a foreign key with ON DELETE CASCADE: the dirty table is written by
the label triggers, a row per human label written (a million for a large label import),
and a foreign key would check the project for each of those rows; the part table
likewise on a first build. The trigger costs nothing until a project is deleted.

Django deletes a project's labels and pairs before the project row, so the dirty rows
their triggers write are there when this trigger runs. It first takes the delta pass's
advisory lock (tallies.LOCK_CLASS, project id): a pass running for the project commits
its rows first, and they are deleted too; a pass that waited on the lock finds the
project gone and writes nothing (refresh_tallies)."""

from django.db import migrations

TABLES = ("part", "total", "built", "dirty")

CREATE = f"""
CREATE FUNCTION reviews_agreement_project_del() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(16016, id::int) FROM (SELECT id FROM old_rows ORDER BY id) deleted;
    {" ".join(f"DELETE FROM reviews_agreement_{t} WHERE project_id IN (SELECT id FROM old_rows);" for t in TABLES)}
    RETURN NULL;
END $$;
CREATE TRIGGER reviews_agreement_project_del AFTER DELETE ON annotation_project
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION reviews_agreement_project_del();
{" ".join(f"DELETE FROM reviews_agreement_{t} x WHERE NOT EXISTS (SELECT 1 FROM annotation_project p WHERE p.id = x.project_id);" for t in TABLES)}
"""
DROP = """
DROP TRIGGER reviews_agreement_project_del ON annotation_project;
DROP FUNCTION reviews_agreement_project_del();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("reviews", "0015_pair_signal_auto_accepted")]

    operations = [migrations.RunPython(forwards, backwards)]
