"""Admin for the data under evaluation.

Queries, products, pairs, results and labels reach millions of rows: their foreign keys
are raw ids (no <select> with every row), the joins a changelist needs are named
explicitly, and the exact total count is skipped.
"""

from typing import Any

from django import forms
from django.contrib import admin

from .models import (
    Label,
    Membership,
    MetricSnapshot,
    Pair,
    Product,
    ProductImage,
    Project,
    Query,
    RepeatSchedule,
    ScaleLevel,
    SearchConnector,
    SearchResult,
    SearchRun,
)


class BigTableAdmin(admin.ModelAdmin):
    show_full_result_count = False
    list_per_page = 50


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ("user",)


class ScaleLevelInline(admin.TabularInline):
    model = ScaleLevel
    extra = 0


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("name", "scale_name", "created_at")
    search_fields = ("name",)
    readonly_fields = ("created_at",)
    inlines = (ScaleLevelInline, MembershipInline)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "project", "role")
    list_filter = ("role", "project")
    list_select_related = ("user", "project")
    search_fields = ("user__username", "project__name")
    raw_id_fields = ("user",)


@admin.register(ScaleLevel)
class ScaleLevelAdmin(admin.ModelAdmin):
    list_display = ("project", "value", "name", "gain")
    list_filter = ("project",)
    list_select_related = ("project",)


@admin.register(Query)
class QueryAdmin(BigTableAdmin):
    list_display = ("text", "external_id", "project", "locale", "traffic")
    list_filter = ("project",)
    list_select_related = ("project",)
    search_fields = ("=external_id", "text")
    readonly_fields = ("created_at",)


class ProductImageInline(admin.TabularInline):
    # Stored images come only from the importer, which validates and re-encodes them
    # and picks the file name; the admin must not point a row at another file.
    model = ProductImage
    extra = 0
    can_delete = False
    fields = readonly_fields = ("position", "status", "source", "stored_name", "sha256", "width", "height")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Product)
class ProductAdmin(BigTableAdmin):
    list_display = ("title", "external_id", "brand", "category", "project")
    list_filter = ("project",)
    list_select_related = ("project",)
    search_fields = ("=external_id", "title", "=brand")
    # Recomputed by the importer from the product's content; editing it by hand would
    # break the cache of LLM work about the product.
    readonly_fields = ("content_hash", "created_at", "updated_at")
    inlines = (ProductImageInline,)


@admin.register(ProductImage)
class ProductImageAdmin(BigTableAdmin):
    list_display = ("id", "product", "position", "status", "width", "height")
    list_filter = ("status",)
    list_select_related = ("product",)
    search_fields = ("=product__external_id", "=sha256")
    readonly_fields = ("product", "position", "source", "status", "stored_name", "sha256", "width", "height")

    def has_add_permission(self, request):
        return False


@admin.register(SearchRun)
class SearchRunAdmin(admin.ModelAdmin):
    list_display = ("name", "project", "created_at")
    list_filter = ("project",)
    list_select_related = ("project",)
    search_fields = ("name",)
    readonly_fields = ("created_at",)


@admin.register(SearchResult)
class SearchResultAdmin(BigTableAdmin):
    list_display = ("id", "run", "query", "rank", "product", "score")
    list_filter = ("run",)
    list_select_related = ("run", "query", "product")
    search_fields = ("=query__external_id", "=product__external_id")
    raw_id_fields = ("run", "query", "product", "pair")


@admin.register(Pair)
class PairAdmin(BigTableAdmin):
    list_display = ("id", "query", "product", "gold_value", "gold_provenance", "project")
    list_filter = ("project", "gold_provenance")
    list_select_related = ("project", "query", "product")
    search_fields = ("=query__external_id", "=product__external_id")
    raw_id_fields = ("query", "product")
    readonly_fields = ("created_at",)


class LabelAdminForm(forms.ModelForm):
    class Meta:
        model = Label
        fields = "__all__"

    def clean(self) -> dict[str, Any]:
        # The database checks these too, but only at commit (deferred foreign keys),
        # which would surface as a server error instead of a form error.
        super().clean()  # returns self.cleaned_data (typed Optional for overrides)
        cleaned = self.cleaned_data
        project, pair, value = cleaned.get("project"), cleaned.get("pair"), cleaned.get("value")
        if project and pair and pair.project_id != project.id:
            self.add_error("pair", "This pair belongs to another project.")
        if project and value is not None and not project.levels.filter(value=value).exists():
            self.add_error("value", "This value is not on the project's scale.")
        return cleaned


@admin.register(Label)
class LabelAdmin(BigTableAdmin):
    """Append-only: a correction is a new label, so existing rows cannot be changed or
    deleted here (which also keeps the admin from cascading over them)."""

    form = LabelAdminForm
    list_display = ("id", "pair", "query_text", "product_title", "source", "rater", "value", "confidence", "created_at")
    list_filter = ("source", "project")
    list_select_related = ("project", "pair__query", "pair__product")
    search_fields = ("=rater",)
    raw_id_fields = ("pair", "user")
    ordering = ("-id",)

    @admin.display(description="query")
    def query_text(self, label):
        return label.pair.query.text

    @admin.display(description="product")
    def product_title(self, label):
        return label.pair.product.title

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SearchConnector)
class SearchConnectorAdmin(admin.ModelAdmin):
    list_display = ("name", "project", "preset", "base_url", "k", "timeout_seconds")
    list_filter = ("preset", "project")
    list_select_related = ("project",)
    search_fields = ("name", "base_url")


@admin.register(RepeatSchedule)
class RepeatScheduleAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "connector",
        "top_n",
        "k",
        "interval_minutes",
        "margin",
        "enabled",
        "next_run_at",
        "last_run_at",
    )
    list_filter = ("enabled",)
    list_select_related = ("connector",)


@admin.register(MetricSnapshot)
class MetricSnapshotAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "schedule",
        "created_at",
        "status",
        "ndcg",
        "previous_ndcg",
        "regression",
        "coverage",
        "run_name",
    )
    list_filter = ("status", "regression")
    list_select_related = ("schedule__connector",)
    raw_id_fields = ("schedule", "run")
    # The history is written by the cycle, not by hand.
    readonly_fields = [f.name for f in MetricSnapshot._meta.fields if f.name != "id"]
