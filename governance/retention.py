"""Retention, all of it: what each app keeps past its age is pruned here, by the beat task
``governance.prune_retention`` and ``python manage.py prune_retention``. Every age is a setting that
is off (keep forever) unless set, except the events' delivery log, which has always been kept
EVENTS_KEEP_DAYS (governance.deliveries.prune). docs/operations.md "Retention" lists them."""

from __future__ import annotations

from governance import deliveries
from lineage import retention as lineage_retention
from profiling import retention as profiling_retention


def _all_events(limit: int | None) -> int:
    done = 0
    while limit is None or done < limit:
        n = deliveries.prune(limit=5000 if limit is None else min(5000, limit - done))
        done += n
        if n == 0:
            break
    return done


def prune_all(*, limit: int | None = None) -> dict[str, int]:
    """Prune lineage events, superseded profiles and old events with their deliveries → counts.
    ``limit`` bounds each kind in one call (a beat run); None prunes everything due."""
    return {
        "lineage_events": lineage_retention.prune_events(limit=limit),
        "profile_runs": profiling_retention.prune_runs(limit=limit),
        "events": _all_events(limit),
    }
