"""The transactional outbox: Celery tasks queued in the same transaction as the change they follow.

A change that must be followed by a task (an access-request step by its e-mails and webhook) writes
an OutboxMessage with ``enqueue`` inside its own transaction: both commit, or neither does. After
the commit the message is sent (``apply_async``) and marked sent. When the broker cannot take it
(down, restarting, out of reach) the row stays unsent and nothing fails for the person who made
the change; the sweep (``send_pending``: beat every OUTBOX_SWEEP_SECONDS, and each worker as it
starts) sends what is unsent, oldest first.

Each row is sent once: a sender takes the row under a lock (``select_for_update(skip_locked=True)``
on PostgreSQL, so concurrent senders take different rows; SQLite runs one writer at a time) and
marks it sent in the same transaction as it publishes. The only way a message goes twice is the
database failing between the publish and that commit: tasks sent this way are harmless to repeat.

Any app may write messages (catalog is the base app every other one may import); tasks are named
as Celery knows them (``task.name``), their arguments must be JSON.
"""

import logging
import threading
import time
from collections.abc import Iterable
from datetime import timedelta
from functools import partial
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from catalog.models import OutboxMessage

log = logging.getLogger(__name__)

# One reconnection (a pooled connection that died with a restarted broker), then give up: the sweep
# is the retry, and a request must not wait on a broker that is down.
PUBLISH_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}

_lock = threading.Lock()
_broker_down_until = 0.0


def enqueue(
    task: Any,
    args: Iterable[Any] = (),
    kwargs: dict[str, Any] | None = None,
    *,
    queue: str | None = None,
    options: dict[str, Any] | None = None,
) -> OutboxMessage:
    """Write a message for ``task`` (a Celery task or its name) in the current transaction; it is sent
    once that commits (at once outside a transaction), or by the sweep if the broker cannot take it.

    ``options``: more apply_async options, as JSON (e.g. ``time_limit``, ``soft_time_limit``)."""
    message = OutboxMessage.objects.create(
        task=getattr(task, "name", task),
        args=list(args),
        kwargs=dict(kwargs or {}),
        options={**(options or {}), **({"queue": queue} if queue else {})},
    )
    transaction.on_commit(partial(_send_after_commit, message.pk), robust=True)
    return message


def _send_after_commit(pk: int) -> None:
    """Send the committed messages up to ``pk``, oldest first (a backlog left by an outage goes first),
    at most OUTBOX_SEND_AFTER_COMMIT of them: a larger backlog is the sweep's."""
    if time.monotonic() < _broker_down_until:
        return  # it failed moments ago: leave it to the sweep rather than wait on it again
    for _ in range(max(1, int(getattr(settings, "OUTBOX_SEND_AFTER_COMMIT", 20)))):
        if _send_next(upto=pk) is not True:
            return


def send_pending(*, limit: int | None = None) -> int:
    """The sweep: send unsent messages, oldest first, until none is left, the broker fails, or
    ``limit`` were sent → how many were sent. Also forgets messages sent over OUTBOX_KEEP_SENT_DAYS ago."""
    sent = 0
    while limit is None or sent < limit:
        outcome = _send_next()
        if outcome is not True:
            break
        sent += 1
    keep = timedelta(days=float(getattr(settings, "OUTBOX_KEEP_SENT_DAYS", 7)))
    OutboxMessage.objects.filter(sent_at__lt=timezone.now() - keep).delete()
    if sent:
        log.info("outbox: sent %d message(s)", sent)
    return sent


def _send_next(*, upto: int | None = None) -> bool | None:
    """Send the oldest unsent message (of id <= ``upto``) → True sent, None none left, False the
    broker refused it (the row stays unsent, its attempt counted)."""
    with transaction.atomic():
        rows = OutboxMessage.objects.select_for_update(skip_locked=True).filter(sent_at__isnull=True)
        if upto is not None:
            rows = rows.filter(pk__lte=upto)
        message = rows.order_by("pk").first()
        if message is None:
            return None
        try:
            _publish(message)
        except Exception as exc:  # noqa: BLE001 - the broker's errors vary by transport
            OutboxMessage.objects.filter(pk=message.pk).update(
                attempts=F("attempts") + 1, last_error=str(exc)[:1000]
            )
            _broker_failed(exc)
            return False
        OutboxMessage.objects.filter(pk=message.pk).update(
            sent_at=timezone.now(), attempts=F("attempts") + 1, last_error=""
        )
    _broker_back()
    return True


def _publish(message: OutboxMessage) -> None:
    app = current_app
    task = app.tasks.get(message.task)
    if task is None:  # a task this process has not imported: by name
        app.send_task(
            message.task,
            args=message.args,
            kwargs=message.kwargs,
            retry_policy=PUBLISH_RETRY,
            **message.options,
        )
        return
    if app.conf.task_always_eager:
        # Run here (development, unit tests): the message is delivered whatever the task does.
        try:
            task.apply_async(args=message.args, kwargs=message.kwargs, **message.options)
        except Exception:  # noqa: BLE001 - a task's own failure, not the broker's
            log.exception("outbox: task %s of message %s failed (run eagerly)", message.task, message.pk)
        return
    task.apply_async(args=message.args, kwargs=message.kwargs, retry_policy=PUBLISH_RETRY, **message.options)


def _broker_back() -> None:
    global _broker_down_until
    if _broker_down_until:
        with _lock:
            _broker_down_until = 0.0


def _broker_failed(exc: Exception) -> None:
    """Log once per interval, and let requests skip sending until the interval is over."""
    global _broker_down_until
    interval = float(getattr(settings, "OUTBOX_SWEEP_SECONDS", 10) or 10)
    with _lock:
        first = time.monotonic() >= _broker_down_until
        _broker_down_until = time.monotonic() + interval
    if first:
        log.warning(
            "outbox: the broker did not take a message (%s); unsent messages wait for the sweep "
            "(every %.0f s, and when a worker starts)",
            exc,
            interval,
        )
