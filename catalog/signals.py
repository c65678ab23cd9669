"""Hooks that other apps subscribe to. The catalog never imports them; they listen here.

Every signal is sent after the transaction that made the change has committed.
"""

from django.dispatch import Signal

# A dataset was created, changed or deleted.
#   dataset: Dataset (for deleted: the unsaved instance with its last field values)
#   actor: User | None; via: "api" | "ui" | "lineage" | "admin" | "system"
#   changes: {field: [before, after]} (created: before is None; owner/stewards as usernames)
dataset_created = Signal()
dataset_changed = Signal()
dataset_deleted = Signal()

# A new version's bytes and row are stored; profiling queues its job on this.
#   version: DatasetVersion; actor: User | None
version_stored = Signal()

# A source's scan has finished (succeeded, partial or failed): the event catalogue's
# source.scan.finished. scan: SourceScan. Sent outside any transaction.
source_scanned = Signal()
