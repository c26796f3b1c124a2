"""Drop indexes that duplicate another one or serve no query (tasks: priority, label_id,
flagged_by_id; signals: the second project_id index). By hand, for the reasons given in
annotation/migrations/0016_drop_redundant_indexes.py."""

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
