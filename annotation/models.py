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
    # The rulebook (RAIR-style rules for the LLM and reviewers) is the Rule table: rules.
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
    # One line a reviewer reads on the label's button; the lead edits it on the scale page.
    definition = models.CharField(max_length=200, blank=True, default="")

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
    # MERIT-style interleaved conditions, in order: [{"text": ...}, {"image": 0}, ...],
    # where an image condition is the position of one of the query's reference images.
    conditions = models.JSONField(default=list, blank=True)
    # sha256 over the conditions and the reference images' source content; "" for a plain
    # text query. Cache keys include it, so a changed reference image is judged again.
    reference_hash = models.CharField(max_length=64, blank=True)
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

    def reference_parts(self) -> list[dict[str, object]]:
        """The conditions in order, for display: {"text": ...} or {"image": a stored
        QueryImage or None (not fetched yet), "position": n}."""
        if not self.conditions:
            return []
        stored = {i.position: i for i in self.images.all() if i.status == ProductImage.Status.STORED}
        return [
            {"text": c["text"]} if "text" in c else {"image": stored.get(c["image"]), "position": c["image"] + 1}
            for c in self.conditions
        ]


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


class QueryImage(models.Model):
    """A reference image a shopper gave with a query (MERIT); stored, validated and
    served like a ProductImage."""

    query = models.ForeignKey(Query, on_delete=models.CASCADE, related_name="images")
    position = models.PositiveSmallIntegerField()
    source = models.TextField(help_text="The URL or file path the image was imported from.")
    status = models.CharField(max_length=10, choices=ProductImage.Status.choices)
    stored_name = models.CharField(max_length=200, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["query", "position"]
        constraints = [
            models.UniqueConstraint(fields=["query", "position"], name="queryimage_unique_position"),
            models.CheckConstraint(
                condition=Q(status="remote") | (~Q(stored_name="") & ~Q(sha256="")),
                name="queryimage_stored_has_file",
            ),
        ]

    def __str__(self) -> str:
        return f"query {self.query_id} image #{self.position}"


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

    # The project's pairs are found through pair_unique_query_product, which starts with
    # project_id: a second index on it would only cost every pair write.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="pairs", db_index=False)
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
        # Covering: run metrics read each query's top ranks and count its results from
        # the index alone (annotation/metrics/reads.py).
        indexes = [
            models.Index(
                fields=["run", "query", "rank"],
                include=["score", "product", "pair"],
                name="searchresult_rank_cover_idx",
            )
        ]

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
    # Rule ids a reviewer ticked as the ones they applied (when they disagree with the LLM).
    # A database default too: the imports' COPY (annotation/bulk.py) names no such column.
    applied_rules = models.JSONField(default=list, blank=True, db_default=[])
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


# --- "Retrieve" and "Repeat": search-engine connectors and their schedules -----------


class SearchConnector(models.Model):
    """How to ask one search engine for its top k (see annotation/connectors/ and
    docs/connectors.md). Secrets are never stored: `secret_env` names an environment
    variable whose value is sent in the `secret_header`."""

    class Preset(models.TextChoices):
        GENERIC = "generic", "Generic JSON API"
        ELASTICSEARCH = "elasticsearch", "Elasticsearch / OpenSearch _search"

    class Method(models.TextChoices):
        GET = "GET", "GET"
        POST = "POST", "POST"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="connectors")
    name = models.CharField(max_length=100)
    preset = models.CharField(max_length=20, choices=Preset.choices, default=Preset.GENERIC)
    base_url = models.CharField(max_length=500, help_text="scheme://host[:port]; requests go to this host only")
    method = models.CharField(max_length=4, choices=Method.choices, blank=True)
    path_template = models.CharField(max_length=1000, blank=True, help_text="e.g. /search?q={query}&n={k}")
    body_template = models.TextField(blank=True, help_text='JSON sent with POST; "{query}" and "{k}" are filled in')
    hits_path = models.CharField(
        max_length=200, blank=True, help_text="dotted path to the list of hits, e.g. hits.hits"
    )
    id_path = models.CharField(max_length=200, blank=True, help_text="path to the product id inside a hit, e.g. _id")
    score_path = models.CharField(max_length=200, blank=True, help_text="path to the score inside a hit (optional)")
    headers = models.JSONField(default=dict, blank=True, help_text="extra request headers (not secret)")
    secret_header = models.CharField(max_length=100, blank=True, help_text="e.g. Authorization")
    secret_env = models.CharField(
        max_length=100, blank=True, help_text="environment variable holding the header's value"
    )
    k = models.PositiveSmallIntegerField(default=10)
    timeout_seconds = models.PositiveSmallIntegerField(default=10)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["project", "name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="searchconnector_unique_name"),
            models.CheckConstraint(condition=Q(k__gte=1) & Q(k__lte=1000), name="searchconnector_k_range"),
            models.CheckConstraint(
                condition=Q(timeout_seconds__gte=1) & Q(timeout_seconds__lte=120), name="searchconnector_timeout_range"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class RepeatSchedule(models.Model):
    """Re-run a connector every `interval_minutes` for the top-N queries by traffic,
    judge the new pairs and record the metrics (MetricSnapshot)."""

    class LabelSource(models.TextChoices):
        ANY = "any", "Newest label (LLM until reviewed)"
        GOLD = "gold", "Gold only"

    connector = models.ForeignKey(SearchConnector, on_delete=models.CASCADE, related_name="schedules")
    top_n = models.PositiveIntegerField(default=100)
    k = models.PositiveSmallIntegerField(default=10)
    interval_minutes = models.PositiveIntegerField(default=24 * 60)
    margin = models.FloatField(default=0.02, help_text="flag a regression when nDCG@k drops by more than this")
    label_source = models.CharField(max_length=10, choices=LabelSource.choices, default=LabelSource.ANY)
    enabled = models.BooleanField(default=True)
    next_run_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["connector", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(top_n__gte=1), name="repeatschedule_top_n_positive"),
            models.CheckConstraint(condition=Q(k__gte=1) & Q(k__lte=1000), name="repeatschedule_k_range"),
            models.CheckConstraint(condition=Q(interval_minutes__gte=1), name="repeatschedule_interval_positive"),
            models.CheckConstraint(condition=Q(margin__gte=0), name="repeatschedule_margin_nonnegative"),
            models.CheckConstraint(
                condition=Q(label_source__in=["any", "gold"]), name="repeatschedule_label_source_valid"
            ),
        ]
        indexes = [models.Index(fields=["enabled", "next_run_at"], name="repeatschedule_due_idx")]

    def __str__(self) -> str:
        return f"{self.connector} top {self.top_n} every {self.interval_minutes} min"


class MetricSnapshot(models.Model):
    """One cycle of a schedule, recorded from the moment it is started, so a cycle that
    fails or whose worker dies is never silently lost: fetching → judging → done, or
    failed with the error."""

    class Status(models.TextChoices):
        FETCHING = "fetching", "Fetching"
        JUDGING = "judging", "Judging"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    UNFINISHED = (Status.FETCHING, Status.JUDGING)

    schedule = models.ForeignKey(RepeatSchedule, on_delete=models.CASCADE, related_name="snapshots")
    run = models.OneToOneField(SearchRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="snapshot")
    run_name = models.CharField(max_length=200, blank=True)
    # A plain id: annotation never imports judging (the job lives there).
    judge_job_id = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.FETCHING)
    k = models.PositiveSmallIntegerField()
    label_source = models.CharField(max_length=10)
    ndcg = models.FloatField(null=True, blank=True)
    previous_ndcg = models.FloatField(null=True, blank=True)
    regression = models.BooleanField(default=False)
    means = models.JSONField(default=dict, blank=True)
    coverage = models.FloatField(null=True, blank=True)
    queries = models.PositiveIntegerField(default=0)
    fetch_report = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # When the fetch was last handed to a worker: a cycle still fetching long after
    # that lost its task and is handed over again.
    sent_at = models.DateTimeField(null=True, blank=True)
    # When a delivery of the cycle's task took on creating its judge job (a conditional
    # update one delivery wins): the job is created outside any lock, and this keeps the
    # cycle to one (reviews/repeat/services.py, _evaluate).
    judging_claimed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["schedule", "-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["fetching", "judging", "done", "failed"]), name="metricsnapshot_status_valid"
            ),
            # At most one cycle of a schedule in flight: two beats, or a beat and "Run now", cannot both start one.
            models.UniqueConstraint(
                fields=["schedule"],
                condition=Q(status__in=["fetching", "judging"]),
                name="metricsnapshot_one_unfinished",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.schedule_id} @ {self.created_at:%Y-%m-%d %H:%M} ({self.status})"


# --- Derived: the current label of each pair, kept by the database ---------------------


class CurrentLabel(models.Model):
    """The newest label (by created_at, then id) of a pair per source ("llm", "human"),
    and over every source ("any"): what provisional run metrics read instead of looking
    up the newest label result by result.

    Written only by triggers on annotation_label (migration 0005_current_label), in the
    transaction of the label write itself, so no write path (imports, judge chunks,
    reviews, the admin, raw SQL) can forget it; Django never writes it. Deleting labels
    re-derives the rows from the labels that remain."""

    pk = models.CompositePrimaryKey("pair", "source")
    # No database foreign keys: the triggers keep the rows in step, and Django must not
    # cascade into a table it does not write.
    pair = models.ForeignKey(
        Pair, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="current_labels"
    )
    source = models.CharField(max_length=10)  # a LabelSource value, or "any"
    label = models.ForeignKey(Label, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+")
    value = models.SmallIntegerField()
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.pair_id}/{self.source}: {self.value}"


class LabelWrites(models.Model):
    """How many label rows each database backend has inserted, deleted or updated in a
    project: the sum over a project's rows grows with every committed label write, so a
    cached figure that recorded the sum knows it is behind (the agreement dashboard's
    snapshots). Kept by the same triggers as CurrentLabel (migration 0007_label_writes),
    one row per (project, backend) so concurrent writers never wait on each other's row."""

    pk = models.CompositePrimaryKey("project", "backend")
    project = models.ForeignKey(
        Project, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    backend = models.IntegerField()  # pg_backend_pid() of the writer
    writes = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.project_id}/{self.backend}: {self.writes}"


class ImportJob(models.Model):
    """An uploaded file imported by the worker (uploads over QRELAY_IMPORT_ASYNC_BYTES):
    its progress while it runs, then its summary or every problem found. The upload waits
    on disk under MEDIA_ROOT/imports/ and is removed when the job ends."""

    class Kind(models.TextChoices):
        PRODUCTS = "products", "Products"
        QUERIES = "queries", "Queries"
        RUN = "run", "Run results"
        LABELS = "labels", "Labels"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="import_jobs")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    file_name = models.CharField(max_length=200)
    # Relative to MEDIA_ROOT; emptied when the job ends and the file is removed.
    stored_path = models.CharField(max_length=500, blank=True)
    size = models.BigIntegerField(default=0)
    # The importer's options: format, run id, rater, gold.
    options = models.JSONField(default=dict, blank=True)
    rows_done = models.BigIntegerField(default=0)
    # The first problems (file, line, column, message) and how many there were in all.
    problems = models.JSONField(default=list, blank=True)
    problem_count = models.PositiveIntegerField(default=0)
    summary = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Last sign of life of a running job (it started, rows were read); a running job
    # silent for QRELAY_IMPORT_STALL_MINUTES lost its worker and is marked failed.
    touched_at = models.DateTimeField(null=True, blank=True)
    # When the stall check sent the task of a job still queued after the stall time, with
    # the broker's queue empty, again (its message was probably lost); still queued a stall
    # time later, the queue empty, it is marked failed (annotation/importers/stall.py).
    requeued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} import of {self.file_name} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)


from .rule_models import Rule  # noqa: E402, F401  (the rulebook: its own module keeps this one small)
