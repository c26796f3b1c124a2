from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0016_drop_redundant_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="importjob",
            name="requeued_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
