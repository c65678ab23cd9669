"""Telling the owners of what lies downstream of a dataset that it changed: the impact page's
"Notify downstream owners". The notice goes out as lineage.signals.impact_notified after commit;
when nothing listens to it (no event catalogue in this installation), it is e-mailed to the
recipients through the outbox (catalog.outbox), so that the request never waits on a mail server.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from catalog import outbox
from catalog.models import Dataset
from catalog.selectors import may_change_dataset
from config.errors import NotAllowed
from lineage import signals
from lineage.impact import impact

MAX_MESSAGE = 4000
EMAIL_TASK = "lineage.send_impact_email"


@transaction.atomic
def notify_downstream_owners(*, actor, dataset: Dataset, message: str = "") -> dict[str, Any]:
    """Announce a change of ``dataset`` to the owners and stewards of everything downstream of it
    (its owner, a steward or staff) → {"recipients": [usernames], "downstream": [nodes], "emailed": n}."""
    if not may_change_dataset(actor, dataset):
        raise NotAllowed("Only the dataset's owner, a steward or staff may notify its downstream owners.")
    if not isinstance(message, str) or len(message) > MAX_MESSAGE:
        raise ValidationError({"message": [f"Text of at most {MAX_MESSAGE} characters."]})
    found = impact(dataset.urn) or {"levels": [], "notify": []}
    downstream = [{**n, "distance": level["distance"]} for level in found["levels"] for n in level["nodes"]]
    me = actor.get_username()
    recipients = [u for u in found["notify"] if u != me]
    if not downstream:
        raise ValidationError({"dataset": ["Nothing is downstream of this dataset in the lineage."]})
    emailed = 0
    if not signals.impact_notified.has_listeners():
        emailed = _queue_emails(
            actor=actor,
            dataset=dataset,
            message=message.strip(),
            downstream=downstream,
            recipients=recipients,
        )
    transaction.on_commit(
        lambda: signals.impact_notified.send(
            sender=Dataset,
            dataset=dataset,
            actor=actor,
            downstream=downstream,
            recipients=recipients,
            message=message.strip(),
        ),
        robust=True,
    )
    return {"recipients": recipients, "downstream": downstream, "emailed": emailed}


def _queue_emails(
    *, actor, dataset: Dataset, message: str, downstream: list[dict], recipients: list[str]
) -> int:
    users = get_user_model().objects.filter(username__in=recipients).exclude(email="")
    sent = 0
    for user in users:
        theirs = [
            n["id"]
            for n in downstream
            if user.username
            in (n.get("owners") or []) + (n.get("stewards") or []) + (n.get("teamMembers") or [])
        ]
        lines = [
            f"{actor.get_username()} tells you that {dataset.urn} changed.",
            "",
            *([message, ""] if message else []),
            "Downstream of it, you own or steward:",
            *[f"  - {node}" for node in theirs],
            "",
            "Check what you build from it before your next run.",
        ]
        outbox.enqueue(EMAIL_TASK, [f"[Gouvernail] {dataset.urn} changed", "\n".join(lines), [user.email]])
        sent += 1
    return sent
