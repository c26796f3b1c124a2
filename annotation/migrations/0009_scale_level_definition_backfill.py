"""Projects made from a built-in scale get its one-line definitions, where a level still
has the built-in name and no definition of its own."""

from django.db import migrations


def backfill(apps, schema_editor):
    from annotation.scales import BUILTIN_SCALES

    ScaleLevel = apps.get_model("annotation", "ScaleLevel")
    for scale_name, levels in BUILTIN_SCALES.items():
        for level in levels:
            if level.definition:
                ScaleLevel.objects.filter(
                    project__scale_name=scale_name, value=level.value, name=level.name, definition=""
                ).update(definition=level.definition)


class Migration(migrations.Migration):
    dependencies = [("annotation", "0008_scale_level_definition")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
