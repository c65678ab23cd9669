"""The rows of the MLflow sync (governance.mlflow_sync): each sync job, and where a model version
registered from MLflow came from with what its run's dataset inputs were matched to."""

from django.db import models

from catalog.models import LeasedJob


class SyncStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    PARTIAL = "partial", "Partial (some model versions failed)"
    FAILED = "failed", "Failed"


class MlflowSync(LeasedJob):
    """One sync of MLflow's model registry: claimed under a lease (catalog.leases), one at a time."""

    status = models.CharField(max_length=20, choices=SyncStatus.choices, default=SyncStatus.PENDING)
    tracking_uri = models.CharField(max_length=500, help_text="As configured, without credentials.")
    seen = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0, help_text="Versions whose tags were written again.")
    unchanged = models.PositiveIntegerField(default=0)
    unknown_inputs = models.PositiveIntegerField(default=0, help_text="Inputs that matched no dataset.")
    errors = models.JSONField(default=list, blank=True, help_text='[{"model"?, "version"?, "message"}]')

    class Meta:
        ordering = ["-id"]
        constraints = [
            # One sync at a time: asking again while one waits or runs answers that one.
            models.UniqueConstraint(
                fields=["tracking_uri"],
                condition=models.Q(status__in=["pending", "running"]),
                name="one_active_mlflow_sync",
            )
        ]

    def __str__(self) -> str:
        return f"mlflow sync {self.pk} ({self.status})"


class MlflowOrigin(models.Model):
    """Where a model version registered from MLflow came from: the registered model version and its
    run, and each dataset input of the run with what it was matched to (or why nothing)."""

    model_version = models.OneToOneField(
        "governance.ModelVersion", on_delete=models.CASCADE, related_name="mlflow_origin"
    )
    tracking_uri = models.CharField(max_length=500)
    registered_name = models.CharField(max_length=255)
    mlflow_version = models.CharField(max_length=100)
    run_id = models.CharField(max_length=100, blank=True)
    experiment_id = models.CharField(max_length=100, blank=True)
    # [{"name", "digest", "source_type", "source", "context", "urn", "version", "method", "reason"}]:
    # ``urn`` null when the input matched nothing (unknown data, with the reason).
    inputs = models.JSONField(default=list, blank=True)
    unknown_inputs = models.PositiveIntegerField(default=0)
    # The tags last written on the MLflow model version ({key: value}); a sync compares them with
    # MLflow's before writing anything.
    tags = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.registered_name} v{self.mlflow_version} at {self.tracking_uri}"
