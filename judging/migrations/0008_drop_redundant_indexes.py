"""Drop indexes that duplicate another one (judging_judgment: the LIKE and pair_id
indexes; the plain cache_key index under a new name). By hand, for the reasons given in
annotation/migrations/0016_drop_redundant_indexes.py."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0016_drop_redundant_indexes"),
        ("judging", "0007_judgment_applied_rules"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(model_name="judgment", name="cache_key", field=models.CharField(max_length=64)),
                migrations.AlterField(
                    model_name="judgment",
                    name="pair",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="judgments",
                        to="annotation.pair",
                    ),
                ),
                migrations.AddIndex(
                    model_name="judgment", index=models.Index(fields=["cache_key"], name="judgment_cache_key_idx")
                ),
            ],
            database_operations=[
                # The plain cache_key index under its new name; the LIKE index (PostgreSQL's
                # varchar_pattern_ops twin of a CharField's db_index) served no query.
                migrations.RunSQL(
                    "CREATE INDEX judgment_cache_key_idx ON judging_judgment (cache_key)",
                    "DROP INDEX IF EXISTS judgment_cache_key_idx",
                ),
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS judging_judgment_cache_key_d61a1c62",
                    "CREATE INDEX judging_judgment_cache_key_d61a1c62 ON judging_judgment (cache_key)",
                ),
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS judging_judgment_cache_key_d61a1c62_like", migrations.RunSQL.noop
                ),
                # judgment_pair_recent_idx (pair, created_at DESC) serves pair_id.
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS judging_judgment_pair_id_20017306",
                    "CREATE INDEX judging_judgment_pair_id_20017306 ON judging_judgment (pair_id)",
                ),
            ],
        ),
    ]
