"""Profiles past PROFILE_RUN_RETENTION_DAYS that newer ones have superseded are pruned.

A profile is kept whatever its age when something still reads it: the latest succeeded profile of
its dataset, the one before it (the latest's drift compares with it), a monitor's pinned reference,
the profile a still-proposed suite was learned from, and any profile not finished. Pruning deletes
the run (its parts' engine states with it); the version reads as not profiled ("skipped") and may
be profiled again while its data is there. Quality results stay: the quality history is one small
row per version, and clearance reads it.
"""

from __future__ import annotations

from django.db.models import QuerySet

from catalog import versions as catalog_versions
from catalog.models import ProfileStatus
from catalog.retention import cutoff, delete_in_batches
from profiling.models import ExpectationSuite, Monitor, ProfileRun, RunStatus
from profiling.suites import proposed_from


def _kept_ids(dataset_ids: set[int]) -> set[int]:
    """Of these datasets' runs, those something still reads (see the module's docstring)."""
    kept: set[int] = set()
    pinned = dict(
        Monitor.objects.filter(dataset_id__in=dataset_ids, reference_version__isnull=False).values_list(
            "dataset_id", "reference_version"
        )
    )
    learned = {
        s.dataset_id: proposed_from(s) for s in ExpectationSuite.objects.filter(dataset_id__in=dataset_ids)
    }
    for dataset_id in dataset_ids:
        runs = ProfileRun.objects.filter(dataset_id=dataset_id, status=RunStatus.SUCCEEDED).order_by(
            "-version_number"
        )
        kept.update(runs.values_list("pk", flat=True)[:2])
        wanted = {pinned.get(dataset_id), learned.get(dataset_id)} - {None}
        kept.update(runs.filter(version_number__in=wanted).values_list("pk", flat=True))
    return kept


def prunable() -> QuerySet[ProfileRun]:
    """Finished profiles older than the cutoff that newer profiles superseded (none when off)."""
    before = cutoff("PROFILE_RUN_RETENTION_DAYS")
    if before is None:
        return ProfileRun.objects.none()
    old = ProfileRun.objects.filter(
        status__in=(RunStatus.SUCCEEDED, RunStatus.FAILED), finished_at__lt=before
    )
    dataset_ids = set(old.values_list("dataset_id", flat=True).distinct())
    return old.exclude(pk__in=_kept_ids(dataset_ids))


def _mark_not_profiled(batch: QuerySet[ProfileRun]) -> None:
    for run in batch.select_related("version"):
        catalog_versions.set_version_profile_status(version=run.version, status=ProfileStatus.SKIPPED)


def prune_runs(*, limit: int | None = None) -> int:
    """Delete the prunable profiles, in batches → how many."""
    return delete_in_batches(prunable(), before_delete=_mark_not_profiled, limit=limit)
