"""The data under evaluation: projects, their scale, queries, products, runs, pairs, labels.

Integrity lives in the database, not only in forms: uniqueness per project, positive
ranks, confidences in [0, 1], and on PostgreSQL composite foreign keys that keep every
label and gold value inside the project's own scale (migration 0002).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower


class Role(models.TextChoices):
    ANNOTATOR = "annotator", "Annotator"
    LEAD = "lead", "Lead"
    ADMIN = "admin", "Admin"


class Project(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    # Which scale the levels were copied from: a built-in name or "custom".
    scale_name = models.CharField(max_length=40, default="default")
    locales = models.JSONField(default=list, blank=True)
    # RAIR-style rules shown to the LLM and to reviewers, e.g. what "new" means.
    rulebook = models.JSONField(default=list, blank=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="projects")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.ANNOTATOR)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_unique_user"),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} ({self.role})"


class ScaleLevel(models.Model):
    """One label of a project's scale; ordered by value, least relevant first."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="levels")
    value = models.SmallIntegerField()
    name = models.CharField(max_length=60)
    gain = models.FloatField()

    class Meta:
        ordering = ["project", "value"]
        constraints = [
            models.UniqueConstraint(fields=["project", "value"], name="scalelevel_unique_value"),
            models.UniqueConstraint(Lower("name"), "project", name="scalelevel_unique_name"),
            models.CheckConstraint(condition=Q(value__gte=0), name="scalelevel_value_nonnegative"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.value})"


class Query(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="queries")
    external_id = models.CharField(max_length=200)
    text = models.TextField()
    locale = models.CharField(max_length=20, blank=True)
    traffic = models.BigIntegerField(default=0)
    # e.g. ["style-sensitive", "brand", "negation"]; set by importers or the guideline step.
    tags = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "queries"
        ordering = ["project", "-traffic", "external_id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "external_id"], name="query_unique_external_id"),
            models.CheckConstraint(condition=Q(traffic__gte=0), name="query_traffic_nonnegative"),
        ]

    def __str__(self) -> str:
        return self.text


class Product(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="products")
    external_id = models.CharField(max_length=200)
    title = models.TextField()
    brand = models.CharField(max_length=200, blank=True)
    category = models.CharField(max_length=300, blank=True)
    description = models.TextField(blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    # sha256 over the text fields and image hashes: changes when the product changes,
    # which is what invalidates cached LLM work about it.
    content_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["project", "external_id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "external_id"], name="product_unique_external_id"),
        ]

    def __str__(self) -> str:
        return self.title


class ProductImage(models.Model):
    class Status(models.TextChoices):
        STORED = "stored", "Stored"  # validated, re-encoded and on disk
        REMOTE = "remote", "Remote"  # an http(s) URL not fetched yet

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="images")
    position = models.PositiveSmallIntegerField()
    source = models.TextField(help_text="The URL or file path the image was imported from.")
    status = models.CharField(max_length=10, choices=Status.choices)
    # Relative to MEDIA_ROOT, chosen by the server (content hash), never by the input.
    stored_name = models.CharField(max_length=200, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["product", "position"]
        constraints = [
            models.UniqueConstraint(fields=["product", "position"], name="productimage_unique_position"),
            models.CheckConstraint(
                condition=Q(status="remote") | (~Q(stored_name="") & ~Q(sha256="")),
                name="productimage_stored_has_file",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product_id}#{self.position}"


class SearchRun(models.Model):
    """One search-engine configuration evaluated once."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="runs")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "-created_at"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="searchrun_unique_name")]

    def __str__(self) -> str:
        return self.name


class GoldProvenance(models.TextChoices):
    IMPORTED = "imported", "Imported"
    LLM_AUTO = "llm-auto", "LLM (auto-accepted)"
    HUMAN = "human", "Human"
    ADJUDICATED = "adjudicated", "Adjudicated"


class Pair(models.Model):
    """A query × product: the unit that is judged. Runs share pairs, so a new
    configuration only costs its new pairs."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="pairs")
    query = models.ForeignKey(Query, on_delete=models.CASCADE, related_name="pairs")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="pairs")
    gold_value = models.SmallIntegerField(null=True, blank=True)
    gold_provenance = models.CharField(max_length=20, choices=GoldProvenance.choices, blank=True)
    gold_policy_version = models.PositiveIntegerField(null=True, blank=True)
    gold_updated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "query", "product"]
        constraints = [
            models.UniqueConstraint(fields=["project", "query", "product"], name="pair_unique_query_product"),
            models.CheckConstraint(
                condition=(Q(gold_value__isnull=True) & Q(gold_provenance=""))
                | (Q(gold_value__isnull=False) & Q(gold_provenance__in=GoldProvenance.values)),
                name="pair_gold_has_provenance",
            ),
        ]
        indexes = [models.Index(fields=["product"], name="pair_product_idx")]

    def __str__(self) -> str:
        return f"{self.query_id} × {self.product_id}"


class SearchResult(models.Model):
    run = models.ForeignKey(SearchRun, on_delete=models.CASCADE, related_name="results")
    query = models.ForeignKey(Query, on_delete=models.CASCADE, related_name="results")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="results")
    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="results")
    rank = models.PositiveIntegerField()
    score = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["run", "query", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["run", "query", "product"], name="searchresult_unique_product"),
            models.CheckConstraint(condition=Q(rank__gte=1), name="searchresult_rank_positive"),
        ]
        indexes = [models.Index(fields=["run", "query", "rank"], name="searchresult_rank_idx")]

    def __str__(self) -> str:
        return f"{self.run_id}/{self.query_id}#{self.rank}"


class LabelSource(models.TextChoices):
    LLM = "llm", "LLM"
    HUMAN = "human", "Human"


class Label(models.Model):
    """One judgment of a pair by one rater. Append-only: a correction is a new row."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="labels")
    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="labels")
    source = models.CharField(max_length=10, choices=LabelSource.choices)
    # A model name for LLM labels, a username or an imported rater name for humans.
    rater = models.CharField(max_length=200)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="labels"
    )
    value = models.SmallIntegerField()
    confidence = models.FloatField(null=True, blank=True)
    rationale = models.TextField(blank=True)
    guideline_version = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["pair", "created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(source__in=LabelSource.values), name="label_source_valid"),
            models.CheckConstraint(
                condition=Q(confidence__isnull=True) | (Q(confidence__gte=0) & Q(confidence__lte=1)),
                name="label_confidence_in_unit_interval",
            ),
        ]
        indexes = [models.Index(fields=["pair", "source", "rater"], name="label_pair_rater_idx")]

    def __str__(self) -> str:
        return f"{self.rater}: {self.value} for {self.pair_id}"
