"""Retention's two shared pieces: the moment before which a ``*_RETENTION_DAYS`` setting forgets
rows, and deleting rows in batches of their own transactions (so that pruning years of history
never holds one giant transaction, nor SQLite's write lock, for long). Each app prunes its own rows
with them: lineage.retention, profiling.retention; governance.retention runs them all."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone


def cutoff(setting: str) -> datetime | None:
    """Now minus the setting's days, or None when it is 0 or unset (keep forever: the default)."""
    days = float(getattr(settings, setting, 0) or 0)
    return timezone.now() - timedelta(days=days) if days > 0 else None


def batch_size() -> int:
    return max(1, int(getattr(settings, "RETENTION_BATCH", 1000)))


def delete_in_batches(
    queryset: QuerySet, *, before_delete: Callable[[QuerySet], None] | None = None, limit: int | None = None
) -> int:
    """Delete the queryset's rows, a batch of primary keys per transaction → how many.

    ``before_delete`` sees each batch first, in its transaction (an archive writes it there: a
    batch is deleted only if it was archived). ``limit`` bounds one call (a beat run); None: all.
    """
    done, size = 0, batch_size()
    while limit is None or done < limit:
        take = size if limit is None else min(size, limit - done)
        ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:take])
        if not ids:
            break
        with transaction.atomic():
            batch = queryset.model.objects.filter(pk__in=ids)
            if before_delete is not None:
                before_delete(batch)
            batch.delete()
        done += len(ids)
    return done
