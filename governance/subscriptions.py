"""Subscriptions to events: made, changed and deleted by the people they belong to; "deliver again";
and the operator's system subscription (GOVERNANCE_WEBHOOK_URL).

A subscription belongs to its owner, or to a group its owner belongs to (any member of the group
manages it then). It names events (names or patterns of the catalogue in governance/events.py), may
be narrowed to one dataset or a namespace (else: everything its owner may see), and says how to
deliver: a webhook URL (signed JSON, or Slack's format), e-mail, or both. A webhook URL is checked
when it is saved (governance/webhooks.py: http(s), no credentials, a public address unless
WEBHOOK_ALLOW_PRIVATE) and again at each delivery. The secret that signs deliveries is made here and
shown once, in the answer that creates the subscription.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from catalog import outbox
from catalog.models import Dataset
from catalog.selectors import dataset_by_urn
from config.errors import Conflict, NotAllowed
from governance import events as catalogue
from governance import webhooks
from governance.models import Delivery, DeliveryStatus, Subscription, SubscriptionFormat

MAX_EVENTS = 50
MAX_PER_OWNER = 200
FORMATS = (SubscriptionFormat.JSON, SubscriptionFormat.SLACK)
# The system subscription hears of access requests, as the webhook it replaces did.
SYSTEM_EVENTS = ["access_request.*"]


def may_manage(user, subscription: Subscription) -> bool:
    """Its owner, or a member of its group. Nobody manages the system subscription here (the
    operator sets it in the environment)."""
    if user is None or not user.is_authenticated or subscription.system:
        return False
    if subscription.owner_id == user.pk:
        return True
    return subscription.group_id is not None and user.groups.filter(pk=subscription.group_id).exists()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


# ---------------------------------------------------------------------------------------------
# Checking what is asked


def _events(value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        raise ValidationError({"events": ['Give a list of event names, e.g. ["access_request.*"].']})
    if len(value) > MAX_EVENTS:
        raise ValidationError({"events": [f"At most {MAX_EVENTS} event names."]})
    problems = [p for p in (catalogue.pattern_problem(v) for v in value) if p]
    if problems:
        raise ValidationError({"events": problems[:5]})
    return list(dict.fromkeys(value))


def _dataset(actor, value: Any) -> Dataset | None:
    """The dataset a URN names, if the actor may see it; else 404 (whether it exists is not told)."""
    if value in (None, ""):
        return None
    if not isinstance(value, str) or len(value) > 600:
        raise ValidationError({"dataset": ["Give the dataset's URN, e.g. dataset:s3://lake:raw/claims."]})
    try:
        found = dataset_by_urn(value.strip())
    except ValueError as exc:
        raise ValidationError({"dataset": [f"Not a dataset URN: {exc}"]}) from exc
    if found is None or not Dataset.objects.visible_to(actor).filter(pk=found.pk).exists():
        raise Http404(f"No dataset {value.strip()[:200]}, or not one you may see.")
    return found


def _group(actor, value: Any) -> Group | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or len(value) > 150:
        raise ValidationError({"group": ["Give the name of a group you belong to."]})
    group = Group.objects.filter(name=value).first()
    if group is None:
        raise ValidationError({"group": [f"No group named {value!r}."]})
    if not actor.groups.filter(pk=group.pk).exists():
        raise NotAllowed(f"You are not a member of the group {value!r}: subscribe for your own groups only.")
    return group


def _url(value: Any) -> str:
    if value in (None, ""):
        return ""
    if not isinstance(value, str):
        raise ValidationError({"url": ["Give the webhook's URL as text."]})
    try:
        webhooks.check_url(value.strip())
    except webhooks.Refused as exc:
        raise ValidationError({"url": [str(exc)]}) from exc
    return value.strip()


def _namespace(value: Any) -> str:
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or len(value) > 255 or not value.strip():
        raise ValidationError({"namespace": ["A namespace of at most 255 characters."]})
    return value.strip()


def _format(value: Any) -> str:
    if value in (None, ""):
        return SubscriptionFormat.JSON
    if value not in FORMATS:
        raise ValidationError({"format": ["json or slack."]})
    return value


def _check_whole(sub: Subscription) -> None:
    if not sub.url and not sub.email:
        raise ValidationError(
            {"url": ['Say how to deliver: a webhook URL, e-mail ("email": true), or both.']}
        )
    if sub.format == SubscriptionFormat.SLACK and not sub.url:
        raise ValidationError({"format": ["The Slack format needs the Slack incoming webhook's URL."]})
    if sub.dataset_id and sub.namespace:
        raise ValidationError(
            {"namespace": ["Narrow a subscription to one dataset or to a namespace, not both."]}
        )


# ---------------------------------------------------------------------------------------------
# Writes


@transaction.atomic
def create_subscription(
    *,
    actor,
    events: Any,
    dataset: Any = None,
    namespace: Any = None,
    group: Any = None,
    url: Any = None,
    email: bool = False,
    format: Any = None,
) -> tuple[Subscription, str]:
    """A new subscription of the actor's (or of a group of theirs) → (it, its secret, shown once)."""
    if actor is None or not actor.is_authenticated:
        raise NotAllowed("Sign in to subscribe.")
    sub = Subscription(
        owner=actor,
        events=_events(events),
        dataset=_dataset(actor, dataset),
        namespace=_namespace(namespace),
        group=_group(actor, group),
        email=bool(email),
        format=_format(format),
        secret=new_secret(),
    )
    sub.url = _url(url)
    _check_whole(sub)
    if Subscription.objects.filter(owner=actor).count() >= MAX_PER_OWNER:
        raise ValidationError(
            {"events": [f"You have {MAX_PER_OWNER} subscriptions already: delete some, or use patterns."]}
        )
    sub.save()
    return sub, sub.secret


CHANGEABLE = ("events", "dataset", "namespace", "group", "url", "email", "format", "active")


@transaction.atomic
def update_subscription(*, actor, subscription: Subscription, **changes: Any) -> Subscription:
    """Change what a subscription hears of or how (its owner, or a member of its group)."""
    sub = Subscription.objects.select_for_update().get(pk=subscription.pk)
    if not may_manage(actor, sub):
        raise NotAllowed("Only the subscription's owner or a member of its group may change it.")
    unknown = sorted(set(changes) - set(CHANGEABLE))
    if unknown:
        raise ValidationError({k: ["This field cannot be changed."] for k in unknown})
    checks = {
        "events": lambda v: _events(v),
        "dataset": lambda v: _dataset(actor, v),
        "namespace": _namespace,
        "group": lambda v: _group(actor, v),
        "url": _url,
        "email": bool,
        "format": _format,
        "active": bool,
    }
    for key, value in changes.items():
        setattr(sub, key, checks[key](value))
    _check_whole(sub)
    sub.save()
    return sub


@transaction.atomic
def delete_subscription(*, actor, subscription: Subscription) -> None:
    """Delete a subscription and its delivery log (its owner, or a member of its group)."""
    if not may_manage(actor, subscription):
        raise NotAllowed("Only the subscription's owner or a member of its group may delete it.")
    Subscription.objects.filter(pk=subscription.pk).delete()


@transaction.atomic
def redeliver(*, actor, delivery: Delivery) -> Delivery:
    """ "Deliver again": a new delivery of the same event to the same subscription, queued for the
    worker (the receiver sees the same event id, X-Gouvernail-Delivery, as the first time)."""
    sub = Subscription.objects.select_for_update().get(pk=delivery.subscription_id)
    if not may_manage(actor, sub):
        raise NotAllowed("Only the subscription's owner or a member of its group may deliver again.")
    if not sub.active:
        raise Conflict("The subscription is paused: resume it first.")
    busy = Delivery.objects.filter(
        subscription=sub,
        event_id=delivery.event_id,
        channel=delivery.channel,
        status__in=(DeliveryStatus.PENDING, DeliveryStatus.RETRYING),
    )
    if busy.exists():
        raise Conflict("This event is still being delivered to this subscription; wait for the outcome.")
    again = Delivery.objects.create(
        subscription=sub,
        event_id=delivery.event_id,
        channel=delivery.channel,
        redelivery_of=delivery,
        requested_by=actor,
        due_at=timezone.now(),
    )
    outbox.enqueue(catalogue.DELIVER_TASK, queue=getattr(settings, "EVENTS_QUEUE", "") or None)
    return again


def sync_system_subscription() -> Subscription | None:
    """The system subscription as GOVERNANCE_WEBHOOK_URL and _SECRET say: made or changed when both
    are set, paused when either is not → the active one, or None. The worker calls this before it
    fans events out, so a changed setting takes effect with the next event; as the setting is the
    operator's, its URL may be a private address (the former webhook's behaviour)."""
    url = getattr(settings, "GOVERNANCE_WEBHOOK_URL", "") or ""
    secret = getattr(settings, "GOVERNANCE_WEBHOOK_SECRET", "") or ""
    wanted = {
        "url": url,
        "secret": secret,
        "events": SYSTEM_EVENTS,
        "format": SubscriptionFormat.LEGACY,
        "active": True,
    }
    sub = Subscription.objects.filter(system=True).first()
    if not (url and secret):
        if sub is not None and sub.active:
            Subscription.objects.filter(pk=sub.pk).update(active=False)
        return None
    if sub is not None and all(getattr(sub, k) == v for k, v in wanted.items()):
        return sub  # the usual case: one read
    with transaction.atomic():
        sub, _ = Subscription.objects.select_for_update().get_or_create(system=True, defaults=wanted)
        for key, value in wanted.items():
            setattr(sub, key, value)
        sub.save()
    return sub
