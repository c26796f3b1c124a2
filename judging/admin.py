"""Admin for the machine annotator.

Settings (JudgeConfig) and the price table are edited here. The cached LLM records
(guidelines, image descriptions, judgments) and the jobs are read-only: they are made
only by judging.jobs, under cache keys a hand edit would silently contradict, and a
judgment is the record behind an append-only Label. Big tables show raw ids, name the
joins their changelists need, and skip the exact total count.
"""

from django.contrib import admin, messages
from django.db import models

from .jobs import judge_job_cancel
from .models import Guideline, ImageDescription, JudgeChunk, JudgeConfig, JudgeJob, Judgment, PrepFailure, Price


class ReadOnlyAdmin(admin.ModelAdmin):
    show_full_result_count = False
    list_per_page = 50

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(JudgeConfig)
class JudgeConfigAdmin(admin.ModelAdmin):
    list_display = ("project", "backend", "mode", "judge_model", "samples", "max_in_flight", "requests_per_minute")
    list_filter = ("backend", "mode")
    list_select_related = ("project",)
    search_fields = ("project__name",)
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fieldsets = (
        (None, {"fields": ("project", "backend", "mode")}),
        ("Endpoint", {"fields": ("base_url", "api_key_env")}),
        ("Models (empty: the environment's defaults)", {"fields": ("guideline_model", "vision_model", "judge_model")}),
        ("Confidence", {"fields": ("samples", "use_logprobs")}),
        (
            "Endpoint limits (empty: the environment's when a job starts)",
            {"fields": ("preset", "max_in_flight", "timeout", "max_tokens", "stop")},
        ),
        ("Throughput", {"fields": ("requests_per_minute", "tokens_per_minute")}),
    )


@admin.register(Price)
class PriceAdmin(admin.ModelAdmin):
    list_display = ("model", "input_per_million", "output_per_million")
    list_editable = ("input_per_million", "output_per_million")
    search_fields = ("model",)
    ordering = ("model",)


LLM_CALL_FIELDS = (
    "model",
    "prompt_version",
    "calls",
    "tokens_in",
    "tokens_out",
    "latency_ms",
    "cost_eur",
    "created_at",
    "cache_key",
)


@admin.register(Guideline)
class GuidelineAdmin(ReadOnlyAdmin):
    list_display = ("id", "query", "version", "model", "tokens_in", "tokens_out", "cost_eur", "created_at")
    list_filter = ("project",)
    list_select_related = ("query",)
    search_fields = ("=query__external_id", "query__text")
    raw_id_fields = ("project", "query", "job")
    fields = ("project", "query", "version", "text", "requirements", "tags", "job", *LLM_CALL_FIELDS, "raw_response")
    ordering = ("-id",)


@admin.register(ImageDescription)
class ImageDescriptionAdmin(ReadOnlyAdmin):
    list_display = ("id", "image", "model", "tokens_in", "tokens_out", "cost_eur", "created_at")
    list_select_related = ("image",)
    search_fields = ("=image__product__external_id",)
    raw_id_fields = ("image", "query_image", "job")
    fields = ("image", "query_image", "text", "job", *LLM_CALL_FIELDS, "raw_response")
    ordering = ("-id",)


@admin.register(PrepFailure)
class PrepFailureAdmin(ReadOnlyAdmin):
    list_display = ("id", "job", "step", "error", "model", "calls", "cost_eur", "created_at")
    list_filter = ("step",)
    search_fields = ("=job__id",)
    raw_id_fields = ("job", "query", "image")
    fields = ("job", "step", "query", "image", "error", *LLM_CALL_FIELDS, "raw_response")
    ordering = ("-id",)


@admin.register(JudgeJob)
class JudgeJobAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "description",
        "project",
        "status",
        "backend",
        "model",
        "total",
        "done",
        "failed",
        "cost_eur",
        "created_at",
    )
    list_filter = ("status", "backend", "project")
    list_select_related = ("project",)
    search_fields = ("description",)
    raw_id_fields = ("project", "run", "created_by")
    # pair_ids can hold a million ids and vocabulary the whole catalogue's terms: the
    # page shows their size instead.
    fields = (
        "project",
        "run",
        "description",
        "status",
        "error",
        "failures",
        "backend",
        "mode",
        "model",
        "config",
        "pair_count",
        "total",
        "done",
        "failed",
        "cached",
        "prep_done",
        "prep_total",
        "chunks_done",
        "chunks_total",
        "calls",
        "tokens_in",
        "tokens_out",
        "cost_eur",
        "on_done",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
    )
    readonly_fields = ("pair_count",)
    ordering = ("-id",)
    actions = ("cancel_jobs",)

    @admin.display(description="pairs")
    def pair_count(self, job):
        return len(job.pair_ids or [])

    def get_actions(self, request):
        # Read-only rows, but cancelling goes through the service, like the UI's button.
        actions = super().get_actions(request)
        if not request.user.has_perm("judging.change_judgejob"):
            actions.pop("cancel_jobs", None)
        return actions

    @admin.action(description="Cancel the selected queued or running jobs")
    def cancel_jobs(self, request, queryset):
        cancelled = sum(judge_job_cancel(job=job) for job in queryset.filter(status__in=JudgeJob.ACTIVE))
        self.message_user(request, f"{cancelled} job(s) cancelled.", messages.SUCCESS)


@admin.register(JudgeChunk)
class JudgeChunkAdmin(ReadOnlyAdmin):
    list_display = ("id", "job", "phase", "index", "done", "attempts", "judged", "cached", "failed")
    list_filter = ("phase", "done")
    list_select_related = ("job",)
    search_fields = ("=job__id",)
    raw_id_fields = ("job",)
    fields = ("job", "phase", "index", "item_count", "done", "attempts", "judged", "cached", "failed", "error")
    readonly_fields = ("item_count",)
    ordering = ("-id",)

    @admin.display(description="items")
    def item_count(self, chunk):
        return {key: len(values) for key, values in (chunk.items or {}).items()}


@admin.register(Judgment)
class JudgmentAdmin(ReadOnlyAdmin):
    list_display = ("id", "pair", "model", "mode", "status", "value", "confidence", "cost_eur", "created_at")
    list_filter = ("status", "mode", "backend", "project")
    list_select_related = ("pair",)
    search_fields = ("=pair__query__external_id", "=pair__product__external_id", "=model")
    raw_id_fields = ("project", "pair", "product", "guideline", "job", "label")
    fields = (
        "project",
        "pair",
        "product",
        "guideline",
        "job",
        "label",
        "backend",
        "mode",
        "status",
        "value",
        "confidence",
        "rationale",
        "requirements_met",
        "requirements_unmet",
        "samples",
        "error",
        *LLM_CALL_FIELDS,
        "raw_response",
    )
    ordering = ("-id",)
