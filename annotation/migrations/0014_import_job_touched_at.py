from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0013_import_job"),
    ]

    operations = [
        migrations.AddField(
            model_name="importjob",
            name="touched_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
