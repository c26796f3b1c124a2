"""Read shapes of a project's data (the project, queries, products, pairs, labels) and
the query parameters that filter their lists."""

from django.urls import reverse
from rest_framework import serializers

from ...models import (
    GoldProvenance,
    Label,
    LabelSource,
    Pair,
    Product,
    ProductImage,
    Project,
    Query,
    QueryImage,
    ScaleLevel,
    SearchRun,
)
from ..base import IdField
from .common import TEXT_PARAM, ProductRefSerializer, QueryRefSerializer, RunScopedFilter


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
    rulebook = serializers.SerializerMethodField(
        help_text="The texts of the active rules (the rules themselves: /api/projects/<p>/rules/)."
    )
    counts = serializers.SerializerMethodField()

    class Meta(ProjectSerializer.Meta):
        fields = [*ProjectSerializer.Meta.fields, "rulebook", "scale", "counts"]

    def get_rulebook(self, project: Project) -> list[str]:
        return list(project.rules.filter(retired=False).order_by("rule_id").values_list("text", flat=True))

    def get_counts(self, project: Project) -> ProjectCountsSerializer:
        return self.context["counts"]


class QueryImageSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField(
        help_text="Where a stored reference image is served (members only); null for remote ones."
    )

    class Meta:
        model = QueryImage
        fields = ["id", "position", "status", "source", "width", "height", "url"]

    def get_url(self, image: QueryImage) -> str | None:
        if image.status != ProductImage.Status.STORED:
            return None
        return reverse("query_image", args=[image.id])


class QuerySerializer(serializers.ModelSerializer):
    conditions = serializers.JSONField(
        help_text='MERIT-style conditions in order: {"text": ...} or {"image": position of a reference image}; '
        "empty for a plain text query."
    )
    images = QueryImageSerializer(many=True, help_text="The query's reference images, by position.")

    class Meta:
        model = Query
        fields = ["id", "external_id", "text", "locale", "traffic", "tags", "conditions", "images", "created_at"]


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


class PairDetailSerializer(PairSerializer):
    labels = LabelSerializer(
        many=True,
        help_text="Every label of the pair, oldest first (append-only); empty unless the caller leads the project.",
    )

    class Meta(PairSerializer.Meta):
        fields = [*PairSerializer.Meta.fields, "labels"]


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
    # The stubs see Field.source (a serializer is a field); the metaclass moves a declared
    # field out of the class attributes, so this query parameter never replaces it.
    source = serializers.ChoiceField(  # type: ignore[assignment]
        choices=LabelSource.choices, required=False, help_text="llm or human."
    )
    pair = IdField(required=False, help_text="Only labels of this pair (id).")
    rater = serializers.CharField(
        required=False, max_length=TEXT_PARAM, help_text="Exact rater: a model name or a username."
    )

    def validate_pair(self, pk):
        return self._project_object(Pair, pk, "pair")
