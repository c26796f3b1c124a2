"""Admin for the review side. Policy versions are immutable once saved: every routing
decision and gold label records the version it was made under."""

from typing import Any

from django import forms
from django.contrib import admin
from django.db import models, transaction
from django.db.models import Max

from .forms import KeywordsField, SegmentsField
from .models import DisagreementTag, ReviewTask, RoutingPolicy, TaskSkip

# Added with the dashboard: a form that leaves them out gets the model's default.
DEFAULTED = ("target_alpha", "min_segment_n", "hourly_rate")


class RoutingPolicyForm(forms.ModelForm):
    # A JSON list typed as comma-separated words (an empty JSON field would be null).
    style_keywords = KeywordsField(required=False, max_length=5000)
    route_segments = SegmentsField(required=False, max_length=20000)

    class Meta:
        model = RoutingPolicy
        fields = "__all__"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in DEFAULTED:
            if name in self.fields:
                self.fields[name].required = False

    def clean(self) -> dict[str, Any]:
        super().clean()  # returns self.cleaned_data (typed Optional for overrides)
        data = self.cleaned_data
        for name in DEFAULTED:
            if data.get(name) is None and name not in self.errors:
                field = RoutingPolicy._meta.get_field(name)
                if not isinstance(field, models.Field):  # DEFAULTED names columns, not relations
                    raise TypeError(f"RoutingPolicy.{name} is not a column")
                data[name] = field.get_default()
        return data


@admin.register(RoutingPolicy)
class RoutingPolicyAdmin(admin.ModelAdmin):
    form = RoutingPolicyForm
    list_display = (
        "project",
        "version",
        "min_confidence",
        "audit_rate",
        "humans_per_pair",
        "adjudicate_human_vs_llm",
        "created_by",
        "created_at",
    )
    list_filter = ("project",)
    list_select_related = ("project", "created_by")
    ordering = ("project", "-version")

    def get_exclude(self, request, obj=None):
        # The version number and author are set on save, never typed in.
        return ("version", "created_by") if obj is None else ()

    def has_change_permission(self, request, obj=None):
        # A saved version is shown read-only; a change is a new version (added here or
        # on the project's routing policy page).
        return False

    def save_model(self, request, obj, form, change):
        with transaction.atomic():
            latest = (
                RoutingPolicy.objects.select_for_update().filter(project=obj.project).aggregate(v=Max("version"))["v"]
                or 0
            )
            obj.version = latest + 1
            obj.created_by = request.user
            obj.save()

    def has_delete_permission(self, request, obj=None):
        return False


class TaskSkipInline(admin.TabularInline):
    model = TaskSkip
    extra = 0
    can_delete = False
    fields = readonly_fields = ("user", "created_at")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ReviewTask)
class ReviewTaskAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "project",
        "kind",
        "reason",
        "status",
        "slot",
        "priority",
        "blind",
        "claimed_by",
        "lease_expires_at",
    )
    list_filter = ("project", "kind", "status", "reason", "blind")
    list_select_related = ("project", "claimed_by")
    search_fields = ("=id", "=pair__id", "claimed_by__username")
    raw_id_fields = ("pair", "claimed_by", "label")
    readonly_fields = ("created_at", "completed_at", "time_spent_ms", "policy_version")
    show_full_result_count = False
    list_per_page = 50
    inlines = (TaskSkipInline,)


@admin.register(TaskSkip)
class TaskSkipAdmin(admin.ModelAdmin):
    list_display = ("task", "user", "created_at")
    list_select_related = ("task", "user")
    raw_id_fields = ("task", "user")
    search_fields = ("=task__id", "user__username")
    readonly_fields = ("created_at",)


@admin.register(DisagreementTag)
class DisagreementTagAdmin(admin.ModelAdmin):
    list_display = ("pair", "project", "category", "tagged_by", "tagged_at")
    list_filter = ("project", "category")
    raw_id_fields = ("pair", "tagged_by")
    list_select_related = ("project", "tagged_by")
