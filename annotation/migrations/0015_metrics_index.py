"""A covering index on search results: run metrics read each query's top ranks (with
score, product and pair) and count its results from the index alone. It replaces the
plain (run, query, rank) index, built first so queries always have one."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0014_import_job_touched_at"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="searchresult",
            index=models.Index(
                fields=["run", "query", "rank"],
                include=("score", "product", "pair"),
                name="searchresult_rank_cover_idx",
            ),
        ),
        migrations.RemoveIndex(
            model_name="searchresult",
            name="searchresult_rank_idx",
        ),
    ]
