"""Hooks that other apps subscribe to. The catalog never imports them; they listen here.

Two kinds, by when they are sent:

* after the transaction that made the change has committed (most of them): for work that must see
  the change committed (profiling queues its job) or that must never fail it (audit). A receiver
  that fails cannot undo the change; a process that dies before the receiver ran loses its work.
* INSIDE that transaction (the ``*_in_transaction`` ones): a receiver's writes commit or roll back
  with the change, and a receiver that raises fails the change. Governance records the event
  catalogue's events here, so that an event exists if and only if its change does (nothing lost
  between a commit and a receiver). Receivers must write to the database only, never reach a
  broker or another system (queue those through catalog.outbox), and raise rather than half-write.
"""

from django.dispatch import Signal

# A dataset was created, changed or deleted (after commit).
#   dataset: Dataset (for deleted: the unsaved instance with its last field values)
#   actor: User | None; via: "api" | "ui" | "lineage" | "admin" | "system"
#   changes: {field: [before, after]} (created: before is None; owner/stewards as usernames)
dataset_created = Signal()
dataset_changed = Signal()
dataset_deleted = Signal()

# A new version's bytes and row are stored; profiling queues its job on this (after commit).
#   version: DatasetVersion; actor: User | None
version_stored = Signal()
# The same, inside the transaction that inserts the version's row (same arguments).
version_stored_in_transaction = Signal()

# A version was deleted (a tombstone: catalog.versions.delete_version). Inside the transaction that
# marks the row, so that every app purges what it derived from the version's data in the same
# transaction, and nothing is half-forgotten (profiling: its profile, quality result, drift...;
# governance: the audit record). The stored file goes once the transaction commits.
#   version: DatasetVersion (deleted_at set); actor: User | None; via: "api" | "ui" | "system"
version_deleted_in_transaction = Signal()

# A source's scan has finished (succeeded, partial or failed): scan: SourceScan, with its source.
# source_scanned: after commit (outside any transaction); source_scanned_in_transaction: inside the
# transaction that writes the scan's final status.
source_scanned = Signal()
source_scanned_in_transaction = Signal()
