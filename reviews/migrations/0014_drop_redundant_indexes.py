"""Drop indexes that duplicate another one (docs/scaling.md, "Indexes"): each is paid on
every write of the table (a reroute batch, a judge chunk) and no read needs it.

By hand rather than AlterField: for a foreign key's db_index, Django re-creates the
foreign key constraint (re-checking every row of a million-row table) and on SQLite
rebuilds the table (dropping its triggers); for judging's cache_key it also drops the
partial unique index judgment_one_ok_per_key. Here only the named indexes go."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0016_drop_redundant_indexes"),
        ("reviews", "0013_reroute_task_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="pairsignal",
                    name="project",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="annotation.project",
                    ),
                ),
                migrations.AlterField(
                    model_name="reviewtask",
                    name="flagged_by",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="reviewtask",
                    name="label",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="annotation.label",
                    ),
                ),
                migrations.AlterField(model_name="reviewtask", name="priority", field=models.FloatField(default=0)),
            ],
            database_operations=[
                # pairsignal_project_idx is the same index.
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS reviews_pairsignal_project_id_ef5cb8ee",
                    "CREATE INDEX reviews_pairsignal_project_id_ef5cb8ee ON reviews_pairsignal (project_id)",
                ),
                # Nothing looks tasks up by these; the queue reads priority through its own index.
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS reviews_reviewtask_flagged_by_id_e7db46ad",
                    "CREATE INDEX reviews_reviewtask_flagged_by_id_e7db46ad ON reviews_reviewtask (flagged_by_id)",
                ),
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS reviews_reviewtask_label_id_c20066c6",
                    "CREATE INDEX reviews_reviewtask_label_id_c20066c6 ON reviews_reviewtask (label_id)",
                ),
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS reviews_reviewtask_priority_2236bc4e",
                    "CREATE INDEX reviews_reviewtask_priority_2236bc4e ON reviews_reviewtask (priority)",
                ),
            ],
        ),
    ]
