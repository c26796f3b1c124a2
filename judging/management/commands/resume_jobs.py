"""Enqueue again the unfinished work of judge jobs that have gone silent (their queued
messages were lost, e.g. in a broker restart). Celery beat runs the same check every few
minutes; this is the manual way, for operators and cron."""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from judging.watchdog import judge_jobs_resume_report


class Command(BaseCommand):
    help = "Resume judge jobs with no sign of life for a while (default QRELAY_JUDGE_STALL_SECONDS)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--stall-minutes", type=float, help="silence that counts as stalled (default from the settings)"
        )

    def handle(self, *args, stall_minutes=None, **options):
        if stall_minutes is not None and stall_minutes <= 0:
            raise CommandError("--stall-minutes must be positive")
        stall = timedelta(minutes=stall_minutes) if stall_minutes is not None else None
        report = judge_jobs_resume_report(stall=stall)
        resumed = [entry.job_id for entry in report if not entry.error]
        failed = [entry for entry in report if entry.error]
        if resumed:
            self.stdout.write(f"resumed {len(resumed)} job(s): {', '.join(map(str, resumed))}")
        elif not failed:
            self.stdout.write("no stalled judge jobs (or work still waits in the broker)")
        for entry in failed:
            self.stderr.write(f"job {entry.job_id} could not be resumed: {entry.error}")
        if failed:
            raise CommandError(f"{len(failed)} job(s) could not be resumed: {', '.join(str(e.job_id) for e in failed)}")
