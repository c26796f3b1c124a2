"""The hybrid policy's records: versioned routing policies and the reviewers' tasks."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from annotation.models import Label, Pair, Project


class RoutingPolicy(models.Model):
    """Thresholds that decide which LLM-judged pairs humans review. Never edited in
    place: a change is a new version, and every routing decision records its version."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="policies")
    version = models.PositiveIntegerField()
    min_confidence = models.FloatField(default=0.7, help_text="LLM labels below this confidence go to humans")
    route_sample_disagreement = models.BooleanField(default=True, help_text="Route when the k samples disagree")
    route_style_sensitive = models.BooleanField(default=True, help_text="Route style-sensitive queries")
    style_keywords = models.JSONField(
        default=list, blank=True, help_text="Query words that make a query style-sensitive"
    )
    route_invalid = models.BooleanField(default=True, help_text="Route pairs whose LLM output stayed invalid")
    audit_rate = models.FloatField(
        default=0.05, help_text="Share of ordinary pairs sent to humans, blind, for auditing"
    )
    humans_per_pair = models.PositiveSmallIntegerField(default=1)
    adjudicate_human_vs_llm = models.BooleanField(
        default=False, help_text="A human disagreeing with a confident LLM label goes to a lead"
    )
    # Segments whose measured LLM–human agreement is below target: [{"by": "tag", "key": "brand"}, …].
    route_segments = models.JSONField(
        default=list, blank=True, help_text="Segments whose pairs always go to humans (agreement below target)"
    )
    target_alpha = models.FloatField(
        default=0.8, help_text="Krippendorff's α (LLM vs human gold) a segment needs to be left to the LLM"
    )
    min_segment_n = models.PositiveIntegerField(
        default=30, help_text="Below this many compared pairs a segment has not enough data"
    )
    hourly_rate = models.DecimalField(
        max_digits=8,
        decimal_places=2,
        default=30,
        help_text="What an hour of human review costs (EUR), for cost estimates",
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["project", "-version"]
        verbose_name_plural = "routing policies"
        constraints = [
            models.UniqueConstraint(fields=["project", "version"], name="policy_unique_version"),
            models.CheckConstraint(
                condition=Q(min_confidence__gte=0) & Q(min_confidence__lte=1), name="policy_confidence_unit"
            ),
            models.CheckConstraint(condition=Q(audit_rate__gte=0) & Q(audit_rate__lte=1), name="policy_audit_unit"),
            models.CheckConstraint(
                condition=Q(humans_per_pair__gte=1) & Q(humans_per_pair__lte=3), name="policy_humans_1_3"
            ),
            models.CheckConstraint(
                condition=Q(target_alpha__gte=-1) & Q(target_alpha__lte=1), name="policy_target_alpha_range"
            ),
            models.CheckConstraint(condition=Q(hourly_rate__gte=0), name="policy_hourly_rate_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.project} policy v{self.version}"


class Reason(models.TextChoices):
    LOW_CONFIDENCE = "low-confidence", "Low LLM confidence"
    SAMPLE_DISAGREEMENT = "sample-disagreement", "LLM samples disagree"
    STYLE_SENSITIVE = "style-sensitive", "Style-sensitive query"
    SEGMENT = "segment-below-target", "Segment below target agreement"
    LLM_INVALID = "llm-invalid", "LLM output invalid"
    AUDIT = "audit", "Random audit"
    HUMAN_DISAGREEMENT = "human-disagreement", "Humans disagree"
    HUMAN_VS_LLM = "human-vs-llm", "Human disagrees with a confident LLM"


class ReviewTask(models.Model):
    class Kind(models.TextChoices):
        LABEL = "label", "Label"
        ADJUDICATION = "adjudication", "Adjudication (lead)"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLAIMED = "claimed", "Claimed"
        DONE = "done", "Done"
        FLAGGED = "flagged", "Flagged"
        CANCELLED = "cancelled", "Cancelled"
        # A lead's answer to a flag: the pair cannot be labelled (e.g. the product is
        # gone). Unlike a cancelled task it stays live, so routing never re-creates it.
        DROPPED = "dropped", "Dropped by a lead"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="review_tasks")
    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="review_tasks")
    kind = models.CharField(max_length=15, choices=Kind.choices, default=Kind.LABEL)
    # 1..humans_per_pair: several humans label the same pair in separate slots.
    slot = models.PositiveSmallIntegerField(default=1)
    reasons = models.JSONField(default=list)
    # The first (strongest) reason, as a column: the queue filters on it.
    reason = models.CharField(max_length=30, choices=Reason.choices)
    # No index of its own: the queue reads priority through reviewtask_queue_idx.
    priority = models.FloatField(default=0)
    blind = models.BooleanField(default=False, help_text="Hide the LLM's label from the reviewer")
    policy_version = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="claimed_tasks"
    )
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # No index on label or flagged_by: nothing looks tasks up by them, and every routed
    # pair would pay for the index entries (bench/bench_policy.py: a reroute batch ~35%
    # slower with them). Deleting a label or a user scans the tasks instead, which is rare.
    label = models.ForeignKey(Label, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False)
    flag_comment = models.TextField(blank=True)
    # Who flagged it: kept when a lead puts the task back in the queue (claimed_by is
    # cleared then), so the next reviewer and the lead still see whose comment it is.
    flagged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    time_spent_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-priority", "id"]
        constraints = [
            # One live task per pair, kind and slot: routing twice never doubles the work.
            models.UniqueConstraint(
                fields=["pair", "kind", "slot"], condition=~Q(status="cancelled"), name="reviewtask_unique_live_slot"
            ),
            models.CheckConstraint(
                condition=~Q(status="claimed") | (Q(claimed_by__isnull=False) & Q(lease_expires_at__isnull=False)),
                name="reviewtask_claim_has_lease",
            ),
        ]
        indexes = [
            # The queue: open (or lease-expired) tasks of a project by priority.
            models.Index(
                fields=["project", "kind", "-priority", "id"],
                condition=Q(status__in=["open", "claimed"]),
                name="reviewtask_queue_idx",
            ),
            # The queue filtered by reason: without it a rare reason (audit) walked the
            # whole queue index (27k rows, 160 ms at 200k open tasks; bench/bench_review.py).
            models.Index(
                fields=["project", "kind", "reason", "-priority", "id"],
                condition=Q(status__in=["open", "claimed"]),
                name="reviewtask_queue_reason_idx",
            ),
            # A reviewer's current card (claimed, lease running), without reading every
            # task they ever did through the claimed_by index.
            models.Index(
                fields=["claimed_by", "lease_expires_at"], condition=Q(status="claimed"), name="reviewtask_claimed_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} task {self.id} for pair {self.pair_id} ({self.status})"


class TaskSkip(models.Model):
    """A user skipped a task: it goes back to the queue, but not to them."""

    task = models.ForeignKey(ReviewTask, on_delete=models.CASCADE, related_name="skips")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["task", "user"], name="taskskip_unique_user")]

    def __str__(self) -> str:
        return f"task {self.task_id} skipped by user {self.user_id}"


class ErrorCategory(models.TextChoices):
    """Why the LLM and the humans are far apart on a pair (the paper's error analysis)."""

    BRAND = "brand", "Brand"
    CATEGORY = "category", "Category"
    COLOUR = "colour", "Colour"
    STYLE = "style", "Style"
    QUERY_INTENT = "query-intent", "Query intent"
    PRODUCT_DATA = "product-data", "Product data"
    OTHER = "other", "Other"


class DisagreementTag(models.Model):
    """A lead's error category for a hard LLM–human disagreement; one per pair, re-tagging replaces it."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="disagreement_tags")
    pair = models.OneToOneField(Pair, on_delete=models.CASCADE, related_name="disagreement_tag")
    category = models.CharField(max_length=20, choices=ErrorCategory.choices)
    tagged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    tagged_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(category__in=ErrorCategory.values), name="disagreementtag_category_valid"
            )
        ]
        indexes = [models.Index(fields=["project", "category"], name="disagreementtag_category_idx")]

    def __str__(self) -> str:
        return f"pair {self.pair_id}: {self.category}"


class RerouteJob(models.Model):
    """Rerouting under a new policy version, done in batches of pair-id ranges
    (reviews/services/reroute.py). `cursor` is the first pair id not done yet; a batch's
    moves and its cursor step commit together, so a killed worker's redelivered task
    carries on where the last commit left off and no pair is routed twice."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        SUPERSEDED = "superseded", "Superseded by a newer version"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="reroute_jobs")
    policy = models.ForeignKey(RoutingPolicy, on_delete=models.CASCADE, related_name="reroute_jobs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RUNNING)
    first_pair_id = models.BigIntegerField(default=0)
    last_pair_id = models.BigIntegerField(default=0)  # inclusive; pairs created later are routed as they come
    cursor = models.BigIntegerField(default=0)
    batch_size = models.PositiveIntegerField(default=25_000)
    batches_done = models.PositiveIntegerField(default=0)
    to_humans = models.PositiveIntegerField(default=0)
    to_llm = models.PositiveIntegerField(default=0)
    reasons = models.JSONField(default=dict, blank=True)  # reason → pairs sent to humans for it
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["project", "-created_at"], name="reroutejob_recent_idx")]

    def __str__(self) -> str:
        return f"reroute {self.project} v{self.policy.version} ({self.status})"

    @property
    def stalled(self) -> bool:
        """Running, but no batch committed for two minutes: its worker may be gone."""
        from django.utils import timezone

        return self.status == self.Status.RUNNING and (timezone.now() - self.updated_at).total_seconds() > 120

    @property
    def progress(self) -> float:
        span = self.last_pair_id - self.first_pair_id + 1
        if self.status != self.Status.RUNNING or span <= 0:
            return 1.0
        return min(max((self.cursor - self.first_pair_id) / span, 0.0), 1.0)


class PairSignal(models.Model):
    """The routing signals of a pair's newest judgment, one row per judged pair, so a
    what-if preview over a million pairs reads one narrow row each instead of finding
    the newest of their judgments (reviews/routing_sql.py). On PostgreSQL, triggers on
    judging_judgment keep it in step in the same transaction as every judgment write
    (migration 0008_pair_signal_triggers); without them (SQLite) nothing reads it."""

    pair = models.OneToOneField(Pair, primary_key=True, on_delete=models.CASCADE, related_name="+")
    # Indexed once, by pairsignal_project_idx (not again by the foreign key).
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    query_id = models.BigIntegerField()
    product_id = models.BigIntegerField()
    judgment_id = models.BigIntegerField()
    judged_at = models.DateTimeField()
    invalid = models.BooleanField()
    confidence = models.FloatField(null=True)
    disagree = models.BooleanField()  # the k samples hold more than one distinct value
    model = models.CharField(max_length=100)
    prompt_version = models.CharField(max_length=40)
    mode = models.CharField(max_length=10)
    # The pair's gold is the LLM's (provenance llm-auto): kept by a trigger on
    # annotation_pair, so the what-if preview finds the auto-accepted pairs here.
    auto_accepted = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["project"], name="pairsignal_project_idx")]

    def __str__(self) -> str:
        return f"signals of pair {self.pair_id} (judgment {self.judgment_id})"


class PairSubset(models.Model):
    """A named set of a project's pairs, e.g. RAIR's hard subset: pairs whose k judge
    samples disagree (majority share under `threshold`), or a benchmark file's pairs.
    Metrics are reported per subset (reviews/agreement/subsets.py)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="pair_subsets")
    name = models.CharField(max_length=100)
    threshold = models.FloatField(null=True, blank=True, help_text="Majority share below which a pair is hard")
    pair_ids = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="pairsubset_unique_name")]

    def __str__(self) -> str:
        return f"{self.name} ({len(self.pair_ids)} pairs)"
