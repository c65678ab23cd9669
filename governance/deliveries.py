"""The worker side of events: fan each recorded event out to the subscriptions that match it, then
deliver what is due, again and again with backoff until it is delivered or given up.

One task does it all (``governance.deliver_events``, governance/tasks.py): every recorded event
queues it through the outbox, beat runs it every EVENTS_SWEEP_SECONDS, each worker queues it as it
starts, and it queues itself for the next retry that falls due (a "wake-up"), so that a retry does
not wait for beat. Any number of these runs may work at once: they take disjoint rows.

* **Fan-out.** Events not yet dispatched are taken under a lock (``skip_locked`` on PostgreSQL;
  SQLite runs one writer at a time), matched against the active subscriptions (event patterns, the
  dataset or namespace, what the subscription's owner may see: governance/events.py), and become one
  Delivery per subscription and channel; the event is marked dispatched in the same transaction.
* **Claim.** Due deliveries are taken the same way: ``due_at`` moves a lease ahead (EVENTS_DELIVERY_
  LEASE_SECONDS) and ``claim_token`` is written. A worker killed mid-delivery leaves them due again
  once the lease is over: every event is delivered at least once (receivers de-duplicate with the
  event id, ``X-Gouvernail-Delivery``).
* **Deliver.** The claimed batch is sent from a pool of threads, one subscription's deliveries in
  order by one thread; when a receiver does not answer (or answers 5xx), the rest of its batch is
  put back untried behind that delivery's retry (a receiver that is down costs one timeout per
  retry, not one per event). Webhooks go through
  governance/webhooks.py (signed, SSRF-checked, no redirects, bounded in time and size); e-mail
  through Django's e-mail backend. No database access happens in the threads.
* **Record.** A 2xx ends a delivery; anything else is retried after EVENTS_RETRY_BASE_SECONDS x 2^n
  (with jitter, at most EVENTS_RETRY_MAX_SECONDS), up to EVENTS_DELIVERY_MAX_ATTEMPTS attempts;
  a refused URL (a private address) or an e-mail without an address is not retried.
"""

from __future__ import annotations

import json
import logging
import os
import random
import smtplib
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from governance import events as catalogue
from governance import notifications, webhooks
from governance.models import Channel, Delivery, DeliveryStatus, Event, Subscription, SubscriptionFormat
from governance.subscriptions import sync_system_subscription

log = logging.getLogger(__name__)

DUE = (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)
FAN_OUT_BATCH = 200
EVENT_HEADER = "X-Gouvernail-Event"
DELIVERY_HEADER = "X-Gouvernail-Delivery"


def _setting(name: str, default: float) -> float:
    return float(getattr(settings, name, default))


def batch_size() -> int:
    return max(1, int(_setting("EVENTS_DELIVERY_BATCH", 100)))


def lease_seconds() -> float:
    return _setting("EVENTS_DELIVERY_LEASE_SECONDS", 60)


def max_attempts() -> int:
    return max(1, int(_setting("EVENTS_DELIVERY_MAX_ATTEMPTS", 12)))


def backoff(attempts: int) -> float:
    """Seconds before attempt ``attempts + 1``: exponential, capped, with ±20 % jitter."""
    base = _setting("EVENTS_RETRY_BASE_SECONDS", 10) * 2 ** max(0, attempts - 1)
    return min(_setting("EVENTS_RETRY_MAX_SECONDS", 3600), base) * random.uniform(0.8, 1.2)  # noqa: S311


# ---------------------------------------------------------------------------------------------
# The run


def run(*, seconds: float | None = None, queue: str | None = None) -> int:
    """Fan out what is waiting, then deliver what is due until nothing is or ``seconds`` (default
    EVENTS_RUN_SECONDS) are spent → how many deliveries were attempted. Queues the next run for the
    next retry that falls due (on ``queue``: the one this run came from, so that a worker dedicated
    to a queue keeps its follow-ups; else EVENTS_QUEUE or Celery's default)."""
    deadline = time.monotonic() + (seconds if seconds is not None else _setting("EVENTS_RUN_SECONDS", 30))
    attempted = 0
    fan_out()
    while time.monotonic() < deadline:
        token, claimed = claim_due(limit=batch_size())
        if not claimed:
            if fan_out() == 0:
                break
            continue
        deliver(claimed, token=token)
        attempted += len(claimed)
        fan_out()
    wake_up(queue=queue)
    return attempted


# ---------------------------------------------------------------------------------------------
# Fan-out


def fan_out(*, limit: int = FAN_OUT_BATCH) -> int:
    """Turn every event not yet dispatched into its deliveries → how many events were dispatched."""
    total = 0
    while True:
        done = _fan_out_batch(limit)
        total += done
        if done < limit:
            return total


@transaction.atomic
def _fan_out_batch(limit: int) -> int:
    batch = list(
        Event.objects.select_for_update(skip_locked=True)
        .filter(dispatched_at__isnull=True)
        .order_by("pk")[:limit]
    )
    if not batch:
        return 0
    sync_system_subscription()
    subs = list(Subscription.objects.filter(active=True).select_related("owner"))
    Delivery.objects.bulk_create(deliveries_for(batch, subs), batch_size=500)
    Event.objects.filter(pk__in=[e.pk for e in batch]).update(dispatched_at=timezone.now())
    return len(batch)


def _groups_of(user_ids: set[int]) -> dict[int, set[int]]:
    through = get_user_model().groups.through
    out: dict[int, set[int]] = defaultdict(set)
    for uid, gid in through.objects.filter(user_id__in=user_ids).values_list("user_id", "group_id"):
        out[uid].add(gid)
    return out


def _candidates(batch: list[Event], subs: list[Subscription]) -> dict[int, list[Event]]:
    """For each subscription, the events of the batch it asks for (names, dataset, namespace)."""
    wants: dict[tuple[int, str], bool] = {}
    out: dict[int, list[Event]] = defaultdict(list)
    for event in batch:
        for sub in subs:
            key = (sub.pk, event.name)
            if key not in wants:
                wants[key] = catalogue.matches(sub.events, event.name)
            if not wants[key]:
                continue
            if sub.dataset_id is not None and sub.dataset_id not in event.dataset_ids:
                continue
            if sub.namespace and sub.namespace not in event.namespaces:
                continue
            out[sub.pk].append(event)
    return out


def deliveries_for(batch: list[Event], subs: list[Subscription]) -> list[Delivery]:
    """The unsaved deliveries of a batch of events: each subscription that asks for an event and
    whose owner may see it (and still belongs to its group), once per channel."""
    candidates = _candidates(batch, subs)
    by_pk = {s.pk: s for s in subs}
    wanted_by_owner: dict[int, dict[int, Event]] = defaultdict(dict)
    for sub_pk, evs in candidates.items():
        sub = by_pk[sub_pk]
        if not sub.system:
            wanted_by_owner[sub.owner_id].update({e.pk: e for e in evs})
    owners = {s.owner_id: s.owner for s in subs if s.owner_id in wanted_by_owner}
    visible = {
        uid: catalogue.visible_event_ids(owners[uid], evs.values()) for uid, evs in wanted_by_owner.items()
    }
    groups = _groups_of({by_pk[pk].owner_id for pk in candidates if by_pk[pk].group_id})
    rows = []
    now = timezone.now()
    for sub_pk, evs in candidates.items():
        sub = by_pk[sub_pk]
        if sub.group_id is not None and sub.group_id not in groups.get(sub.owner_id, ()):
            continue  # the owner left the group: the subscription hears nothing until they are back
        channels = [c for c, on in ((Channel.WEBHOOK, bool(sub.url)), (Channel.EMAIL, sub.email)) if on]
        for event in evs:
            if sub.system or event.pk in visible.get(sub.owner_id, ()):
                rows += [Delivery(subscription=sub, event=event, channel=c, due_at=now) for c in channels]
    return rows


# ---------------------------------------------------------------------------------------------
# Claim


@transaction.atomic
def claim_due(*, limit: int) -> tuple[str, list[Delivery]]:
    """Take up to ``limit`` due deliveries under a lease → (the claim's token, them)."""
    now = timezone.now()
    ids = list(
        Delivery.objects.select_for_update(skip_locked=True)
        .filter(status__in=DUE, due_at__lte=now)
        .order_by("due_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    if not ids:
        return "", []
    token = uuid.uuid4().hex
    Delivery.objects.filter(pk__in=ids).update(
        claim_token=token,
        due_at=now + timedelta(seconds=lease_seconds()),
        attempts=F("attempts") + 1,
        last_attempt_at=now,
    )
    claimed = Delivery.objects.filter(pk__in=ids).select_related("event", "subscription__owner")
    return token, sorted(claimed, key=lambda d: (d.event_id, d.pk))


# ---------------------------------------------------------------------------------------------
# Deliver


@dataclass
class Job:
    """One claimed delivery, with everything its sending needs (threads do not touch the database)."""

    delivery_id: int
    attempts: int
    subscription_id: int
    channel: str
    url: str = ""
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    private_ok: bool = False
    to: list[str] = field(default_factory=list)
    subject: str = ""
    text: str = ""


@dataclass
class Outcome:
    job: Job
    ok: bool = False
    status: int | None = None
    error: str = ""
    response: str = ""
    permanent: bool = False  # not worth sending again
    released: bool = False  # not tried: put back as it was


def envelope(event: Event) -> dict[str, Any]:
    """What a JSON webhook receives."""
    return {
        "id": str(event.uid),
        "event": event.name,
        "occurred_at": event.occurred_at.isoformat(),
        "data": event.data,
    }


def slack_text(event: Event) -> str:
    """Slack's mrkdwn treats &, < and > as markup: escaped as Slack asks."""
    line = catalogue.summary(event.name, event.data)
    return "Gouvernail · " + line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def body_for(event: Event, fmt: str) -> bytes:
    if fmt == SubscriptionFormat.SLACK:
        return notifications.encode({"text": slack_text(event)})
    if fmt == SubscriptionFormat.LEGACY:
        # The envelope, and the former access-request webhook's fields at the top level.
        return notifications.encode({**event.data, "at": event.occurred_at.isoformat(), **envelope(event)})
    return notifications.encode(envelope(event))


def _email_recipients(sub: Subscription, event: Event, seen: dict) -> list[str]:
    """The owner, or the group's members, who have an address and may see the event."""
    if sub.group_id is None:
        people = [sub.owner] if sub.owner_id else []
    else:
        people = list(get_user_model().objects.filter(groups=sub.group_id, is_active=True).exclude(email=""))
    out = []
    for person in people:
        if (person.pk, event.pk) not in seen:
            seen[(person.pk, event.pk)] = event.pk in catalogue.visible_event_ids(person, [event])
        if seen[(person.pk, event.pk)] and person.email:
            out.append(person.email)
    return sorted(set(out))


def _job(d: Delivery, bodies: dict, seen: dict) -> Job:
    sub, event = d.subscription, d.event
    job = Job(delivery_id=d.pk, attempts=d.attempts, subscription_id=sub.pk, channel=d.channel)
    if d.channel == Channel.WEBHOOK:
        key = (event.pk, sub.format)
        if key not in bodies:
            bodies[key] = body_for(event, sub.format)
        job.url, job.body, job.private_ok = sub.url, bodies[key], sub.system or webhooks.allow_private()
        job.headers = {
            "Content-Type": "application/json",
            EVENT_HEADER: event.name,
            DELIVERY_HEADER: str(event.uid),
            notifications.SIGNATURE_HEADER: notifications.sign(job.body, sub.secret),
        }
    else:
        job.to = _email_recipients(sub, event, seen)
        line = catalogue.summary(event.name, event.data)
        job.subject = "[Gouvernail] " + " ".join(line.split())[:180]
        job.text = (
            f"{line}\n\n{json.dumps(envelope(event), indent=2, sort_keys=True)}\n\n-- \n"
            f"Subscription #{sub.pk} ({', '.join(sub.events)}); manage it on the Subscriptions page of Gouvernail."
        )
    return job


def _send(job: Job) -> Outcome:
    if job.channel == Channel.WEBHOOK:
        answer = webhooks.post(job.url, job.body, job.headers, private_ok=job.private_ok)
        return Outcome(job, answer.ok, answer.status, answer.error, answer.excerpt, permanent=answer.refused)
    if not job.to:
        return Outcome(job, error="No e-mail address to send to (or nobody who may see it).", permanent=True)
    try:
        with get_connection() as connection:
            sent = connection.send_messages(
                [EmailMessage(job.subject, job.text, settings.DEFAULT_FROM_EMAIL, [to]) for to in job.to]
            )
    except (OSError, smtplib.SMTPException) as exc:
        return Outcome(job, error=f"E-mail not sent: {exc}")
    return Outcome(job, ok=True, response=f"sent to {sent} address(es)")


def _send_in_order(jobs: list[Job]) -> list[Outcome]:
    """One subscription's jobs of a channel, in order. When the receiver does not answer or answers
    5xx, the rest are put back untried, to wait for that one's retry (a receiver that is down costs
    one timeout per retry, not one per event); an answer about one event (4xx) does not stop the rest."""
    out: list[Outcome] = []
    for i, job in enumerate(jobs):
        outcome = _send(job)
        out.append(outcome)
        down = not outcome.ok and not outcome.permanent and (outcome.status is None or outcome.status >= 500)
        if down:
            out += [Outcome(j, released=True) for j in jobs[i + 1 :]]
            break
    return out


_pools: dict[int, ThreadPoolExecutor] = {}


def _pool() -> ThreadPoolExecutor:
    """This process's senders (a pool made before a fork would have no threads in the child)."""
    pid = os.getpid()
    if pid not in _pools:
        threads = max(1, int(_setting("EVENTS_DELIVERY_THREADS", 16)))
        _pools[pid] = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="event-delivery")
    return _pools[pid]


def deliver(claimed: list[Delivery], *, token: str) -> list[Outcome]:
    """Send a claimed batch and record how each went → the outcomes."""
    bodies: dict = {}
    seen: dict = {}
    outcomes: list[Outcome] = []
    lanes: dict[tuple[int, str], list[Job]] = defaultdict(list)
    for d in claimed:
        if not d.subscription.active:
            outcomes.append(
                Outcome(
                    Job(d.pk, d.attempts, d.subscription_id, d.channel),
                    permanent=True,
                    error="The subscription was paused before this could be delivered.",
                )
            )
            continue
        lanes[(d.subscription_id, d.channel)].append(_job(d, bodies, seen))
    for lane in _pool().map(_send_in_order, lanes.values()):
        outcomes += lane
    record(outcomes, token=token)
    return outcomes


def _fields(o: Outcome, now, retry_of_lane: dict) -> dict[str, Any]:
    """What one outcome writes on its delivery."""
    lane = (o.job.subscription_id, o.job.channel)
    if o.released:
        due = retry_of_lane.get(lane) or now + timedelta(seconds=backoff(1))
        return {"claim_token": "", "due_at": due, "attempts": F("attempts") - 1}
    fields: dict[str, Any] = {
        "claim_token": "",
        "last_status_code": o.status,
        "error": o.error[:2000],
        "response": o.response[:1000],
    }
    if o.ok:
        fields.update(status=DeliveryStatus.DELIVERED, delivered_at=now)
    elif o.permanent or o.job.attempts >= max_attempts():
        fields.update(status=DeliveryStatus.FAILED)
    else:
        retry_of_lane[lane] = now + timedelta(seconds=backoff(o.job.attempts))
        fields.update(status=DeliveryStatus.RETRYING, due_at=retry_of_lane[lane])
    return fields


@transaction.atomic
def record(outcomes: list[Outcome], *, token: str) -> None:
    """Write each outcome, if this claim still holds its delivery (a lease taken over is not). What
    was put back untried waits for the retry of the failure before it (order is kept). Outcomes
    that write the same values (most: delivered, 2xx, nothing to say) are one UPDATE."""
    now = timezone.now()
    retry_of_lane: dict[tuple[int, str], Any] = {}
    same: dict[tuple, list[int]] = defaultdict(list)
    for o in outcomes:
        same[tuple(sorted(_fields(o, now, retry_of_lane).items()))].append(o.job.delivery_id)
    for fields, ids in same.items():
        Delivery.objects.filter(pk__in=ids, claim_token=token).update(**dict(fields))


# ---------------------------------------------------------------------------------------------
# Waking up for the next retry, and forgetting old events


_wakes: dict[int, float] = {}  # due second -> when it stops mattering (this process's wake-ups)


def _first_wake(second: int, delay: float) -> bool:
    """Whether this process has not queued a wake-up for that second yet (and remember it has now).
    Per process on purpose: a wake-up another worker queued dies with that worker."""
    now = time.monotonic()
    for key in [k for k, until in _wakes.items() if until < now]:
        del _wakes[key]
    if second in _wakes:
        return False
    _wakes[second] = now + delay + 30
    return True


def wake_up(*, queue: str | None = None) -> float | None:
    """Queue the next run for when the next delivery falls due (within EVENTS_WAKE_HORIZON_SECONDS;
    beyond, beat's sweep comes first) → its delay, or None (nothing due, or already queued)."""
    if current_app.conf.task_always_eager:
        return None  # an eager task would run now, not then: tests run the sweep themselves
    due = Delivery.objects.filter(status__in=DUE).order_by("due_at").values_list("due_at", flat=True).first()
    if due is None:
        return None
    delay = max(0.0, (due - timezone.now()).total_seconds())
    if delay > _setting("EVENTS_WAKE_HORIZON_SECONDS", 600) or not _first_wake(int(due.timestamp()), delay):
        return None
    queue = queue or getattr(settings, "EVENTS_QUEUE", "")
    try:
        current_app.send_task(
            catalogue.DELIVER_TASK, countdown=delay + 0.05, **({"queue": queue} if queue else {})
        )
    except Exception as exc:  # noqa: BLE001 - the broker's errors vary; beat's sweep is the safety net
        log.warning("events: the next delivery run was not queued (%s); beat's sweep will run it", exc)
        return None
    return delay


def prune(*, days: float | None = None, limit: int = 5000) -> int:
    """Forget events (and their deliveries) older than EVENTS_KEEP_DAYS → how many events."""
    keep = days if days is not None else _setting("EVENTS_KEEP_DAYS", 30)
    old = Event.objects.filter(
        occurred_at__lt=timezone.now() - timedelta(days=keep), dispatched_at__isnull=False
    )
    ids = list(old.order_by("pk").values_list("pk", flat=True)[:limit])
    Event.objects.filter(pk__in=ids).delete()
    return len(ids)
