from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0017_import_job_requeued_at"),
    ]

    operations = [
        migrations.AddField(
            model_name="metricsnapshot",
            name="judging_claimed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
