"""DRF serializers of the review API: query parameters and response shapes (for the
schema). Validation only: the figures come from reviews.selectors, services and agreement."""

from rest_framework import serializers

from reviews.agreement import BY_CHOICES, LEVELS

SEGMENT_CHOICES = tuple(by for by in BY_CHOICES if by != "annotator")
# Each replicate recomputes every figure; past a few thousand the CIs barely move while
# the request grows long (the `agreement` command takes any --boot).
MAX_BOOT = 2000


class ReasonCountSerializer(serializers.Serializer):
    reason = serializers.CharField()
    name = serializers.CharField()
    count = serializers.IntegerField()


class QueueSerializer(serializers.Serializer):
    total = serializers.IntegerField(help_text="Tasks waiting: open, or claimed with the lease run out.")
    by_reason = ReasonCountSerializer(many=True)


class ReviewStatsSerializer(serializers.Serializer):
    label_queue = QueueSerializer()
    adjudication_queue = serializers.IntegerField(allow_null=True, help_text="Leads only; null for annotators.")
    flagged = serializers.IntegerField(allow_null=True, help_text="Leads only; null for annotators.")
    labels_today = serializers.IntegerField(help_text="The caller's human labels since midnight.")
    policy_version = serializers.IntegerField(help_text="The current routing policy's version.")


class RunStatusSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    judged = serializers.IntegerField()
    unjudged = serializers.IntegerField()
    in_review = serializers.IntegerField()
    gold = serializers.DictField(child=serializers.IntegerField(), help_text="Gold pairs per provenance.")
    active_job = serializers.IntegerField(allow_null=True, help_text="The id of an active judging job of the run.")


class AgreementParams(serializers.Serializer):
    level = serializers.ChoiceField(
        choices=LEVELS, required=False, help_text="Level of measurement; default ordinal for graded scales."
    )
    boot = serializers.IntegerField(
        required=False, default=1000, min_value=0, max_value=MAX_BOOT, help_text="Bootstrap replicates (0: no CIs)."
    )
    seed = serializers.IntegerField(required=False, default=0, min_value=0, max_value=2**32 - 1)
    fresh = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Recompute now instead of using the cached figures (stale after 5 minutes or a new label).",
    )


class SegmentParams(AgreementParams):
    by = serializers.ChoiceField(choices=SEGMENT_CHOICES)
    limit = serializers.IntegerField(
        required=False, default=50, min_value=1, max_value=1000, help_text="Largest segments shown."
    )


class AgreementSerializer(serializers.Serializer):
    computed_at = serializers.DateTimeField()
    compute_seconds = serializers.FloatField()
    result = serializers.JSONField(
        help_text="The figures as the `agreement --json` command prints them: each figure is {value, ci, n, reason}."
    )
