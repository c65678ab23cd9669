"""Hooks that other apps may subscribe to (governance's audit, notifications). Sent after commit.

suite_changed
    dataset: catalog Dataset; actor: User | None; suite: ExpectationSuite;
    origin: "edited" | "imported"; changes: {"expectation_suite.version": [before, after]}
profile_queued
    version: catalog DatasetVersion -- its profile job was created or reset to pending
profile_finished
    version: catalog DatasetVersion; status: "succeeded" | "failed"; error: str | None
alert_opened, alert_resolved
    alert: Alert -- a monitor's rule fired, or its alert was resolved (governance's events)
drift_detected
    dataset: catalog Dataset; version: DatasetVersion | int; reference: the version compared with;
    columns: {column: figures}; alert: Alert | None -- a monitor found drift (governance's events)
"""

from django.dispatch import Signal

suite_changed = Signal()
profile_queued = Signal()
profile_finished = Signal()
alert_opened = Signal()
alert_resolved = Signal()
drift_detected = Signal()
