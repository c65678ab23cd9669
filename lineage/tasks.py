"""Lineage tasks: thin, take ids, call a service."""

from celery import shared_task

from lineage import services


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def apply_event(event_id: int) -> None:
    """Apply a stored event that was too large to apply within its request."""
    services.apply_stored_event(event_id=event_id)
