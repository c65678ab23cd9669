"""Who hears about an access request's steps: e-mail to the people concerned, and a signed webhook.

Nothing is sent inside the request that made the change: each step of a request sends
signals.access_request_step, on which receivers.py writes a Celery task to the outbox
(catalog.outbox) in the step's own transaction; it is sent once that commits, or when the broker
is back if it was down (tasks.notify_access_request_event). That task sends the e-mails through
this module, and queues another (with retries, through the outbox too) that POSTs the webhook when
GOVERNANCE_WEBHOOK_URL and GOVERNANCE_WEBHOOK_SECRET are set. The webhook body is signed with HMAC-SHA256 of the raw
bytes under the secret, sent as ``X-Gouvernail-Signature: sha256=<hex>``.
"""

import hashlib
import hmac
import json
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail

from catalog.selectors import answerable_people
from governance.models import AccessRequestEvent

SIGNATURE_HEADER = "X-Gouvernail-Signature"


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, secret: str, signature: str) -> bool:
    """What a webhook receiver does: recompute and compare in constant time."""
    return hmac.compare_digest(sign(body, secret), signature or "")


def payload(event: AccessRequestEvent) -> dict[str, Any]:
    req = event.request
    return {
        "event": f"access_request.{event.action}",
        "at": event.at.isoformat(),
        "actor": event.actor.get_username() if event.actor_id else None,
        "via": event.via,
        "access_request": {
            "id": req.pk,
            # The status this step produced, not the request's status when the task runs (a later
            # step may already have moved it); "status_now" is that one.
            "status": event.to_status,
            "from_status": event.from_status or None,
            "status_now": req.status,
            "requester": req.requester.get_username(),
            "datasets": list(req.dataset_urns),
            "purpose": req.purpose,
            "model": req.model_name or None,
            "expires_at": req.expires_at.isoformat() if req.expires_at else None,
        },
        "comment": event.comment,
    }


def recipients(event: AccessRequestEvent) -> list[str]:
    """The requester, and the owners and stewards who decide -- the members of the datasets' owner
    and steward groups among them (the actor is not told what they did)."""
    req = event.request
    ids = {req.requester_id}
    for owners, stewards in answerable_people(req.datasets.all()).values():
        ids |= owners | stewards
    ids.discard(event.actor_id)
    emails = get_user_model().objects.filter(pk__in=ids, is_active=True).values_list("email", flat=True)
    return sorted({e for e in emails if e})


def send_emails(event: AccessRequestEvent) -> int:
    to = recipients(event)
    if not to:
        return 0
    req = event.request
    who = event.actor.get_username() if event.actor_id else "Gouvernail"
    subject = f"[Gouvernail] Access request #{req.pk} {event.action}: {event.to_status}"
    lines = [
        f"{who} {event.action.replace('_', ' ')} access request #{req.pk} ({event.from_status or 'new'} → {event.to_status}).",
        "",
        f"Requester: {req.requester.get_username()}",
        f"Purpose:   {req.purpose}" + (f" (model {req.model_name})" if req.model_name else ""),
        "Datasets:",
        *[f"  - {u}" for u in req.dataset_urns],
    ]
    if req.expires_at:
        lines.append(f"Expires:   {req.expires_at.isoformat()}")
    if event.comment:
        lines += ["", "Comment:", event.comment]
    return send_mail(subject, "\n".join(lines), settings.DEFAULT_FROM_EMAIL, to)


def webhook_configured() -> bool:
    return bool(
        getattr(settings, "GOVERNANCE_WEBHOOK_URL", "") and getattr(settings, "GOVERNANCE_WEBHOOK_SECRET", "")
    )


def encode(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
