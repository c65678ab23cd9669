"""Hooks that other apps may subscribe to (governance's audit, notifications). Sent after commit.

suite_changed
    dataset: catalog Dataset; actor: User | None; suite: ExpectationSuite;
    origin: "edited" | "imported"; changes: {"expectation_suite.version": [before, after]}
profile_queued
    version: catalog DatasetVersion -- its profile job was created or reset to pending
profile_finished
    version: catalog DatasetVersion; status: "succeeded" | "failed"; error: str | None
"""

from django.dispatch import Signal

suite_changed = Signal()
profile_queued = Signal()
profile_finished = Signal()
