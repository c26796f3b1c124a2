"""Files in and out: the parameters of the exports, the upload bodies and what an
import answers (its summary, or every problem found)."""

from rest_framework import serializers

from ...importers.reading import FORMATS
from ...models import GoldProvenance
from .common import TEXT_PARAM

GOLD_EXPORT_FORMATS = ("csv", "jsonl", "qrels")


class GoldExportParams(serializers.Serializer):
    format = serializers.ChoiceField(choices=GOLD_EXPORT_FORMATS, required=False, default="csv")
    run = serializers.IntegerField(required=False, min_value=1, help_text="Only the pairs of this run (its id).")
    provenance = serializers.CharField(
        required=False,
        max_length=TEXT_PARAM,
        help_text=f"Only gold of these provenances, comma-separated: {', '.join(GoldProvenance.values)}.",
    )
    human_only = serializers.BooleanField(required=False, default=False, help_text="Leave out llm-auto gold.")
    excel = serializers.BooleanField(
        required=False, default=False, help_text="csv only: start with a UTF-8 byte-order mark, for Excel."
    )

    def validate_provenance(self, value: str) -> tuple[str, ...]:
        names = tuple(sorted({name.strip() for name in value.split(",") if name.strip()}))
        unknown = [name for name in names if name not in GoldProvenance.values]
        if unknown:
            raise serializers.ValidationError(f"unknown provenance {', '.join(unknown)}")
        return names


class RunExportParams(serializers.Serializer):
    scores = serializers.ChoiceField(
        choices=("auto", "rank"),
        required=False,
        default="auto",
        help_text="rank: scores from positions for every query.",
    )
    tag = serializers.CharField(
        required=False, max_length=TEXT_PARAM, help_text="The run tag column; default: the run's name."
    )


class UploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="CSV (.csv/.tsv), JSONL (.jsonl) or TREC (.run/.trec/.txt/.qrels).")
    format = serializers.ChoiceField(
        choices=FORMATS, required=False, help_text="The file format; by default taken from the file name's extension."
    )


class LabelUploadSerializer(UploadSerializer):
    rater = serializers.CharField(
        required=False, max_length=200, help_text="The rater of every row (else a rater column)."
    )
    gold = serializers.BooleanField(
        required=False, default=False, help_text="Also make the labels the pairs' gold (imported)."
    )


class ImportSummarySerializer(serializers.Serializer):
    file = serializers.CharField()
    rows = serializers.IntegerField()
    counts = serializers.DictField(child=serializers.JSONField())
    notes = serializers.ListField(child=serializers.CharField())


class ImportProblemSerializer(serializers.Serializer):
    file = serializers.CharField()
    line = serializers.IntegerField(allow_null=True)
    column = serializers.CharField(allow_null=True)
    message = serializers.CharField()


class ImportErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    problems = ImportProblemSerializer(many=True)


class ImportJobSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    status = serializers.CharField(help_text="queued, running, done or failed.")
    file_name = serializers.CharField()
    size = serializers.IntegerField()
    rows_done = serializers.IntegerField(help_text="Rows read so far.")
    summary = serializers.JSONField(help_text="When done: file, rows, counts, notes.")
    problems = ImportProblemSerializer(many=True, help_text="When failed: the first 1000 problems.")
    problem_count = serializers.IntegerField()
    error = serializers.CharField(help_text="When failed other than by the file's problems.")
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
