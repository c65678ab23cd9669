from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    """Policies, access requests, training clearance, the audit chain, models and model cards."""

    name = "governance"
    verbose_name = "Governance"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from governance import event_receivers, receivers

        receivers.connect()
        event_receivers.connect()
