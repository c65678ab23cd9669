"""Celery tasks of governance: thin, they load by id and call a service or a notifier."""

import logging
import urllib.request

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings
from django.core.mail import send_mail

from catalog import outbox
from governance import access_requests, audit_anchor, deliveries, evaluations, notifications
from governance.events import DELIVER_TASK
from governance.models import AccessRequestEvent

log = logging.getLogger(__name__)


@shared_task(bind=True, ignore_result=True)
def notify_access_request_event(self, event_id: int) -> None:
    """E-mail the people concerned by one step of a request. (The webhook that GOVERNANCE_WEBHOOK_URL
    names is the system subscription now: the step's access_request.* event reaches it through
    deliver_events, as every subscription.)"""
    event = (
        AccessRequestEvent.objects.select_related("request__requester", "actor").filter(pk=event_id).first()
    )
    if event is None:
        return
    notifications.send_emails(event)


@shared_task(bind=True, name=DELIVER_TASK, ignore_result=True, acks_late=True)
def deliver_events(self) -> int:
    """Fan out the recorded events and deliver what is due (governance/deliveries.py). Queued by each
    event through the outbox, by beat (EVENTS_SWEEP_SECONDS), by a starting worker, and by itself
    for the next retry (on the queue it came from)."""
    return deliveries.run(queue=(self.request.delivery_info or {}).get("routing_key") or None)


@shared_task(name="governance.prune_events", ignore_result=True)
def prune_events() -> int:
    """Periodic: forget events and deliveries older than EVENTS_KEEP_DAYS."""
    return deliveries.prune()


@shared_task(name="governance.prune_retention", ignore_result=True)
def prune_retention() -> dict[str, int]:
    """Periodic: prune what is past its retention setting, at most RETENTION_BEAT_LIMIT rows of each
    kind per run (the next run goes on)."""
    from governance.retention import prune_all

    return prune_all(limit=getattr(settings, "RETENTION_BEAT_LIMIT", 100_000))


def _queue_of(consumer) -> str | None:
    """Where this worker takes deliveries from: EVENTS_QUEUE, else Celery's default queue if it
    consumes it, else the first queue it consumes (``-Q``)."""
    wanted = getattr(settings, "EVENTS_QUEUE", "") or None
    app = getattr(consumer, "app", None)
    consumed = list(getattr(getattr(getattr(app, "amqp", None), "queues", None), "consume_from", None) or [])
    if not consumed or wanted in consumed:
        return wanted
    default = app.conf.task_default_queue
    return wanted or (default if default in consumed else consumed[0])


@worker_ready.connect(dispatch_uid="governance.deliver_events_on_worker_start")
def deliver_events_on_worker_start(sender=None, **kwargs) -> None:
    """A worker starting may follow one that was killed holding deliveries: queue a run (its leases
    end after EVENTS_DELIVERY_LEASE_SECONDS; the run queues itself for then), without waiting for beat."""
    from django.db import connection

    try:
        outbox.enqueue(DELIVER_TASK, queue=_queue_of(sender))
    except Exception:  # a failed start-up run must not stop the worker from starting
        log.exception("start-up run of the event deliveries not queued")
    finally:
        connection.close()  # the pool's processes open their own


@shared_task(
    bind=True,
    ignore_result=True,
    autoretry_for=(OSError,),
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=8,
)
def post_webhook(self, data: dict) -> int:
    """Deprecated: POST one signed event to GOVERNANCE_WEBHOOK_URL as before subscriptions existed.
    Nothing queues it any more; kept so that messages queued by the previous release still run."""
    url, secret = settings.GOVERNANCE_WEBHOOK_URL, settings.GOVERNANCE_WEBHOOK_SECRET
    body = notifications.encode(data)
    req = urllib.request.Request(  # noqa: S310 - the URL is the operator's setting, not user input
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Gouvernail-webhook/1",
            notifications.SIGNATURE_HEADER: notifications.sign(body, secret),
        },
    )
    # urllib raises HTTPError (an OSError) on 4xx/5xx: both are retried, a receiver may be deploying.
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
        return resp.status


@shared_task(ignore_result=True)
def expire_access_requests() -> int:
    """Periodic (CELERY_BEAT_SCHEDULE): approved requests past their expiry become expired, and live
    requests left without any dataset (deleted) end."""
    count = access_requests.expire_due_access_requests()
    if count:
        log.info("expired %d access request(s)", count)
    ended = access_requests.end_requests_without_datasets()
    if ended:
        log.info("ended %d access request(s) whose datasets were deleted", ended)
    return count + ended


@shared_task(ignore_result=True, autoretry_for=(OSError,), retry_backoff=30, max_retries=5)
def send_email(subject: str, body: str, to: list[str]) -> int:
    """One plain e-mail through Django's mail API (SMTP errors are OSErrors: retried)."""
    return send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, to)


@shared_task(ignore_result=True)
def write_audit_anchor() -> int | None:
    """Beat: append the audit chain's signed head outside the database (governance/audit_anchor.py)."""
    anchor = audit_anchor.write_anchor()
    return anchor.seq if anchor else None


@shared_task(name=evaluations.RUN_TASK, ignore_result=True, acks_late=True)
def run_evaluation(evaluation_id: int) -> str | None:
    """Compute one model evaluation (governance/evaluations.py); a duplicate message finds it taken."""
    return evaluations.run_evaluation(evaluation_id)


@shared_task(name="governance.run_mlflow_sync", ignore_result=True, acks_late=True)
def run_mlflow_sync(job_id: int) -> str:
    """Run one MLflow sync job (governance/mlflow_jobs.py): claimed under a lease, run once."""
    from governance import mlflow_jobs

    return mlflow_jobs.run_job(job_id)


@shared_task(name="governance.request_mlflow_sync", ignore_result=True)
def request_mlflow_sync() -> int | None:
    """Beat (MLFLOW_SYNC_CRON): queue a sync (the active one, if any) and take over abandoned ones."""
    from governance import mlflow_jobs, mlflow_sync

    mlflow_jobs.requeue_stale()
    try:
        return mlflow_jobs.request_sync(actor=None, trigger="schedule").pk
    except mlflow_sync.Unavailable:
        log.warning("MLflow sync scheduled but MLFLOW_TRACKING_URI is not set")
        return None
