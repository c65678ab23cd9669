"""Hooks that other apps may subscribe to (governance's audit, notifications, events).

Most are sent after the transaction that made the change has committed. The ``*_in_transaction``
ones are sent INSIDE it, with the same arguments as their after-commit twin: a receiver's writes
commit or roll back with the change and a receiver that raises fails the change (governance records
the event catalogue's events there, so that an event exists if and only if its change does; see
catalog/signals.py for what such a receiver may do).

suite_changed
    dataset: catalog Dataset; actor: User | None; suite: ExpectationSuite;
    origin: "edited" | "imported"; changes: {"expectation_suite.version": [before, after]}
profile_queued
    version: catalog DatasetVersion -- its profile job was created or reset to pending
profile_finished, profile_finished_in_transaction
    version: catalog DatasetVersion; status: "succeeded" | "failed"; error: str | None
drift_detected, drift_detected_in_transaction
    version: catalog DatasetVersion -- the latest version, whose profile just finished;
    columns: {name: {"psi", "ks_pvalue", "drifted": True}} -- the columns that drifted;
    reference: int -- the version compared with (the monitor's pinned reference, else the previous)
monitor_changed
    dataset: catalog Dataset; actor: User | None; monitor: Monitor;
    changes: {"schedule" | "reference" | "rules": [before, after]}; via: "api" | "ui"
alert_opened, alert_opened_in_transaction
    alert: Alert -- a monitor rule fired (alert.figures say by how much)
alert_acknowledged
    alert: Alert; actor: User; via: "api" | "ui"
alert_resolved, alert_resolved_in_transaction
    alert: Alert; actor: User | None -- None when the rule passed again (alert.resolution "passed")
    or was removed ("rule_removed"); a person resolves "by_hand"; via: "api" | "ui" | "system"
privacy_spent_in_transaction
    release: PrivateRelease -- a differentially private release was made and its ε spent
    (release.epsilon, release.columns, release.requested_by); actor: User | None
privacy_settings_changed_in_transaction
    dataset: catalog Dataset; version: catalog DatasetVersion | None (None: the column bounds);
    actor: User; changes: {"bounds" | "epsilon_total" | "epsilon_per_release": [before, after]};
    via: "api" | "ui"
"""

from django.dispatch import Signal

suite_changed = Signal()
profile_queued = Signal()
profile_finished = Signal()
profile_finished_in_transaction = Signal()
drift_detected = Signal()
drift_detected_in_transaction = Signal()
monitor_changed = Signal()
alert_opened = Signal()
alert_opened_in_transaction = Signal()
alert_acknowledged = Signal()
alert_resolved = Signal()
alert_resolved_in_transaction = Signal()
privacy_spent_in_transaction = Signal()
privacy_settings_changed_in_transaction = Signal()
