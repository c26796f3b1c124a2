"""Each string of a project's old `rulebook` list becomes a universal rule R1, R2, …"""

from django.db import migrations


def forwards(apps, schema_editor):
    Project = apps.get_model("annotation", "Project")
    Rule = apps.get_model("annotation", "Rule")
    for project in Project.objects.exclude(rulebook=[]).iterator():
        texts = [str(text).strip() for text in project.rulebook or [] if str(text).strip()]
        Rule.objects.bulk_create(
            [Rule(project=project, rule_id=f"R{n}", text=text) for n, text in enumerate(texts, start=1)],
            ignore_conflicts=True,
        )


def backwards(apps, schema_editor):
    Project = apps.get_model("annotation", "Project")
    Rule = apps.get_model("annotation", "Rule")
    for project in Project.objects.all().iterator():
        project.rulebook = list(Rule.objects.filter(project=project, retired=False).values_list("text", flat=True))
        project.save(update_fields=["rulebook"])


class Migration(migrations.Migration):
    dependencies = [("annotation", "0010_rule_book")]

    operations = [migrations.RunPython(forwards, backwards)]
