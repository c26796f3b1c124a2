"""Runs: their read shapes, the body that creates one, the parameters of results,
metrics and comparisons, and the response shapes of metrics and comparisons (for the
schema: the views return annotation.metrics / comparison `to_dict()` output, which
these fields describe)."""

from rest_framework import serializers

from ...metrics import LABEL_SOURCES, METRICS
from ...models import Query, SearchResult, SearchRun
from ..base import IdField
from .common import ProductRefSerializer, QueryRefSerializer, RunScopedFilter


class RunSerializer(serializers.ModelSerializer):
    result_count = serializers.IntegerField(read_only=True)
    query_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = SearchRun
        fields = ["id", "name", "description", "created_at", "result_count", "query_count"]


class RunCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=SearchRun._meta.get_field("name").max_length)
    description = serializers.CharField(required=False, default="", allow_blank=True, max_length=10_000)

    def validate_name(self, name: str) -> str:
        if SearchRun.objects.filter(project=self.context["project"], name=name).exists():
            raise serializers.ValidationError(f"The project has a run named {name!r} already.")
        return name


class ResultSerializer(serializers.ModelSerializer):
    query = QueryRefSerializer()
    product = ProductRefSerializer()

    class Meta:
        model = SearchResult
        fields = ["id", "query", "product", "pair", "rank", "score"]


class ResultFilter(RunScopedFilter):
    query = IdField(required=False, help_text="Only the results of this query (id).")

    def validate_query(self, pk):
        return self._project_object(Query, pk, "query")


class MetricsParams(serializers.Serializer):
    k = serializers.IntegerField(required=False, default=10, min_value=1, max_value=1000, help_text="Cut-off.")
    labels = serializers.ChoiceField(
        choices=LABEL_SOURCES,
        required=False,
        default="gold",
        help_text="gold, or the newest llm/human/any label (provisional).",
    )
    relevant_min = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=32767,
        help_text="Lowest label value that counts as relevant; default: lowest positive gain.",
    )
    per_query = serializers.BooleanField(required=False, default=False, help_text="Include one row per query.")


class CompareParams(MetricsParams, RunScopedFilter):
    baseline = IdField(help_text="The baseline run (id); delta = this run − baseline.")
    metric = serializers.ChoiceField(choices=METRICS, required=False, default="ndcg")
    seed = serializers.IntegerField(
        required=False, default=0, min_value=0, max_value=2**32 - 1, help_text="Bootstrap seed."
    )
    top = serializers.IntegerField(
        required=False, default=10, min_value=0, max_value=1000, help_text="Most worsened/improved queries listed."
    )

    def validate_baseline(self, pk):
        return self._project_object(SearchRun, pk, "run")


# --- response shapes of metrics and comparisons ------------------------------------------


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


class LocaleRecallSerializer(serializers.Serializer):
    locale = serializers.CharField()
    queries = serializers.IntegerField(help_text="Queries with a relevant judged pair: what the figures are over.")
    unanswerable = serializers.IntegerField()
    recall_at_1 = serializers.FloatField(allow_null=True)
    recall_at_5 = serializers.FloatField(allow_null=True)
    recall_at_10 = serializers.FloatField(allow_null=True)
    mrr = serializers.FloatField(allow_null=True)


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
    by_locale = LocaleRecallSerializer(many=True, help_text="Recall@1/5/10 and MRR (MERIT) per locale, then 'all'.")


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
