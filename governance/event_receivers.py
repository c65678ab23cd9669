"""Where the events of the catalogue (governance/events.py) come from: the signals of every app.

Every event is recorded INSIDE the transaction that makes its change, so that it exists if and only
if the change does: nothing is lost to a process killed between a commit and a receiver, and no
event announces a change that rolled back. Governance's own steps do it directly
(``access_request_step`` is sent inside the step's transaction; ``registry.register_model_version``
records model.registered itself). The lower apps, which never import governance, send a signal
inside their transaction for this (``catalog.signals.version_stored_in_transaction``,
``source_scanned_in_transaction``, ``profiling.signals.profile_finished_in_transaction``,
``drift_detected_in_transaction``, ``alert_opened_in_transaction``,
``alert_resolved_in_transaction``), and the receivers here turn it into the Event row and its
outbox message (which queues the delivery after the commit) in that transaction.

What a failure does, chosen on purpose: a receiver here RAISES when the event cannot be recorded,
and the change fails with it, whole (an upload answers an error and keeps no file, a profile job is
retried or ends failed, a monitor's judgement is redone by the next profile or scheduled run, a
scan is taken over when its lease runs out). Swallowing the error would commit a change whose event
is gone for good, the very loss this module exists to prevent; failing keeps the two together, and
the caller's retry brings both. ``events.record`` writes in a savepoint, so a failed insert leaves
the change's transaction usable for the caller's own handling on PostgreSQL. The after-commit
signals stay for their other listeners (profiling queues a job, governance audits).
"""

from __future__ import annotations

import logging

from django.db.models import Q

from catalog import signals as catalog_signals
from governance import events, signals
from governance.models import Event
from profiling import signals as profiling_signals
from profiling.forgetting import PURGED

log = logging.getLogger(__name__)


def on_access_request_step(sender, event, **kwargs) -> None:
    """access_request.<step>, in the step's own transaction (both are written, or neither)."""
    request = event.request
    events.record(
        f"access_request.{event.action}",
        events.access_request_data(event),
        datasets=list(request.datasets.all()),
        subject=f"access_request:{request.pk}",
    )


def on_version_stored(sender, version, actor=None, **kwargs) -> None:
    """version.stored, in the transaction that inserts the version's row."""
    events.record(
        "version.stored",
        events.version_stored_data(version, actor),
        datasets=[version.dataset],
        subject=f"dataset:{version.dataset_id}",
    )


def on_profile_finished(sender, version, status=None, error=None, **kwargs) -> None:
    """profile.finished (and quality.failed when its suite did not pass), in the transaction that
    writes the profile's results or its failure."""
    data, failed = events.profile_finished_data(version, status or "succeeded", error)
    subject = f"dataset:{version.dataset_id}"
    events.record("profile.finished", data, datasets=[version.dataset], subject=subject)
    if failed is not None:
        events.record("quality.failed", failed, datasets=[version.dataset], subject=subject)


def _alert(name: str, alert) -> None:
    events.record(name, events.alert_data(alert), datasets=[alert.dataset], subject=f"alert:{alert.pk}")


def on_alert_opened(sender, alert, **kwargs) -> None:
    """alert.opened, in the monitor's transaction that opens it."""
    _alert("alert.opened", alert)


def on_alert_resolved(sender, alert, **kwargs) -> None:
    """alert.resolved, in the transaction that resolves it (by hand, or by the monitor)."""
    _alert("alert.resolved", alert)


def on_drift_detected(sender, **kwargs) -> None:
    """drift.detected, in the monitor's judgement: the dataset is given, or the version's or the alert's."""
    dataset = kwargs.get("dataset")
    for holder in (kwargs.get("version"), kwargs.get("alert")):
        if dataset is None and holder is not None:
            dataset = getattr(holder, "dataset", None)
    if dataset is None:
        log.warning("drift_detected sent without a dataset: no drift.detected event")
        return
    data = events.drift_data(
        dataset,
        version=kwargs.get("version"),
        reference=kwargs.get("reference", kwargs.get("reference_version")),
        columns=kwargs.get("columns", kwargs.get("figures")),
        alert=kwargs.get("alert"),
    )
    events.record("drift.detected", data, datasets=[dataset], subject=f"dataset:{dataset.pk}")


def on_source_scanned(sender, scan, **kwargs) -> None:
    """source.scan.finished, in the transaction that writes the scan's final status."""
    events.record("source.scan.finished", events.scan_data(scan), subject=f"source:{scan.source_id}")


def on_version_deleted(sender, version, **kwargs) -> None:
    """A version was deleted: the alert events it raised, or that compared with it, lose their
    figures and message as the alerts themselves do (profiling.forgetting), in its transaction."""
    number = version.number
    quoting = Event.objects.filter(
        Q(data__alert__version=number) | Q(data__alert__reference_version=number),
        name__in=("alert.opened", "alert.resolved"),
        data__dataset__id=version.dataset_id,
    )
    for event in quoting.select_for_update():
        alert = {**event.data["alert"], "figures": {}, "resolved_figures": None, "message": PURGED}
        Event.objects.filter(pk=event.pk).update(data={**event.data, "alert": alert})


def connect() -> None:
    signals.access_request_step.connect(on_access_request_step, dispatch_uid="governance-events-access")
    for signal, receiver, uid in (
        (catalog_signals.version_stored_in_transaction, on_version_stored, "version"),
        (catalog_signals.source_scanned_in_transaction, on_source_scanned, "scan"),
        (catalog_signals.version_deleted_in_transaction, on_version_deleted, "version-deleted"),
        (profiling_signals.profile_finished_in_transaction, on_profile_finished, "profile"),
        (profiling_signals.alert_opened_in_transaction, on_alert_opened, "alert-opened"),
        (profiling_signals.alert_resolved_in_transaction, on_alert_resolved, "alert-resolved"),
        (profiling_signals.drift_detected_in_transaction, on_drift_detected, "drift"),
    ):
        signal.connect(receiver, dispatch_uid=f"governance-events-{uid}")
