"""DRF serializers of annotation data: read shapes, validated query parameters and
request bodies. Validation only; writes go through annotation.services and importers."""

from django.urls import reverse
from rest_framework import serializers

from .api_base import IdField
from .importers.reading import FORMATS
from .metrics import LABEL_SOURCES, METRICS
from .models import (
    GoldProvenance,
    Label,
    LabelSource,
    Pair,
    Product,
    ProductImage,
    Project,
    Query,
    ScaleLevel,
    SearchResult,
    SearchRun,
)

TEXT_PARAM = 200  # longest search text or name accepted in a query parameter


# --- read shapes ---------------------------------------------------------------------------


class ScaleLevelSerializer(serializers.ModelSerializer):
    class Meta:
        model = ScaleLevel
        fields = ["value", "name", "gain"]


class ProjectSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField(help_text="The caller's role in the project.")

    class Meta:
        model = Project
        fields = ["id", "name", "description", "scale_name", "locales", "role", "created_at"]

    def get_role(self, project: Project) -> str | None:
        return self.context.get("roles", {}).get(project.id)


class ProjectCountsSerializer(serializers.Serializer):
    queries = serializers.IntegerField()
    products = serializers.IntegerField()
    pairs = serializers.IntegerField()
    runs = serializers.IntegerField()
    labels = serializers.IntegerField()
    gold_pairs = serializers.IntegerField()


class ProjectDetailSerializer(ProjectSerializer):
    scale = ScaleLevelSerializer(source="levels", many=True)
    rulebook = serializers.JSONField()
    counts = serializers.SerializerMethodField()

    class Meta(ProjectSerializer.Meta):
        fields = [*ProjectSerializer.Meta.fields, "rulebook", "scale", "counts"]

    def get_counts(self, project: Project) -> ProjectCountsSerializer:
        return self.context["counts"]


class QuerySerializer(serializers.ModelSerializer):
    class Meta:
        model = Query
        fields = ["id", "external_id", "text", "locale", "traffic", "tags", "created_at"]


class ProductImageSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField(
        help_text="Where a stored image is served (members only); null for remote ones."
    )

    class Meta:
        model = ProductImage
        fields = ["id", "position", "status", "source", "width", "height", "url"]

    def get_url(self, image: ProductImage) -> str | None:
        if image.status != ProductImage.Status.STORED:
            return None
        return reverse("product_image", args=[image.id])


class ProductSerializer(serializers.ModelSerializer):
    images = ProductImageSerializer(many=True)

    class Meta:
        model = Product
        fields = [
            "id",
            "external_id",
            "title",
            "brand",
            "category",
            "description",
            "attributes",
            "content_hash",
            "images",
            "created_at",
            "updated_at",
        ]


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


class QueryRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField()
    text = serializers.CharField()


class ProductRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField()
    title = serializers.CharField()


class ResultSerializer(serializers.ModelSerializer):
    query = QueryRefSerializer()
    product = ProductRefSerializer()

    class Meta:
        model = SearchResult
        fields = ["id", "query", "product", "pair", "rank", "score"]


class PairSerializer(serializers.ModelSerializer):
    query = QueryRefSerializer()
    product = ProductRefSerializer()
    gold_name = serializers.SerializerMethodField(help_text="The name of the gold label in the project's scale.")

    class Meta:
        model = Pair
        fields = [
            "id",
            "query",
            "product",
            "gold_value",
            "gold_name",
            "gold_provenance",
            "gold_policy_version",
            "gold_updated_at",
            "created_at",
        ]

    def get_gold_name(self, pair: Pair) -> str | None:
        return None if pair.gold_value is None else self.context["level_names"].get(pair.gold_value)


class LabelSerializer(serializers.ModelSerializer):
    value_name = serializers.SerializerMethodField()

    class Meta:
        model = Label
        fields = [
            "id",
            "pair",
            "source",
            "rater",
            "value",
            "value_name",
            "confidence",
            "rationale",
            "guideline_version",
            "created_at",
        ]

    def get_value_name(self, label: Label) -> str | None:
        return self.context["level_names"].get(label.value)


# --- query parameters -------------------------------------------------------------------------


class QueryFilter(serializers.Serializer):
    search = serializers.CharField(
        required=False, max_length=TEXT_PARAM, help_text="Text contains (any case), or the exact query id."
    )
    locale = serializers.CharField(
        required=False, allow_blank=True, max_length=20, help_text="Exact locale; empty for none."
    )
    tag = serializers.CharField(required=False, max_length=TEXT_PARAM, help_text="Queries carrying this tag.")


class ProductFilter(serializers.Serializer):
    search = serializers.CharField(
        required=False, max_length=TEXT_PARAM, help_text="Title contains (any case), or the exact product id."
    )
    brand = serializers.CharField(
        required=False, allow_blank=True, max_length=TEXT_PARAM, help_text="Exact brand (any case)."
    )
    category = serializers.CharField(
        required=False, allow_blank=True, max_length=TEXT_PARAM, help_text="Exact category."
    )


class RunScopedFilter(serializers.Serializer):
    """Parameters naming objects of the project by id; an id of another project is a 400."""

    def _project_object(self, model, pk: int | None, what: str):
        if pk is None:
            return None
        obj = model.objects.filter(project=self.context["project"], pk=pk).first()
        if obj is None:
            raise serializers.ValidationError(f"No {what} {pk} in this project.")
        return obj


class PairFilter(RunScopedFilter):
    run = IdField(required=False, help_text="Only pairs with a result in this run (id).")
    query = IdField(required=False, help_text="Only pairs of this query (id).")
    product = IdField(required=False, help_text="Only pairs of this product (id).")
    has_gold = serializers.BooleanField(
        required=False, allow_null=True, default=None, help_text="true: with gold; false: without."
    )
    provenance = serializers.ChoiceField(
        choices=GoldProvenance.choices, required=False, help_text="Gold of this provenance."
    )

    def validate_run(self, pk):
        return self._project_object(SearchRun, pk, "run")

    def validate_query(self, pk):
        return self._project_object(Query, pk, "query")

    def validate_product(self, pk):
        return self._project_object(Product, pk, "product")


class LabelFilter(RunScopedFilter):
    source = serializers.ChoiceField(choices=LabelSource.choices, required=False, help_text="llm or human.")
    pair = IdField(required=False, help_text="Only labels of this pair (id).")
    rater = serializers.CharField(
        required=False, max_length=TEXT_PARAM, help_text="Exact rater: a model name or a username."
    )

    def validate_pair(self, pk):
        return self._project_object(Pair, pk, "pair")


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


GOLD_EXPORT_FORMATS = ("csv", "jsonl", "qrels")


class GoldExportParams(serializers.Serializer):
    format = serializers.ChoiceField(choices=GOLD_EXPORT_FORMATS, required=False, default="csv")


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


# --- uploads --------------------------------------------------------------------------------


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
