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
