"""Lineage tasks: thin, take ids, call the folder (lineage.fold)."""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from lineage import fold


@shared_task(
    name=fold.FOLD_TASK,
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=5,
)
def fold_pending() -> int:
    """Fold the pending events into the graph (queued after events are stored, and by beat)."""
    return fold.fold_queued()


@shared_task(
    acks_late=True, autoretry_for=(OperationalError, InterfaceError), retry_backoff=True, max_retries=5
)
def apply_event(event_id: int) -> None:
    """Messages queued before the folder existed (one per large event): the event is pending, fold."""
    fold.fold_pending()


@shared_task(
    name="lineage.send_impact_email",
    ignore_result=True,
    autoretry_for=(OSError,),
    retry_backoff=30,
    max_retries=5,
)
def send_impact_email(subject: str, body: str, to: list[str]) -> int:
    """One notice of lineage.impact_notices through Django's mail API (SMTP errors are OSErrors: retried)."""
    from django.conf import settings
    from django.core.mail import send_mail

    return send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, to)
