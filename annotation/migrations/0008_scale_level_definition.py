from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("annotation", "0007_label_writes")]

    operations = [
        migrations.AddField(
            model_name="scalelevel",
            name="definition",
            field=models.CharField(blank=True, default="", max_length=200),
        ),
    ]
