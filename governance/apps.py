from django.apps import AppConfig
from django.db.models.signals import post_migrate


class GovernanceConfig(AppConfig):
    """Policies, access requests, training clearance, the audit chain, models and model cards."""

    name = "governance"
    verbose_name = "Governance"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from governance import event_receivers, receivers

        receivers.connect()
        event_receivers.connect()
        post_migrate.connect(_keep_mlflow_schedule, sender=self, dispatch_uid="governance-mlflow-schedule")


def _keep_mlflow_schedule(sender, **kwargs) -> None:
    """Each ``migrate`` makes beat's "mlflow-sync" entry follow MLFLOW_SYNC_CRON (docs/mlflow.md)."""
    from governance import mlflow_jobs

    mlflow_jobs.keep_schedule()
