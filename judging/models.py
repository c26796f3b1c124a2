"""The machine annotator's records: settings per project, guidelines, image descriptions,
judgments, jobs and prices.

Every LLM step is cached under a `cache_key` (a hash of model, prompt version, mode and
inputs) with a unique constraint, so repeating a step never calls the LLM again and a
re-delivered Celery task finds its results instead of duplicating them.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from annotation.models import Label, Pair, Product, ProductImage, Project, Query, QueryImage, SearchRun

from .endpoint_rules import endpoint_problem


class Backend(models.TextChoices):
    OFFLINE = "offline", "Offline baseline (no network)"
    OPENAI = "openai", "OpenAI-compatible endpoint"


class Mode(models.TextChoices):
    TEXT = "text", "Text (title + attributes)"
    CAPTION = "caption", "Caption (text + image description, two-stage)"
    VISION = "vision", "Vision (image sent to the model)"


class Preset(models.TextChoices):
    """How hard a job drives its endpoint (values in settings.QRELAY_LLM_PRESETS)."""

    HOSTED = "hosted", "Hosted API (32 calls in flight, 60 s, 1,024 tokens)"
    LOCAL_CPU = "local-cpu", "Local server on CPU (one call per slot, 300 s, 512 tokens)"
    LOCAL_GPU = "local-gpu", "Local server on GPU (16 calls in flight, 120 s, 1,024 tokens)"


class JudgeConfig(models.Model):
    """How a project's pairs are judged. Missing fields fall back to the environment.

    The endpoint settings (preset, max_in_flight, timeout, max_tokens, stop) are empty
    unless a lead set them: empty means "the environment's value when a job starts", so
    that changing QRELAY_LLM_* reaches every project that did not choose its own."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="judge_config")
    backend = models.CharField(max_length=10, choices=Backend.choices, default=Backend.OFFLINE)
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.TEXT)
    base_url = models.URLField(blank=True, help_text="Empty: OPENAI_BASE_URL, else api.openai.com")
    api_key_env = models.CharField(
        max_length=100, default="OPENAI_API_KEY", help_text="Name of the environment variable holding the key"
    )
    guideline_model = models.CharField(max_length=100, blank=True)
    vision_model = models.CharField(max_length=100, blank=True)
    judge_model = models.CharField(max_length=100, blank=True)
    samples = models.PositiveSmallIntegerField(default=1, help_text="k samples per pair for self-consistency")
    use_logprobs = models.BooleanField(default=False, help_text="Confidence from label-token logprobs when k = 1")
    preset = models.CharField(
        max_length=20, choices=Preset.choices, blank=True, help_text="Empty: QRELAY_LLM_PRESET (default hosted)"
    )
    max_in_flight = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Concurrent LLM calls per worker process; empty: QRELAY_LLM_MAX_IN_FLIGHT, else the preset's",
    )
    timeout = models.PositiveIntegerField(
        null=True, blank=True, help_text="Seconds per LLM call; empty: QRELAY_LLM_TIMEOUT, else the preset's"
    )
    max_tokens = models.PositiveIntegerField(
        null=True, blank=True, help_text="Longest answer in tokens; empty: QRELAY_LLM_MAX_TOKENS, else the preset's"
    )
    stop = models.JSONField(
        null=True,
        blank=True,
        help_text='Stop sequences as a JSON list, e.g. ["\\n\\n\\n"]; empty: QRELAY_LLM_STOP, else none',
    )
    requests_per_minute = models.PositiveIntegerField(default=0, help_text="Shared by all workers; 0 = no limit")
    tokens_per_minute = models.PositiveIntegerField(default=0, help_text="Shared by all workers; 0 = no limit")

    # Not a setting: whether the job's endpoint is llama.cpp's server, as the job found
    # out when it was created (services.job_judge_config sets it from JudgeJob.config).
    llama_cpp = False

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(samples__gte=1) & Q(samples__lte=15), name="judgeconfig_samples_range"),
            models.CheckConstraint(
                condition=Q(max_in_flight__isnull=True) | Q(max_in_flight__gte=1), name="judgeconfig_in_flight_positive"
            ),
            models.CheckConstraint(
                condition=Q(timeout__isnull=True) | Q(timeout__gte=1), name="judgeconfig_timeout_positive"
            ),
            models.CheckConstraint(
                condition=Q(max_tokens__isnull=True) | Q(max_tokens__gte=16), name="judgeconfig_max_tokens_min"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project}: {self.backend}/{self.mode}"

    def clean(self) -> None:
        # The admin's form calls this: an unsafe key variable or base URL is a form error.
        problem = endpoint_problem(api_key_env=self.api_key_env, base_url=self.base_url)
        if problem:
            field = "api_key_env" if "key variable" in problem else "base_url"
            raise ValidationError({field: problem})


class Price(models.Model):
    """EUR per million tokens, per model name; editable in the admin."""

    model = models.CharField(max_length=100, unique=True)
    input_per_million = models.DecimalField(max_digits=10, decimal_places=4)
    output_per_million = models.DecimalField(max_digits=10, decimal_places=4)

    def __str__(self) -> str:
        return f"{self.model}: €{self.input_per_million}/€{self.output_per_million} per 1M"


class LLMCallFields(models.Model):
    """What every cached LLM step records about its calls."""

    cache_key = models.CharField(max_length=64, unique=True)
    model = models.CharField(max_length=100)
    prompt_version = models.CharField(max_length=40)
    raw_response = models.JSONField(default=list, blank=True)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    calls = models.PositiveSmallIntegerField(default=0)
    cost_eur = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True


class Guideline(LLMCallFields):
    """Query-specific annotation guideline: weighted requirements + text + tags."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="guidelines")
    query = models.ForeignKey(Query, on_delete=models.CASCADE, related_name="guidelines")
    version = models.PositiveIntegerField()
    requirements = models.JSONField(default=list)
    text = models.TextField()
    tags = models.JSONField(default=list)
    job = models.ForeignKey("JudgeJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="guidelines")

    class Meta:
        ordering = ["query", "-version"]
        constraints = [models.UniqueConstraint(fields=["query", "version"], name="guideline_unique_version")]

    def __str__(self) -> str:
        return f"guideline v{self.version} for {self.query_id}"


class ImageDescription(LLMCallFields):
    """A vision model's text about one product image, or one query's reference image
    (caption mode): exactly one of the two is set."""

    image = models.ForeignKey(
        ProductImage, null=True, blank=True, on_delete=models.CASCADE, related_name="descriptions"
    )
    query_image = models.ForeignKey(
        QueryImage, null=True, blank=True, on_delete=models.CASCADE, related_name="descriptions"
    )
    text = models.TextField()
    job = models.ForeignKey("JudgeJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="descriptions")

    def __str__(self) -> str:
        return f"description of image {self.image_id} by {self.model}"


class JudgeJob(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="judge_jobs")
    run = models.ForeignKey(SearchRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="judge_jobs")
    description = models.CharField(max_length=200)
    backend = models.CharField(max_length=10, choices=Backend.choices)
    mode = models.CharField(max_length=10, choices=Mode.choices)
    model = models.CharField(max_length=100)
    pair_ids = models.JSONField(default=list, help_text="The pairs to judge, fixed when the job is created")
    vocabulary = models.JSONField(
        default=dict, blank=True, help_text="Catalogue vocabulary given to the guideline step"
    )
    config = models.JSONField(
        default=dict,
        blank=True,
        help_text="The project's judging configuration when the job was created (models, mode, endpoint, "
        "limits; the API key's variable name, never the key); the chunks run with it. Empty: made before "
        "jobs recorded it, runs with the project's current configuration",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    cached = models.PositiveIntegerField(default=0, help_text="Pairs whose judgment existed already")
    prep_total = models.PositiveIntegerField(default=0)
    prep_done = models.PositiveIntegerField(default=0)
    chunks_total = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    calls = models.PositiveIntegerField(default=0)
    tokens_in = models.PositiveBigIntegerField(default=0)
    tokens_out = models.PositiveBigIntegerField(default=0)
    cost_eur = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    error = models.TextField(blank=True)
    failures = models.JSONField(
        default=dict, blank=True, help_text="Why pairs failed: each reason with the number of pairs it stopped"
    )
    # Celery task name called with the job id when the job is done (e.g. reviews routing).
    on_done = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "done", "failed", "cancelled"]),
                name="judgejob_status_valid",
            ),
            # One active job per run: two tabs, a double submit or two API calls would
            # otherwise each pay the LLM for the same pairs (judge_job_create → JobConflict).
            models.UniqueConstraint(
                fields=["run"], condition=Q(status__in=["queued", "running"]), name="judgejob_one_active_per_run"
            ),
        ]

    def __str__(self) -> str:
        return f"job {self.id}: {self.description} ({self.status})"

    @property
    def processed(self) -> int:
        return self.done + self.failed

    @property
    def progress(self) -> float:
        return 1.0 if not self.total else self.processed / self.total


class JudgeChunk(models.Model):
    """One task's share of a job. `prep` chunks make the guidelines (and image
    descriptions) the job needs; `judge` chunks judge a slice of the job's pairs once
    every prep chunk is done. A chunk turns done exactly once (a conditional update
    in the transaction that writes its results), so a re-delivered task is a no-op."""

    class Phase(models.TextChoices):
        PREP = "prep", "Guidelines and image descriptions"
        JUDGE = "judge", "Judgments"

    job = models.ForeignKey(JudgeJob, on_delete=models.CASCADE, related_name="chunks")
    phase = models.CharField(max_length=10, choices=Phase.choices)
    index = models.PositiveIntegerField()
    items = models.JSONField(default=dict, help_text="prep: {queries, images}; judge: {pairs}")
    done = models.BooleanField(default=False)
    attempts = models.PositiveSmallIntegerField(default=0)
    judged = models.PositiveIntegerField(default=0)
    cached = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    touched_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Last sign of life (an attempt began, a batch was written); read by the stall watchdog",
    )

    class Meta:
        ordering = ["job", "phase", "index"]
        constraints = [models.UniqueConstraint(fields=["job", "phase", "index"], name="judgechunk_unique_index")]

    def __str__(self) -> str:
        return f"job {self.job_id} {self.phase} #{self.index}"


class Judgment(LLMCallFields):
    """The LLM's judgment of one pair: the details behind its Label.

    status `invalid` means the pair got no label: the answers stayed invalid after
    bounded retries, the model could not read its input, or a step it needed (guideline,
    image description) failed; `error` says which. No label is guessed; the pair goes to
    a human with reason llm-invalid. Only an `ok` judgment is a cache entry (one per
    cache key); an invalid one is the record of one job's attempt (one per key and job),
    and a later job asks again."""

    # Indexed by judgment_cache_key_idx (a plain btree: no LIKE index beside it).
    cache_key = models.CharField(max_length=64)

    class Status(models.TextChoices):
        OK = "ok", "OK"
        INVALID = "invalid", "LLM output invalid"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="judgments")
    # A pair's judgments are found through judgment_pair_recent_idx, which starts with pair_id.
    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="judgments", db_index=False)
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    guideline = models.ForeignKey(Guideline, null=True, blank=True, on_delete=models.SET_NULL, related_name="judgments")
    job = models.ForeignKey(JudgeJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="judgments")
    label = models.OneToOneField(Label, null=True, blank=True, on_delete=models.SET_NULL, related_name="judgment")
    backend = models.CharField(max_length=10, choices=Backend.choices)
    mode = models.CharField(max_length=10, choices=Mode.choices)
    status = models.CharField(max_length=10, choices=Status.choices)
    value = models.SmallIntegerField(null=True, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    rationale = models.TextField(blank=True)
    requirements_met = models.JSONField(default=list, blank=True)
    requirements_unmet = models.JSONField(default=list, blank=True)
    samples = models.JSONField(default=list, blank=True, help_text="Label values of the k samples")
    # Ids of the project's rules the judge says it applied (with k samples: named by >= 2).
    applied_rules = models.JSONField(default=list, blank=True)
    # e.g. ids the judge named that were not in scope (dropped); empty when all was well.
    rule_note = models.CharField(max_length=500, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        # Every index is paid by each judgment a judge chunk writes: no duplicates of
        # these (docs/scaling.md, "Indexes").
        indexes = [
            models.Index(fields=["pair", "-created_at"], name="judgment_pair_recent_idx"),
            # The cache lookup of every key, valid or not (judge_chunk reads both).
            models.Index(fields=["cache_key"], name="judgment_cache_key_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(Q(status="ok") & Q(value__isnull=False)) | (Q(status="invalid") & Q(value__isnull=True)),
                name="judgment_ok_has_value",
            ),
            models.CheckConstraint(
                condition=Q(confidence__isnull=True) | (Q(confidence__gte=0) & Q(confidence__lte=1)),
                name="judgment_confidence_unit",
            ),
            models.UniqueConstraint(fields=["cache_key"], condition=Q(status="ok"), name="judgment_one_ok_per_key"),
            # A re-delivered chunk finds its own invalid rows and adds none.
            models.UniqueConstraint(
                fields=["cache_key", "job"], condition=Q(status="invalid"), name="judgment_one_invalid_per_key_and_job"
            ),
        ]

    def __str__(self) -> str:
        return f"judgment of {self.pair_id}: {self.value} ({self.status})"


class PrepFailure(LLMCallFields):
    """A guideline or image description that a job could not get: the answers stayed
    invalid, a call kept failing until the chunk's retries were used up, or the model
    cannot read the input (an image sent to a text-only model). The job's pairs that
    needed it end as invalid judgments carrying `error`. Not a cache entry: a later job
    asks again. Its calls were paid for, so the job's cost counts them."""

    class Step(models.TextChoices):
        GUIDELINE = "guideline", "Guideline"
        DESCRIPTION = "description", "Image description"

    cache_key = models.CharField(max_length=64)  # the key the result would have had
    job = models.ForeignKey(JudgeJob, on_delete=models.CASCADE, related_name="prep_failures")
    step = models.CharField(max_length=12, choices=Step.choices)
    query = models.ForeignKey(Query, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    image = models.ForeignKey(ProductImage, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    error = models.TextField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "cache_key"], name="prepfailure_once_per_job_and_key")]

    def __str__(self) -> str:
        return f"job {self.job_id} {self.step} failed: {self.error[:60]}"
