"""An alert's life: opened when a monitor rule fires, acknowledged by a person, resolved by a person
(with a comment) or by itself when the rule passes again, or when its rule is removed.

    open ──acknowledge──▶ acknowledged
      │                        │
      └──────resolve───────────┴──▶ resolved      (by_hand | passed | rule_removed)

At most one alert per rule is open or acknowledged (a constraint; the monitor's row is locked while
its rules are judged). Every step is appended to the alert's ``history`` and announced after commit
(profiling.signals.alert_opened / alert_acknowledged / alert_resolved); opening and resolving are
also announced inside the step's transaction (``*_in_transaction``), where governance records the
alert.opened / alert.resolved event: if that fails, the step fails with it.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from catalog.permissions import can_change_dataset
from config.errors import Conflict, NotAllowed
from profiling import signals
from profiling.models import ACTIVE_ALERT, Alert, AlertStatus, Metric, Monitor, MonitorRule

MAX_COMMENT = 2000


def _step(status: str, *, actor=None, comment: str = "", figures: dict | None = None, note: str = "") -> dict:
    entry: dict[str, Any] = {
        "at": timezone.now().isoformat(),
        "status": status,
        "by": actor.get_username() if actor is not None and actor.is_authenticated else None,
    }
    if comment:
        entry["comment"] = comment
    if note:
        entry["note"] = note
    if figures is not None:
        entry["figures"] = figures
    return entry


def _comment(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_COMMENT:
        raise ValidationError({"comment": [f"Text of at most {MAX_COMMENT} characters."]})
    return value.strip()


def open_alert(
    *, rule: MonitorRule, version: int | None, reference: int | None, message: str, figures: dict
) -> Alert:
    """Open an alert for a rule that fired (the caller holds the monitor's lock and has checked that
    the rule has no active alert)."""
    alert = Alert.objects.create(
        dataset_id=rule.monitor.dataset_id,
        rule=rule,
        rule_spec=rule.spec(),
        status=AlertStatus.OPEN,
        version_number=version,
        reference_version=reference,
        message=message[:2000],
        figures=figures,
        history=[_step(AlertStatus.OPEN, figures=figures, note=message[:2000])],
        opened_at=timezone.now(),
    )
    signals.alert_opened_in_transaction.send(sender=Alert, alert=alert)
    transaction.on_commit(lambda: signals.alert_opened.send(sender=Alert, alert=alert), robust=True)
    return alert


def _locked(alert: Alert, actor) -> Alert:
    locked = Alert.objects.select_for_update().select_related("dataset").get(pk=alert.pk)
    if not can_change_dataset(actor, locked.dataset):
        raise NotAllowed("Only the dataset's owner, a steward or staff may act on its alerts.")
    return locked


@transaction.atomic
def acknowledge_alert(*, actor, alert: Alert, comment: Any = None, via: str = "api") -> Alert:
    """Someone looks into it (the dataset's owner, a steward or staff): open → acknowledged."""
    text = _comment(comment)
    alert = _locked(alert, actor)
    if alert.status != AlertStatus.OPEN:
        raise Conflict(f"The alert is {alert.status}: only an open alert is acknowledged.")
    alert.status = AlertStatus.ACKNOWLEDGED
    alert.acknowledged_at = timezone.now()
    alert.acknowledged_by = actor
    alert.history = [*alert.history, _step(AlertStatus.ACKNOWLEDGED, actor=actor, comment=text)]
    alert.save(update_fields=["status", "acknowledged_at", "acknowledged_by", "history"])
    transaction.on_commit(
        lambda: signals.alert_acknowledged.send(sender=Alert, alert=alert, actor=actor, via=via), robust=True
    )
    return alert


@transaction.atomic
def resolve_alert(*, actor, alert: Alert, comment: Any = None, via: str = "api") -> Alert:
    """Someone closes it by hand (the dataset's owner, a steward or staff), saying why. If the rule
    still fires on the next profile, a new alert opens."""
    text = _comment(comment)
    alert = _locked(alert, actor)
    if alert.status not in ACTIVE_ALERT:
        raise Conflict("The alert is resolved already.")
    return _resolve(alert, actor=actor, resolution="by_hand", comment=text, via=via)


def resolve_by_itself(alert: Alert, *, resolution: str, figures: dict | None = None, note: str = "") -> Alert:
    """The rule passes again (``passed``, with the figures that cleared it) or is gone
    (``rule_removed``). Inside the caller's transaction, which holds the monitor's lock."""
    return _resolve(
        alert, actor=None, resolution=resolution, figures=figures, comment="", note=note, via="system"
    )


def _resolve(
    alert: Alert,
    *,
    actor,
    resolution: str,
    comment: str,
    via: str,
    figures: dict | None = None,
    note: str = "",
) -> Alert:
    alert.status = AlertStatus.RESOLVED
    alert.resolved_at = timezone.now()
    alert.resolved_by = actor if actor is not None and actor.is_authenticated else None
    alert.resolution = resolution
    alert.resolved_figures = figures
    step = _step(AlertStatus.RESOLVED, actor=actor, comment=comment, figures=figures, note=note or resolution)
    alert.history = [*alert.history, step]
    alert.save(
        update_fields=["status", "resolved_at", "resolved_by", "resolution", "resolved_figures", "history"]
    )
    if resolution == "by_hand" and alert.rule_id and alert.rule_spec.get("metric") == Metric.FRESHNESS_HOURS:
        # Its rule waited for this alert to close: the next sweep judges it again (a new alert if
        # the data is still stale, else the clock restarts from the latest version).
        Monitor.objects.filter(rules=alert.rule_id).update(freshness_due_at=alert.resolved_at)
    signals.alert_resolved_in_transaction.send(sender=Alert, alert=alert, actor=alert.resolved_by, via=via)
    transaction.on_commit(
        lambda: signals.alert_resolved.send(sender=Alert, alert=alert, actor=alert.resolved_by, via=via),
        robust=True,
    )
    return alert
