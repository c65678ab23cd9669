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


@shared_task(name="catalog.run_scan", ignore_result=True, acks_late=True)
def run_scan(scan_id: int) -> str:
    """Run one source scan (claimed under a lease: a second delivery of the message is a no-op)."""
    from catalog import scans

    return scans.run_scan(scan_id)


@shared_task(name="catalog.scheduled_scan", ignore_result=True)
def scheduled_scan(source_id: int) -> int | None:
    """Beat's entry for a source's cron schedule (catalog.sources.sync_schedule): queue its scan."""
    from catalog import scans
    from catalog.models import Source

    source = Source.objects.filter(pk=source_id).first()
    if source is None:
        return None
    return scans.request_scan(actor=None, source=source, trigger="schedule").pk


@shared_task(name="catalog.requeue_stale_scans", ignore_result=True)
def requeue_stale_scans() -> list[int]:
    """Periodic: queue again the scans whose worker died or whose message was lost."""
    from catalog import scans

    return scans.requeue_stale_scans()
