"""Drop indexes that duplicate another one (docs/scaling.md, "Indexes"): each is paid on
every write of the table (a reroute batch, a judge chunk) and no read needs it.

By hand rather than AlterField: for a foreign key's db_index, Django re-creates the
foreign key constraint (re-checking every row of a million-row table) and on SQLite
rebuilds the table (dropping its triggers); for judging's cache_key it also drops the
partial unique index judgment_one_ok_per_key. Here only the named indexes go."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0015_metrics_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(model_name="pair", name="pair_product_idx"),
                migrations.AlterField(
                    model_name="pair",
                    name="project",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="pairs",
                        to="annotation.project",
                    ),
                ),
            ],
            database_operations=[
                # The same as Django's foreign-key index on product_id.
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS pair_product_idx",
                    "CREATE INDEX pair_product_idx ON annotation_pair (product_id)",
                ),
                # pair_unique_query_product (project, query, product) serves project_id.
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS annotation_pair_project_id_1f6a0f79",
                    "CREATE INDEX annotation_pair_project_id_1f6a0f79 ON annotation_pair (project_id)",
                ),
            ],
        ),
    ]
