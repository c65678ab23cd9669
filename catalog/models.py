"""The dataset registry: datasets, their columns and their versions."""

from datetime import timedelta

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from catalog.querysets import DatasetQuerySet


class Sensitivity(models.TextChoices):
    PUBLIC = "public", "Public"
    INTERNAL = "internal", "Internal"
    CONFIDENTIAL = "confidential", "Confidential"
    RESTRICTED = "restricted", "Restricted"


class Origin(models.TextChoices):
    """How the catalog came to know a dataset."""

    REGISTERED = "registered", "Registered by a person"
    LINEAGE = "lineage", "Found through lineage"
    SOURCE = "source", "Found by scanning a source"


class SourceKind(models.TextChoices):
    POSTGRES = "postgres", "PostgreSQL"
    S3 = "s3", "Object storage (S3 API)"
    FOLDER = "folder", "Folder under DATA_ROOTS"


class SourceLayout(models.TextChoices):
    """How files become datasets (object storage and folders)."""

    AUTO = "auto", "A Hive-partitioned folder is one dataset; any other file is one"
    FILES = "files", "Every file is one dataset"


class Source(models.Model):
    """Where data lives, catalogued in place by scans (catalog.scans, catalog.connectors).

    Credentials are never stored: ``secret`` names an environment variable, or a file under
    ``SOURCE_SECRETS_DIR``, that holds the DSN or the keys (catalog.connectors.secrets reads it)."""

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=20, choices=SourceKind.choices)
    uri = models.CharField(max_length=2000)
    secret = models.CharField(max_length=200, blank=True)
    endpoint_url = models.CharField(max_length=500, blank=True)
    include = models.JSONField(default=list, blank=True)
    exclude = models.JSONField(default=list, blank=True)
    layout = models.CharField(max_length=10, choices=SourceLayout.choices, default=SourceLayout.AUTO)
    schedule = models.CharField(max_length=100, blank=True, help_text="5-field cron; empty: on demand only.")
    profile = models.BooleanField(default=True, help_text="Profile each new or changed dataset.")
    # PostgreSQL: profile tables with more rows than this on a TABLESAMPLE (stated on the profile).
    sample_above_rows = models.BigIntegerField(null=True, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="owned_sources",
        null=True,
        blank=True,
    )
    stewards = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="stewarded_sources", blank=True)
    sensitivity = models.CharField(max_length=20, choices=Sensitivity.choices, default=Sensitivity.INTERNAL)
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_scan_at = models.DateTimeField(null=True, blank=True, help_text="When the last scan finished.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class ScanStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    PARTIAL = "partial", "Partly succeeded"
    FAILED = "failed", "Failed"


class LeasedJob(models.Model):
    """The fields of a job claimed under a lease (the rules are catalog.leases). Each concrete job adds its ``status`` (with its own
    labels for pending, running, succeeded, partial and failed), its counts and its errors."""

    trigger = models.CharField(max_length=20, default="manual", help_text="manual or schedule")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    claim_token = models.CharField(max_length=64, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    def lease_expired(self, seconds: float) -> bool:
        beat = self.heartbeat_at or self.started_at
        return beat is None or beat < timezone.now() - timedelta(seconds=seconds)


class SourceScan(LeasedJob):
    """One scan of a source: claimed under a lease (catalog.leases), run exactly once."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="scans")
    status = models.CharField(max_length=20, choices=ScanStatus.choices, default=ScanStatus.PENDING)
    progress = models.FloatField(default=0.0)
    found = models.PositiveIntegerField(default=0)
    registered = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    removed = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text='[{"name"?, "message"}]')

    class Meta:
        ordering = ["-id"]
        constraints = [
            # One scan at a time per source: asking again while one waits or runs answers that one.
            models.UniqueConstraint(
                fields=["source"],
                condition=models.Q(status__in=["pending", "running"]),
                name="one_active_scan_per_source",
            )
        ]

    def __str__(self) -> str:
        return f"scan {self.pk} of {self.source_id} ({self.status})"


class Tag(models.Model):
    """A free label on datasets, e.g. ``pii`` or ``gold``."""

    name = models.CharField(max_length=100, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Dataset(models.Model):
    """A dataset, identified by namespace + name as in OpenLineage."""

    namespace = models.CharField(max_length=255)
    name = models.CharField(max_length=255)
    title = models.CharField(max_length=255, blank=True)
    description = models.TextField(blank=True, help_text="Markdown; sanitised when shown.")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="owned_datasets",
        null=True,
        blank=True,
    )
    # Someone offered the dataset by its owner (catalog.ownership): they become its owner only when
    # they accept. Staff hand datasets over at once.
    pending_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        related_name="offered_datasets",
        null=True,
        blank=True,
    )
    stewards = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="stewarded_datasets", blank=True)
    # Teams: any member of the owner group acts as owner, any member of a steward group as steward
    # (catalog.ownership); two approvals of restricted data are still two different people.
    owner_group = models.ForeignKey(
        "auth.Group", on_delete=models.SET_NULL, related_name="owned_datasets", null=True, blank=True
    )
    steward_groups = models.ManyToManyField("auth.Group", related_name="stewarded_datasets", blank=True)
    # Its very existence is hidden from everyone but its owners, stewards (and their groups), staff
    # and approved requesters: search, lineage, counts and facets included.
    hidden = models.BooleanField(default=False, db_index=True)
    domain = models.CharField(max_length=100, blank=True, db_index=True)
    tags = models.ManyToManyField(Tag, related_name="datasets", blank=True)
    sensitivity = models.CharField(
        max_length=20, choices=Sensitivity.choices, default=Sensitivity.INTERNAL, db_index=True
    )
    sensitive_columns = models.JSONField(default=list, blank=True)
    label_column = models.CharField(max_length=255, blank=True)
    positive_label = models.JSONField(null=True, blank=True)
    origin = models.CharField(max_length=20, choices=Origin.choices, default=Origin.REGISTERED)
    # The source whose scans keep this dataset (None: registered by hand or through lineage).
    source = models.ForeignKey(
        "Source", on_delete=models.SET_NULL, null=True, blank=True, related_name="datasets"
    )
    # The last scan of its source did not find it: kept, with its history and clearance record.
    removed_at_source = models.BooleanField(default=False)
    # Denormalised text that search indexes: split name, title, description, tags, columns.
    search_text = models.TextField(blank=True, editable=False)
    # PostgreSQL only (NULL on SQLite, whose FTS5 table catalog_dataset_fts plays the same part):
    # weighted tsvector kept by catalog.search_index.index_dataset, GIN-indexed by migration 0002.
    search_vector = SearchVectorField(null=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = DatasetQuerySet.as_manager()

    class Meta:
        ordering = ["namespace", "name"]
        constraints = [
            models.UniqueConstraint(fields=["namespace", "name"], name="dataset_namespace_name_unique"),
        ]
        indexes = [models.Index(Lower("name"), name="dataset_name_lower_idx")]

    def __str__(self) -> str:
        return self.urn

    @property
    def urn(self) -> str:
        return f"dataset:{self.namespace}:{self.name}"

    @property
    def latest_version(self) -> "DatasetVersion | None":
        """The newest version not deleted (a tombstone has no data to offer)."""
        return self.versions.filter(deleted_at=None).order_by("-number").first()


class HiddenNamespace(models.Model):
    """A namespace whose every dataset is hidden (``Dataset.hidden``), those registered later included
    (by the API, lineage or a source's scan). Staff keep these rules (catalog.hidden_namespaces);
    the flag is written on the datasets so that every read is a plain condition on it."""

    namespace = models.CharField(max_length=255, unique=True)
    note = models.CharField(max_length=500, blank=True, help_text="Why this namespace is hidden.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["namespace"]

    def __str__(self) -> str:
        return f"hidden namespace {self.namespace}"


class RetiredDataset(models.Model):
    """What a deleted dataset was: lineage may still show it upstream of other data, its URN must
    not come back less sensitive than it left, and only its last owner or stewards (or staff) may
    register it again. One row per namespace + name: the last deletion."""

    namespace = models.CharField(max_length=255)
    name = models.CharField(max_length=255)
    sensitivity = models.CharField(max_length=20, choices=Sensitivity.choices)
    owner_id = models.BigIntegerField(null=True, blank=True)
    steward_ids = models.JSONField(default=list, blank=True)
    deleted_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["namespace", "name"], name="retired_dataset_unique")]

    def __str__(self) -> str:
        return f"{self.namespace}:{self.name} ({self.sensitivity}, deleted)"


class DatasetSearch(models.Model):
    """A dataset's row in the narrow search table (PostgreSQL only; empty elsewhere).

    What search reads for every match, about 100 bytes a dataset instead of the ~2 KB catalog row:
    the vector of the whole text (matching, GIN), the name/title/tags vector (ranking the best
    tier, GIN) and the values the search page counts (owner, domain, sensitivity, tags). Written by
    catalog.search_index.index_dataset from the dataset's row, in the same SQL for one dataset or all.
    """

    dataset = models.OneToOneField(
        Dataset, on_delete=models.CASCADE, primary_key=True, related_name="search_row"
    )
    owner_id = models.BigIntegerField(null=True)
    domain = models.CharField(max_length=100, blank=True)
    sensitivity = models.CharField(max_length=20)
    tag_ids = ArrayField(models.BigIntegerField(), default=list)
    namespace = models.CharField(max_length=255)
    name = models.CharField(max_length=255)
    # Dataset.hidden: hidden rows are searched only for those who may see them and are left out of
    # the catalog-wide counts (SearchFacetCount). A default in the database too: bulk loaders
    # (bench/) COPY rows without it.
    hidden = models.BooleanField(default=False, db_default=False)
    # Weights A (name) and B (title, tags) of Dataset.search_vector, positions kept: ranks tier 1.
    head = SearchVectorField(null=True)
    # Every word of Dataset.search_vector without positions: matching only.
    document = SearchVectorField(null=True)

    def __str__(self) -> str:
        return f"search row of dataset {self.dataset_id}"


class SearchFacetCount(models.Model):
    """How many datasets of the whole catalog hold each facet value (``total``, ``owner``,
    ``domain``, ``sensitivity``, ``tag``; owners and tags by id), for the search page with no
    query. PostgreSQL only: kept by statement triggers on the narrow search table (migration
    0005), so every write of it (one dataset, a bulk load, a delete, a cascade) moves the counts
    in its own transaction."""

    facet = models.CharField(max_length=20)
    value = models.CharField(max_length=255)
    n = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["facet", "value"], name="searchfacetcount_unique")]

    def __str__(self) -> str:
        return f"{self.facet}={self.value}: {self.n}"


class SearchWord(models.Model):
    """A word found in some dataset's searchable text: the vocabulary that a misspelt query word
    is corrected against (``custmer`` → ``customer``). Kept by catalog.search_index.index_dataset; words
    are never removed (a correction that finds nothing any more just finds nothing)."""

    word = models.CharField(max_length=64, unique=True)

    def __str__(self) -> str:
        return self.word


class Column(models.Model):
    """A column of a dataset: its inferred type from the latest profile and what stewards wrote."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="columns")
    name = models.CharField(max_length=1024)
    position = models.PositiveIntegerField(default=0)
    type = models.CharField(max_length=50, blank=True, help_text="Inferred from the latest version.")
    description = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    is_pii = models.BooleanField(default=False, help_text="Set by a steward or by PII detection.")
    pii_kinds = models.JSONField(default=list, blank=True)
    # False once a later version no longer has the column; kept so stewards' notes are not lost.
    present = models.BooleanField(default=True)

    class Meta:
        ordering = ["dataset", "position", "name"]
        constraints = [models.UniqueConstraint(fields=["dataset", "name"], name="column_dataset_name_unique")]

    def __str__(self) -> str:
        return f"{self.dataset.urn}:{self.name}"


class FileFormat(models.TextChoices):
    CSV = "csv", "CSV"
    TSV = "tsv", "TSV"
    PARQUET = "parquet", "Parquet"
    JSONL = "jsonl", "JSON Lines"
    TABLE = "table", "Database table"


class ProfileStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Not profiled"  # a version of a source that does not profile (Source.profile)


class DatasetVersion(models.Model):
    """One immutable version of a dataset's data: a stored file or a registered path."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    file = models.FileField(upload_to="versions/%Y/%m/", max_length=500, blank=True)
    source_uri = models.CharField(
        max_length=2000,
        blank=True,
        help_text="Where the data is when not a stored copy: file://, s3:// or postgres:// (a reference).",
    )
    # A reference's fingerprint (object ETags, sizes and versions; a table's schema hash and change
    # counters): a new one is a new version. Empty for stored copies and path registrations.
    fingerprint = models.CharField(max_length=64, blank=True)
    # What a reader needs beyond the URI: {"parts": [...], "partitioning": "hive", "table": {...},
    # "row_estimate": n, ...} (catalog.connectors.base.Found.reference).
    reference = models.JSONField(default=dict, blank=True)
    original_name = models.CharField(max_length=500, blank=True)
    # A registered path's file as it was hashed: device, inode, size, modified and changed times in
    # ns (catalog.files.file_stat). Profiling re-hashes it only when this moved (profiling.runner).
    file_stat = models.CharField(max_length=200, blank=True)
    checksum = models.CharField(max_length=64, db_index=True, help_text="sha256 of the bytes as stored.")
    size_bytes = models.BigIntegerField()
    format = models.CharField(max_length=10, choices=FileFormat.choices)
    compression = models.CharField(max_length=10, blank=True, help_text="'gzip' or empty.")
    encoding = models.CharField(max_length=40, blank=True, help_text="Text encoding of CSV/TSV/JSONL.")
    notes = models.JSONField(default=list, blank=True, help_text="What ingestion noticed, e.g. latin-1.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Mirrors the profiling job's state so catalog pages and answers need no join into profiling.
    profile_status = models.CharField(
        max_length=20, choices=ProfileStatus.choices, default=ProfileStatus.PENDING
    )
    # A tombstone: the bytes and every value derived from them are purged; the row stays, with its
    # checksum, so audit records and lineage still name what was there.
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["dataset", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "number"], name="version_dataset_number_unique")
        ]

    def __str__(self) -> str:
        return f"{self.dataset.urn}@{self.number}"

    def open(self):
        """Open the version's bytes for reading (binary), wherever they are stored."""
        if self.file:
            self.file.open("rb")
            return self.file
        from catalog.files import path_from_file_uri

        return path_from_file_uri(self.source_uri).open("rb")

    @property
    def is_reference(self) -> bool:
        """Data read where it lives (a source's table, objects or files), not a copy we keep."""
        return bool(self.fingerprint)

    def local_path(self) -> str | None:
        """A filesystem path to the bytes when there is one (local storage or a registered path)."""
        if self.source_uri and not self.source_uri.startswith("file:"):
            return None
        if self.source_uri:
            from catalog.files import path_from_file_uri

            return str(path_from_file_uri(self.source_uri))
        try:
            return self.file.path
        except NotImplementedError:
            return None


class OutboxMessage(models.Model):
    """A Celery task to send once the transaction that wrote this row commits (catalog.outbox).

    Written in the same transaction as the change it announces, so a change never commits without
    its message nor a message without its change; sent after the commit, or by the sweep while the
    broker was down. Any app may write one; only catalog.outbox sends them.
    """

    task = models.CharField(max_length=200, help_text="The Celery task's name.")
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    options = models.JSONField(default=dict, blank=True, help_text="apply_async options, e.g. the queue.")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            # The sweep's question: the oldest unsent messages. Sent ones stay out of the index.
            models.Index(fields=["id"], condition=models.Q(sent_at__isnull=True), name="outbox_unsent"),
            models.Index(fields=["sent_at"], name="outbox_sent_at"),
        ]

    def __str__(self) -> str:
        return f"{self.task} #{self.pk} ({'sent' if self.sent_at else 'unsent'})"
