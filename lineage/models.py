"""Models of lineage: the raw OpenLineage record and the graph derived from it.

Two layers, kept apart on purpose:

* ``LineageEvent`` is the record: every accepted event exactly as received, append-only, so the
  whole graph can be rebuilt from it.
* ``Node``, ``Run``, ``RunIO``, ``Edge`` and ``ColumnEdge`` are derived. ``RunIO`` is the history
  (which run read or wrote which dataset version); ``Edge`` is the *current* graph, denormalised to
  two integer columns so that a recursive query walks it on its indexes alone.
"""

from django.db import models


class NodeKind(models.TextChoices):
    DATASET = "DATASET", "Dataset"
    JOB = "JOB", "Job"
    MODEL = "MODEL", "Model"


class EventKind(models.TextChoices):
    RUN = "run", "RunEvent"
    DATASET = "dataset", "DatasetEvent"
    JOB = "job", "JobEvent"


class RunState(models.TextChoices):
    """Marquez's run states, which existing clients expect."""

    NEW = "NEW", "New"
    RUNNING = "RUNNING", "Running"
    COMPLETED = "COMPLETED", "Completed"
    ABORTED = "ABORTED", "Aborted"
    FAILED = "FAILED", "Failed"


class EventState(models.TextChoices):
    """Where an event stands in the graph: folded, waiting for the folder, or refused by the graph."""

    APPLIED = "applied", "Applied"
    PENDING = "pending", "Pending"
    FAILED = "failed", "Failed"


class LineageEvent(models.Model):
    """One accepted OpenLineage event, as received. Its body is never updated and no row is deleted
    by the application; only the fold's bookkeeping (``state``, ``error``) changes once. Two
    exceptions an operator or a privacy officer asks for: retention prunes folded events past
    LINEAGE_EVENT_RETENTION_DAYS (lineage.retention), and an erasure rewrites a body that quotes a
    data subject's value (lineage.erasure)."""

    kind = models.CharField(max_length=10, choices=EventKind.choices)
    event_type = models.CharField(max_length=10, blank=True, help_text="RunEvent eventType, else empty.")
    event_time = models.DateTimeField()
    run_id = models.CharField(max_length=36, blank=True, db_index=True)
    job_key = models.CharField(max_length=600, blank=True, db_index=True, help_text="job:<ns>:<name>")
    producer = models.CharField(max_length=1000, blank=True)
    # sha256 of the canonical JSON (sorted keys): the same event sent twice is stored once.
    body_hash = models.CharField(max_length=64, unique=True)
    body = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    received_by = models.CharField(max_length=150, blank=True)
    # Set at insert (never after): the event was not applied in its request but left to the folder
    # (LINEAGE_APPLY=deferred, or too many new datasets for a request).
    deferred = models.BooleanField(default=False)
    # Pending until the folder (lineage.fold.fold_pending) applies it; failed, with the reason,
    # when the graph cannot take it (e.g. its run id belongs to another job): it stays in the record.
    state = models.CharField(max_length=8, choices=EventState.choices, default=EventState.APPLIED)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            # Only the backlog and the refused: "anything pending?" before every read, and the counts
            # of /lineage/backlog, are probes of a tiny index.
            models.Index(
                fields=["state", "id"],
                name="lineage_event_unapplied",
                condition=~models.Q(state=EventState.APPLIED),
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.event_type} {self.job_key or ''} @ {self.event_time:%Y-%m-%dT%H:%M:%S}"


class Node(models.Model):
    """A vertex of the graph: a dataset, a job or a model. The integer id is what edges store.

    ``key`` is the public node id (``dataset:<ns>:<name>``, ``job:...``, ``model:...``).
    """

    kind = models.CharField(max_length=10, choices=NodeKind.choices)
    key = models.CharField(max_length=600, unique=True)
    namespace = models.CharField(max_length=255)
    name = models.CharField(max_length=255)
    # The catalog dataset this node stands for (DATASET nodes only). A plain integer, not a foreign
    # key: the catalog may delete a dataset without cascading into the lineage record.
    dataset_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    description = models.TextField(blank=True)
    # Latest facets by name (dataset facets for datasets and models, job facets for jobs).
    facets = models.JSONField(default=dict, blank=True)
    # MODEL nodes: who to tell (usernames); filled from ownership facets or the recording actor.
    owners = models.JSONField(default=list, blank=True)
    latest_run = models.ForeignKey("Run", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key


class Run(models.Model):
    """One run of a job, folded from all its events (in whatever order they arrived)."""

    run_id = models.CharField(max_length=36, unique=True)
    job = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="runs")
    state = models.CharField(max_length=10, choices=RunState.choices, default=RunState.NEW)
    # Time of the run's START when seen, else of its earliest event: orders runs of a job.
    begun_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    # eventTime of the event that set the state: a late START never undoes a COMPLETE.
    state_time = models.DateTimeField(null=True, blank=True)
    nominal_start_time = models.DateTimeField(null=True, blank=True)
    nominal_end_time = models.DateTimeField(null=True, blank=True)
    facets = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-begun_at", "-id"]
        indexes = [models.Index(fields=["job", "-begun_at"], name="lineage_run_job_begun_idx")]

    def __str__(self) -> str:
        return f"{self.job.key} run {self.run_id}"


class Direction(models.TextChoices):
    INPUT = "input", "Input"
    OUTPUT = "output", "Output"


class RunIO(models.Model):
    """History: a run read (input) or wrote (output) a dataset or model, in a version when known."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="io")
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="run_io")
    direction = models.CharField(max_length=6, choices=Direction.choices)
    # What the event said (version facet), and the catalog version it matched (number), if any.
    version_label = models.CharField(max_length=255, blank=True)
    version_number = models.PositiveIntegerField(null=True, blank=True)
    facets = models.JSONField(default=dict, blank=True, help_text="Dataset + input/output facets.")

    class Meta:
        ordering = ["run", "direction", "node"]
        constraints = [
            models.UniqueConstraint(fields=["run", "node", "direction"], name="lineage_runio_unique"),
        ]
        indexes = [
            models.Index(fields=["node", "direction", "version_number"], name="lineage_runio_node_idx")
        ]

    def __str__(self) -> str:
        return f"{self.run_id} {self.direction} {self.node_id}"


class Edge(models.Model):
    """The current graph: dataset → job (input) and job → dataset (output), from each job's latest run.

    Integer node ids only, indexed on both ends (src, dst) and (dst, src), so that walks in either
    direction are index-only scans.
    """

    src = models.BigIntegerField()
    dst = models.BigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["src", "dst"], name="lineage_edge_src_dst")]
        indexes = [models.Index(fields=["dst", "src"], name="lineage_edge_dst_src")]

    def __str__(self) -> str:
        return f"{self.src} -> {self.dst}"


class ColumnEdge(models.Model):
    """Current column lineage from the columnLineage facet of each job's latest run."""

    job = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="+")
    out_node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="+")
    out_field = models.CharField(max_length=1024)
    in_node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="+")
    in_field = models.CharField(max_length=1024)
    transformation_type = models.CharField(max_length=50, blank=True)
    transformation_subtype = models.CharField(max_length=50, blank=True)
    transformation_description = models.TextField(blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["out_node", "out_field"], name="lineage_coledge_out"),
            models.Index(fields=["in_node", "in_field"], name="lineage_coledge_in"),
        ]

    def __str__(self) -> str:
        return f"{self.in_node_id}.{self.in_field} -> {self.out_node_id}.{self.out_field}"
