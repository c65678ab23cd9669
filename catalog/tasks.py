"""Celery tasks of the catalog: the outbox's sweep (catalog.outbox), thin as every task."""

import logging

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings

from catalog import outbox

log = logging.getLogger(__name__)


@shared_task(name="catalog.send_outbox", ignore_result=True)
def send_outbox() -> int:
    """Periodic (CELERY_BEAT_SCHEDULE): send the outbox's unsent messages, oldest first."""
    return outbox.send_pending()


@worker_ready.connect(dispatch_uid="catalog.send_outbox_on_worker_start")
def send_outbox_on_worker_start(sender=None, **kwargs) -> None:
    """A worker starting often means the broker is back (or was never reachable before): send what
    waited, without waiting for beat."""
    if getattr(settings, "OUTBOX_SWEEP_SECONDS", 0) <= 0:
        return
    from django.db import connection

    try:
        outbox.send_pending()
    except Exception:  # a failed sweep must not stop the worker from starting
        log.exception("start-up sweep of the outbox failed")
    finally:
        connection.close()  # the pool's processes open their own
