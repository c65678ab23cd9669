"""What profiling keeps: one profile job per dataset version, each dataset's expectation suite,
and the quality result of every version (the history stewards and governance read)."""

from django.conf import settings
from django.db import models


class RunStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class ProfileRun(models.Model):
    """The profile of one dataset version and the job that computes it.

    One row per version: a re-run resets it to pending rather than adding rows, so "the profile of
    version n" is always one row. ``claim_token`` and ``heartbeat_at`` form a lease: the worker that
    holds the token owns the job, and a job whose lease went stale (its worker died) is taken over
    by the next delivery of its message.
    """

    version = models.OneToOneField(
        "catalog.DatasetVersion", on_delete=models.CASCADE, related_name="profile_run"
    )
    # Denormalised so that history and "latest profile" reads need no join through versions.
    dataset = models.ForeignKey("catalog.Dataset", on_delete=models.CASCADE, related_name="profile_runs")
    version_number = models.PositiveIntegerField()
    status = models.CharField(max_length=20, choices=RunStatus.choices, default=RunStatus.PENDING)
    progress = models.FloatField(default=0.0)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0, help_text="How many times a worker claimed the job.")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    claim_token = models.CharField(max_length=64, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    row_count = models.BigIntegerField(null=True, blank=True)
    columns = models.JSONField(default=list, blank=True)
    schema = models.JSONField(default=list, blank=True)
    pii = models.JSONField(default=dict, blank=True)
    quality = models.JSONField(null=True, blank=True)
    bias = models.JSONField(null=True, blank=True)
    drift = models.JSONField(null=True, blank=True)
    drift_state = models.JSONField(null=True, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    method = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["dataset_id", "-version_number"]
        indexes = [
            models.Index(fields=["dataset", "status", "-version_number"], name="profrun_ds_status_idx")
        ]

    def __str__(self) -> str:
        return f"profile of {self.version_id} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in (RunStatus.SUCCEEDED, RunStatus.FAILED)


class SuiteOrigin(models.TextChoices):
    PROPOSED = "proposed", "Proposed from the first profile"
    EDITED = "edited", "Edited by a person"
    IMPORTED = "imported", "Imported from a Great Expectations export"


class ExpectationSuite(models.Model):
    """A dataset's expectation suite, in Great Expectations 1.x's own form.

    ``expectations`` is a list of ``{"type", "kwargs", "meta"}`` exactly as GX's
    ``ExpectationSuite.to_json_dict()`` writes them (without GX's ids), so that it goes back into
    GX unchanged. ``version`` counts the saves; a quality result records which one it ran.
    """

    dataset = models.OneToOneField(
        "catalog.Dataset", on_delete=models.CASCADE, related_name="expectation_suite"
    )
    name = models.CharField(max_length=255)
    expectations = models.JSONField(default=list, blank=True)
    meta = models.JSONField(default=dict, blank=True)
    version = models.PositiveIntegerField(default=1)
    origin = models.CharField(max_length=20, choices=SuiteOrigin.choices)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class QualityResult(models.Model):
    """The outcome of a dataset version's suite: one row per version, replaced on a re-run.

    Kept apart from the profile's JSON so that the history across versions is one indexed query.
    """

    dataset = models.ForeignKey("catalog.Dataset", on_delete=models.CASCADE, related_name="quality_results")
    version = models.OneToOneField(
        "catalog.DatasetVersion", on_delete=models.CASCADE, related_name="quality_result"
    )
    version_number = models.PositiveIntegerField()
    success = models.BooleanField()
    score = models.FloatField()
    evaluated = models.PositiveIntegerField(default=0)
    successful = models.PositiveIntegerField(default=0)
    suite_version = models.PositiveIntegerField(null=True, blank=True)
    results = models.JSONField(default=list, blank=True)
    method = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["dataset_id", "-version_number"]
        indexes = [models.Index(fields=["dataset", "-version_number"], name="quality_ds_version_idx")]

    def __str__(self) -> str:
        return f"quality of {self.version_id}: {self.score:.2f}"


class Metric(models.TextChoices):
    PSI = "psi", "Population stability index of a column against the reference"
    KS_PVALUE = "ks_pvalue", "Kolmogorov-Smirnov p-value of a column against the reference"
    QUALITY_SCORE = "quality_score", "Share of the quality suite's expectations met"
    NULL_FRACTION = "null_fraction", "Share of a column's values that are null"
    GROUP_SHARE = "group_share", "Share of the rows in a group of a sensitive column"
    PII = "pii", "Personal data found that the reference did not have"
    SCHEMA_CHANGE = "schema_change", "Columns added, removed or retyped against the reference"
    FRESHNESS_HOURS = "freshness_hours", "Hours since the latest version"


class Monitor(models.Model):
    """A dataset's monitor: when to look again on its own (a cron ``schedule``, run by beat through
    ``periodic_task``), what to compare with (``reference_version``: a pinned "training reference",
    or None for the previous version), and its rules (MonitorRule).

    ``freshness_due_at`` is the earliest moment a freshness rule without an open alert would fire:
    the periodic sweep reads only the monitors whose moment has come (one indexed range), so that
    thousands of datasets with nothing due cost it nothing.
    """

    dataset = models.OneToOneField("catalog.Dataset", on_delete=models.CASCADE, related_name="monitor")
    schedule = models.CharField(
        max_length=100, blank=True, help_text="5-field cron; empty: no runs of its own."
    )
    reference_version = models.PositiveIntegerField(
        null=True, blank=True, help_text="A pinned version to compare with; empty: the previous version."
    )
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    freshness_due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_run_at = models.DateTimeField(null=True, blank=True, help_text="When its schedule last ran it.")
    last_run_note = models.TextField(blank=True)
    last_evaluated_version = models.PositiveIntegerField(null=True, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"monitor of {self.dataset_id}"


class MonitorRule(models.Model):
    """One rule of a monitor: it fires when ``metric`` (of ``column``, of ``group``) ``op`` ``threshold``
    holds. A rule that is sent again unchanged keeps its row, and so its open alert."""

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="rules")
    position = models.PositiveIntegerField(default=0)
    metric = models.CharField(max_length=30, choices=Metric.choices)
    column = models.CharField(max_length=1024, blank=True)
    group = models.CharField(max_length=1024, blank=True)
    op = models.CharField(max_length=1, choices=[(">", ">"), ("<", "<")])
    threshold = models.FloatField()
    # Its last judgement: "firing", "passing" or "unknown" (the version could not say), with the
    # figure and the version judged; empty until first judged.
    state = models.CharField(max_length=10, blank=True)
    value = models.FloatField(null=True, blank=True)
    judged_version = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["monitor_id", "position", "pk"]

    def __str__(self) -> str:
        target = f"({self.column}{'=' + self.group if self.group else ''})" if self.column else ""
        return f"{self.metric}{target} {self.op} {self.threshold:g}"

    def spec(self) -> dict:
        """The rule as the API writes it."""
        return {
            "metric": self.metric,
            "column": self.column or None,
            "group": self.group or None,
            "op": self.op,
            "threshold": self.threshold,
        }


class AlertStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


ACTIVE_ALERT = (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED)


class Alert(models.Model):
    """A rule of a dataset's monitor that fired: open → acknowledged → resolved (by a person, with a
    comment, or by itself when the rule passes again). At most one alert per rule is not resolved.

    ``rule`` is kept as it was (``rule_spec``) since rules change and go; ``figures`` are what
    raised it, ``resolved_figures`` what cleared it; ``history`` lists every step with who and why.
    """

    dataset = models.ForeignKey("catalog.Dataset", on_delete=models.CASCADE, related_name="alerts")
    rule = models.ForeignKey(
        MonitorRule, on_delete=models.SET_NULL, null=True, blank=True, related_name="alerts"
    )
    rule_spec = models.JSONField()
    status = models.CharField(max_length=20, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    version_number = models.PositiveIntegerField(
        null=True, blank=True, help_text="The version that raised it."
    )
    reference_version = models.PositiveIntegerField(null=True, blank=True)
    message = models.TextField()
    figures = models.JSONField(default=dict)
    resolved_figures = models.JSONField(null=True, blank=True)
    history = models.JSONField(default=list)
    opened_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolution = models.CharField(max_length=20, blank=True, help_text="by_hand, passed or rule_removed")

    class Meta:
        ordering = ["-opened_at", "-pk"]
        indexes = [models.Index(fields=["dataset", "status", "-opened_at"], name="alert_ds_status_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["rule"],
                condition=models.Q(status__in=["open", "acknowledged"]),
                name="one_active_alert_per_rule",
            )
        ]

    def __str__(self) -> str:
        return f"alert {self.pk} on {self.dataset_id} ({self.status})"


class PartStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class ProfilePart(models.Model):
    """One part of a profile job spread over several workers (profiling.part_jobs): some cells of
    the version's file, claimed under a lease like the run (``claim_token`` + ``heartbeat_at``),
    and the engine's state it produced (``state``, profiling.engine.codec) for the merge."""

    run = models.ForeignKey(ProfileRun, on_delete=models.CASCADE, related_name="parts")
    index = models.PositiveIntegerField()
    cells = models.JSONField(default=list)
    spec = models.TextField(help_text="The engine's ProfileSpec as JSON (the same for every part).")
    run_token = models.CharField(max_length=64, help_text="The run's claim token when the parts were made.")
    status = models.CharField(max_length=20, choices=PartStatus.choices, default=PartStatus.PENDING)
    claim_token = models.CharField(max_length=64, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(auto_now_add=True)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    state = models.BinaryField(null=True, blank=True)
    # What the quality suite's native evaluation gathered in this part (profiling.native_codec).
    quality_state = models.BinaryField(null=True, blank=True)

    class Meta:
        ordering = ["run_id", "index"]
        constraints = [models.UniqueConstraint(fields=["run", "index"], name="profpart_run_index_uniq")]

    def __str__(self) -> str:
        return f"part {self.index} of run {self.run_id} ({self.status})"


class PrivacyBounds(models.Model):
    """What a steward publishes about one column so that differentially private figures of it can be
    released (profiling/privacy.py): numeric clamping bounds and histogram bins, or the public set of
    categories. Never taken from the data: bounds read off the data would leak its extremes."""

    dataset = models.ForeignKey("catalog.Dataset", on_delete=models.CASCADE, related_name="privacy_bounds")
    column = models.CharField(max_length=1024)
    lower = models.FloatField(null=True, blank=True)
    upper = models.FloatField(null=True, blank=True)
    bins = models.PositiveIntegerField(default=10)
    categories = models.JSONField(default=list, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["dataset_id", "column"]
        constraints = [models.UniqueConstraint(fields=["dataset", "column"], name="privbounds_ds_col_uniq")]

    def __str__(self) -> str:
        return f"privacy bounds of {self.column}"


class PrivacyBudget(models.Model):
    """The privacy loss a steward allows on one dataset version: ``epsilon_total`` in all, each
    release spending ``epsilon_per_release``; ``epsilon_spent`` is the sum of its releases' ε (the
    ledger), kept here so that the check-and-spend is one locked row."""

    version = models.OneToOneField(
        "catalog.DatasetVersion", on_delete=models.CASCADE, related_name="privacy_budget"
    )
    dataset = models.ForeignKey("catalog.Dataset", on_delete=models.CASCADE, related_name="privacy_budgets")
    epsilon_total = models.FloatField(default=0.0)
    epsilon_per_release = models.FloatField(default=1.0)
    epsilon_spent = models.FloatField(default=0.0)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"privacy budget of {self.version_id}: {self.epsilon_spent}/{self.epsilon_total}"


class PrivateRelease(models.Model):
    """One differentially private release of a version's profile, and its line in the ledger: who
    asked for it, when, which columns, at what ε. Stored so that it is served again as it was (a
    refresh draws no new noise); ``fingerprint`` names the steward settings it was computed with."""

    version = models.ForeignKey(
        "catalog.DatasetVersion", on_delete=models.CASCADE, related_name="private_releases"
    )
    dataset = models.ForeignKey("catalog.Dataset", on_delete=models.CASCADE, related_name="private_releases")
    fingerprint = models.CharField(max_length=64)
    epsilon = models.FloatField()
    columns = models.JSONField(default=list, blank=True)
    body = models.JSONField(default=dict, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requester = models.CharField(max_length=150, blank=True)  # kept when the user is deleted
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["version_id", "-created_at", "-id"]
        indexes = [models.Index(fields=["version", "fingerprint"], name="privrel_version_fp_idx")]

    def __str__(self) -> str:
        return f"DP release of {self.version_id} (ε={self.epsilon})"
