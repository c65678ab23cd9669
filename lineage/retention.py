"""Lineage events past LINEAGE_EVENT_RETENTION_DAYS: archived (LINEAGE_EVENT_ARCHIVE_DIR) or
dropped, once folded. The graph (nodes, runs, edges, column lineage) is what lineage answers from,
and it is derived state that keeps everything the events said: pruning the record leaves every
graph answer unchanged. What is lost is the raw record itself: the event history pages, and a
``lineage_rebuild`` replays only the events kept (plus any archive put back, see docs/operations.md).
Pending and failed events are never pruned: the folder has not taken them (yet)."""

from __future__ import annotations

import gzip
import json
import os

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from catalog.retention import cutoff, delete_in_batches
from lineage.models import EventState, LineageEvent


def prunable() -> QuerySet[LineageEvent]:
    """Folded events received before the retention's cutoff (none when retention is off)."""
    before = cutoff("LINEAGE_EVENT_RETENTION_DAYS")
    if before is None:
        return LineageEvent.objects.none()
    return LineageEvent.objects.filter(state=EventState.APPLIED, received_at__lt=before)


def _archive(batch: QuerySet[LineageEvent]) -> None:
    """Append the batch to a gzip JSON Lines file of the archive folder, one event body per line
    (what ``POST /api/v1/lineage`` takes back), before the batch is deleted."""
    folder = getattr(settings, "LINEAGE_EVENT_ARCHIVE_DIR", "")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"lineage-events-{timezone.now():%Y%m%d}.jsonl.gz")
    with gzip.open(path, "at", encoding="utf-8") as fh:
        for body in batch.order_by("pk").values_list("body", flat=True):
            fh.write(json.dumps(body, ensure_ascii=False, separators=(",", ":")) + "\n")


def prune_events(*, limit: int | None = None) -> int:
    """Archive (when LINEAGE_EVENT_ARCHIVE_DIR is set) and delete the prunable events → how many."""
    archive = _archive if getattr(settings, "LINEAGE_EVENT_ARCHIVE_DIR", "") else None
    return delete_in_batches(prunable(), before_delete=archive, limit=limit)
