"""Lineage tasks: thin, take ids, call a service."""

from celery import shared_task
from django.core.cache import cache
from django.db import InterfaceError, OperationalError

from lineage import services


@shared_task(
    name="lineage.fold_pending",
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=5,
)
def fold_pending() -> int:
    """Fold the pending events into the graph (queued after an event is stored, and by beat).

    The flag is cleared first, so that an event stored while this runs queues the next fold. After
    a minute of a backlog that keeps growing it hands over to a fresh task rather than holding the
    worker (and the broker's visibility timeout) indefinitely.
    """
    cache.delete(services.FOLD_QUEUED)
    done = services.fold_pending(seconds=60)
    if services.pending_upto() is not None:
        services.request_fold()
    return done


@shared_task(
    acks_late=True, autoretry_for=(OperationalError, InterfaceError), retry_backoff=True, max_retries=5
)
def apply_event(event_id: int) -> None:
    """Messages queued before the folder existed (one per large event): the event is pending, fold."""
    services.fold_pending()
