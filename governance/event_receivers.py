"""Where the events of the catalogue (governance/events.py) come from: the signals of every app.

Governance's own steps are recorded inside the transaction that makes them: ``access_request_step``
is sent inside it, and ``registry.register_model_version`` records model.registered itself. The lower
apps (catalog, profiling) never import governance; their signals are sent once their change has
committed, and the receivers here record the event at once, in a transaction of their own. A
receiver of such a signal never raises: the change is done, and must not fail because of us.
"""

from __future__ import annotations

import logging

from catalog import signals as catalog_signals
from governance import events, signals
from profiling import signals as profiling_signals

log = logging.getLogger(__name__)


def _safely(what: str, fn, *args, **kwargs) -> None:
    try:
        fn(*args, **kwargs)
    except Exception:  # noqa: BLE001 - a committed change must not fail because its event did not
        log.exception("event %s not recorded", what)


def on_access_request_step(sender, event, **kwargs) -> None:
    """access_request.<step>, in the step's own transaction (both are written, or neither)."""
    request = event.request
    events.record(
        f"access_request.{event.action}",
        events.access_request_data(event),
        datasets=list(request.datasets.all()),
        subject=f"access_request:{request.pk}",
    )


def _version_stored(version, actor) -> None:
    events.record(
        "version.stored",
        events.version_stored_data(version, actor),
        datasets=[version.dataset],
        subject=f"dataset:{version.dataset_id}",
    )


def on_version_stored(sender, version, actor=None, **kwargs) -> None:
    _safely("version.stored", _version_stored, version, actor)


def _profile_finished(version, status, error) -> None:
    data, failed = events.profile_finished_data(version, status, error)
    subject = f"dataset:{version.dataset_id}"
    events.record("profile.finished", data, datasets=[version.dataset], subject=subject)
    if failed is not None:
        events.record("quality.failed", failed, datasets=[version.dataset], subject=subject)


def on_profile_finished(sender, version, status=None, error=None, **kwargs) -> None:
    _safely("profile.finished", _profile_finished, version, status or "succeeded", error)


def _alert(name: str, alert) -> None:
    events.record(name, events.alert_data(alert), datasets=[alert.dataset], subject=f"alert:{alert.pk}")


def on_alert_opened(sender, alert, **kwargs) -> None:
    _safely("alert.opened", _alert, "alert.opened", alert)


def on_alert_resolved(sender, alert, **kwargs) -> None:
    _safely("alert.resolved", _alert, "alert.resolved", alert)


def _drift(dataset, kwargs) -> None:
    data = events.drift_data(
        dataset,
        version=kwargs.get("version"),
        reference=kwargs.get("reference", kwargs.get("reference_version")),
        columns=kwargs.get("columns", kwargs.get("figures")),
        alert=kwargs.get("alert"),
    )
    events.record("drift.detected", data, datasets=[dataset], subject=f"dataset:{dataset.pk}")


def on_drift_detected(sender, **kwargs) -> None:
    """drift.detected from a monitor: the dataset is given, or the version's or the alert's."""
    dataset = kwargs.get("dataset")
    for holder in (kwargs.get("version"), kwargs.get("alert")):
        if dataset is None and holder is not None:
            dataset = getattr(holder, "dataset", None)
    if dataset is None:
        log.warning("drift_detected sent without a dataset: no drift.detected event")
        return
    _safely("drift.detected", _drift, dataset, kwargs)


def _scan(scan) -> None:
    events.record("source.scan.finished", events.scan_data(scan), subject=f"source:{scan.source_id}")


def on_source_scanned(sender, scan, **kwargs) -> None:
    _safely("source.scan.finished", _scan, scan)


def connect() -> None:
    signals.access_request_step.connect(on_access_request_step, dispatch_uid="governance-events-access")
    catalog_signals.version_stored.connect(on_version_stored, dispatch_uid="governance-events-version")
    catalog_signals.source_scanned.connect(on_source_scanned, dispatch_uid="governance-events-scan")
    profiling_signals.profile_finished.connect(on_profile_finished, dispatch_uid="governance-events-profile")
    profiling_signals.alert_opened.connect(on_alert_opened, dispatch_uid="governance-events-alert-opened")
    profiling_signals.alert_resolved.connect(
        on_alert_resolved, dispatch_uid="governance-events-alert-resolved"
    )
    profiling_signals.drift_detected.connect(on_drift_detected, dispatch_uid="governance-events-drift")
