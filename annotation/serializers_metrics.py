"""Response shapes of run metrics and comparisons, for the schema: the views return
annotation.metrics / comparison `to_dict()` output, which these fields describe."""

from rest_framework import serializers

from .metrics import METRICS


class MeanSerializer(serializers.Serializer):
    value = serializers.FloatField(allow_null=True)
    queries = serializers.IntegerField(
        help_text="How many queries the mean is over (those where the figure is defined)."
    )


class QueryMetricsSerializer(serializers.Serializer):
    query_id = serializers.CharField()
    query = serializers.CharField()
    traffic = serializers.IntegerField()
    k = serializers.IntegerField()
    retrieved = serializers.IntegerField()
    retrieved_at_k = serializers.IntegerField()
    judged_at_k = serializers.IntegerField()
    relevant_at_k = serializers.IntegerField()
    irrelevant_at_k = serializers.IntegerField()
    judged_total = serializers.IntegerField()
    relevant_total = serializers.IntegerField()
    first_relevant = serializers.IntegerField(allow_null=True)
    ndcg = serializers.FloatField(allow_null=True)
    precision = serializers.FloatField(allow_null=True)
    irrelevant = serializers.FloatField(allow_null=True)
    recall = serializers.FloatField(allow_null=True)
    mrr = serializers.FloatField(allow_null=True)
    coverage = serializers.FloatField(allow_null=True)


class RunMetricsSerializer(serializers.Serializer):
    run = serializers.CharField()
    k = serializers.IntegerField()
    label_source = serializers.CharField()
    provisional = serializers.BooleanField()
    relevant_min_value = serializers.IntegerField()
    irrelevant_value = serializers.IntegerField()
    queries = serializers.IntegerField()
    unjudged_queries = serializers.IntegerField()
    coverage = serializers.FloatField(allow_null=True)
    holes = serializers.IntegerField()
    means = serializers.DictField(child=MeanSerializer(), help_text=f"One entry per metric: {', '.join(METRICS)}.")
    notes = serializers.ListField(child=serializers.CharField())
    per_query = QueryMetricsSerializer(many=True, required=False, help_text="Only with ?per_query=true.")


class QueryDeltaSerializer(serializers.Serializer):
    query_id = serializers.CharField()
    query = serializers.CharField()
    traffic = serializers.IntegerField()
    a = serializers.FloatField()
    b = serializers.FloatField()
    delta = serializers.FloatField()


class ComparisonSerializer(serializers.Serializer):
    metric = serializers.CharField()
    run_a = serializers.CharField(help_text="The baseline.")
    run_b = serializers.CharField()
    queries = serializers.IntegerField(help_text="Paired queries.")
    mean_a = serializers.FloatField(allow_null=True)
    mean_b = serializers.FloatField(allow_null=True)
    mean_delta = serializers.FloatField(allow_null=True)
    ci = serializers.ListField(
        child=serializers.FloatField(), allow_null=True, help_text="Paired bootstrap interval of the mean delta."
    )
    confidence = serializers.FloatField()
    significant = serializers.BooleanField()
    wins = serializers.IntegerField()
    ties = serializers.IntegerField()
    losses = serializers.IntegerField()
    only_in_a = serializers.IntegerField()
    only_in_b = serializers.IntegerField()
    undefined = serializers.IntegerField()
    worsened = QueryDeltaSerializer(many=True)
    improved = QueryDeltaSerializer(many=True)
    notes = serializers.ListField(child=serializers.CharField())
