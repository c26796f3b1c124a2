from django.db import migrations, models
from django.db.models import Count, Q
from django.utils import timezone


def cancel_duplicate_active_jobs(apps, schema_editor):
    """The index cannot be built over runs that already have two active jobs: keep each
    run's oldest one and cancel the newer ones (their chunks stop, what they paid for
    stays), saying why."""
    JudgeJob = apps.get_model("judging", "JudgeJob")
    active = JudgeJob.objects.filter(run__isnull=False, status__in=["queued", "running"])
    doubled = active.values("run").annotate(n=Count("id")).filter(n__gt=1).values_list("run", flat=True)
    for run_id in list(doubled):
        keep = active.filter(run_id=run_id).order_by("created_at", "id").first()
        active.filter(run_id=run_id).exclude(id=keep.id).update(
            status="cancelled", finished_at=timezone.now(), error=f"cancelled: job {keep.id} judges the same run"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("judging", "0002_judgechunk_touched_at"),
    ]

    operations = [
        migrations.RunPython(cancel_duplicate_active_jobs, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="judgejob",
            constraint=models.UniqueConstraint(
                condition=Q(("status__in", ["queued", "running"])), fields=("run",), name="judgejob_one_active_per_run"
            ),
        ),
    ]
