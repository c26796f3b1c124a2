"""DRF serializers for judge jobs. Validation only: the job itself is made by
judging.jobs.judge_job_create."""

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from annotation.api.base import MAX_ID
from annotation.models import Project, SearchRun

from .models import JudgeJob, Mode
from .selectors import JobFigures

MAX_PAIR_IDS = 100_000
MICRO_EUR = Decimal("0.000001")  # the precision of the stored costs


@extend_schema_field({"oneOf": [{"type": "string", "minLength": 1}, {"type": "integer", "minimum": 1}]})
class RunReferenceField(serializers.Field):
    """A run of the project by name (string) or id (integer)."""

    default_error_messages = {
        "invalid": "Give the run's name (a string) or its id (an integer).",
        "unknown": "No run {run!r} in project {project}.",
    }

    def to_internal_value(self, data) -> SearchRun:
        project: Project = self.context["project"]
        runs = SearchRun.objects.filter(project=project)
        if isinstance(data, bool) or not isinstance(data, int | str):
            self.fail("invalid")
        if isinstance(data, int):
            run = runs.filter(id=data).first() if 0 < data <= MAX_ID else None
        elif "\x00" in data:
            self.fail("invalid")  # PostgreSQL cannot even compare a string holding NUL
        else:
            run = runs.filter(name=data).first()
        if run is None:
            self.fail("unknown", run=data, project=project.name)
        return run

    def to_representation(self, value):
        return value.name


class JudgeJobCreateSerializer(serializers.Serializer):
    run = RunReferenceField(required=False)
    pair_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        allow_empty=False,
        max_length=MAX_PAIR_IDS,
    )
    mode = serializers.ChoiceField(choices=Mode.choices, required=False)
    holes_only = serializers.BooleanField(default=True)

    def validate(self, attrs):
        if ("run" in attrs) == ("pair_ids" in attrs):
            raise serializers.ValidationError("Give either a run or a list of pair_ids.")
        return attrs


class JudgeJobSerializer(serializers.ModelSerializer):
    """A job with its live figures: calls, tokens and cost come from the `figures`
    context mapping (job id → JobFigures), which the view computes for the whole page."""

    run = serializers.SerializerMethodField()
    calls = serializers.SerializerMethodField()
    tokens_in = serializers.SerializerMethodField()
    tokens_out = serializers.SerializerMethodField()
    cost_eur = serializers.SerializerMethodField()
    eta_seconds = serializers.SerializerMethodField()

    class Meta:
        model = JudgeJob
        fields = [
            "id",
            "description",
            "status",
            "run",
            "backend",
            "model",
            "mode",
            "total",
            "done",
            "failed",
            "cached",
            "calls",
            "tokens_in",
            "tokens_out",
            "cost_eur",
            "created_at",
            "started_at",
            "finished_at",
            "eta_seconds",
            "error",
            "failures",
        ]
        read_only_fields = fields

    def _figures(self, job: JudgeJob) -> JobFigures:
        return self.context["figures"][job.id]

    def get_run(self, job: JudgeJob) -> dict | None:
        return None if job.run is None else {"id": job.run.id, "name": job.run.name}

    def get_calls(self, job: JudgeJob) -> int:
        return self._figures(job).calls

    def get_tokens_in(self, job: JudgeJob) -> int:
        return self._figures(job).tokens_in

    def get_tokens_out(self, job: JudgeJob) -> int:
        return self._figures(job).tokens_out

    def get_cost_eur(self, job: JudgeJob) -> str:
        # A string, as DRF renders decimals: a float would round money.
        return str(self._figures(job).cost_eur.quantize(MICRO_EUR))

    def get_eta_seconds(self, job: JudgeJob) -> int | None:
        return self._figures(job).eta_seconds
