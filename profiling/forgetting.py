"""Forgetting a deleted version: everything profiling derived from its data goes, in the transaction
that marks the version deleted (catalog.signals.version_deleted_in_transaction).

What goes: the version's profile (top values, samples, histograms, quantiles, min/max, PII
findings, drift state) with its parts' engine states, its quality result (failing values, partial
unexpected lists), the figures of alerts raised by it or against it, and a proposed expectation
suite learned from it (its value sets and ranges are the version's values). What changes: the next
version's drift, which compared itself with the deleted one, is computed again against the
nearest earlier version that still has a profile; a monitor pinned to it compares with the
previous version again.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import Q

from profiling.expectations import propose_expectations
from profiling.jobs import queue_profile
from profiling.models import Alert, ExpectationSuite, Monitor, ProfileRun, QualityResult, RunStatus
from profiling.results import drift_between
from profiling.suites import proposed_from

log = logging.getLogger(__name__)

PURGED = "Purged: the version this quoted was deleted."


@transaction.atomic
def purge_version(*, version) -> dict[str, int]:
    """Remove or recompute what profiling stored from ``version``'s data → counts of what changed."""
    number, dataset_id = version.number, version.dataset_id
    # The dataset's runs locked in primary-key order, as profiling.results does: a job finishing
    # now waits, then finds its run gone (and gives up) or sees the new drift.
    runs = list(
        ProfileRun.objects.select_for_update()
        .filter(dataset_id=dataset_id)
        .order_by("pk")
        .only("pk", "status", "version_number")
    )
    counts = {
        "profiles": ProfileRun.objects.filter(version_id=version.pk)
        .delete()[1]
        .get("profiling.ProfileRun", 0),
        "quality_results": QualityResult.objects.filter(version_id=version.pk).delete()[0],
    }
    survivors = [r for r in runs if r.status == RunStatus.SUCCEEDED and r.version_number != number]
    counts["drift_recomputed"] = _redo_drift_after(survivors, number=number)
    counts["alerts_purged"] = _purge_alerts(dataset_id=dataset_id, number=number)
    Monitor.objects.filter(dataset_id=dataset_id, reference_version=number).update(reference_version=None)
    counts["suites_reproposed"] = _repropose_suite(dataset_id=dataset_id, number=number, survivors=survivors)
    return counts


def _redo_drift_after(survivors: list[ProfileRun], *, number: int) -> int:
    """The next later profile compared itself with the deleted version: compare it with the nearest
    earlier profile left, or with none."""
    following = min(
        (r for r in survivors if r.version_number > number), key=lambda r: r.version_number, default=None
    )
    if following is None:
        return 0
    nxt = ProfileRun.objects.only("pk", "drift", "drift_state").get(pk=following.pk)
    if (nxt.drift or {}).get("previous_version") != number:
        return 0
    earlier = ProfileRun.objects.filter(
        pk__in=[r.pk for r in survivors if r.version_number < number]
    ).exclude(drift_state=None)
    previous = earlier.order_by("-version_number").only("version_number", "drift_state").first()
    redone = None
    if previous is not None and nxt.drift_state is not None:
        redone = drift_between(
            previous.drift_state, nxt.drift_state, previous_version=previous.version_number, warnings=None
        )
    ProfileRun.objects.filter(pk=nxt.pk).update(drift=redone)
    return 1


def _purge_alerts(*, dataset_id: int, number: int) -> int:
    """Alerts keep their rule, status and who handled them; figures and messages (which may quote a
    group's value or a column's figure) of the deleted version go."""
    alerts = Alert.objects.filter(
        Q(version_number=number) | Q(reference_version=number), dataset_id=dataset_id
    )
    changed = 0
    for alert in alerts.select_for_update():
        alert.figures = {}
        alert.resolved_figures = None
        alert.message = PURGED
        alert.history = [
            {k: v for k, v in step.items() if k not in ("figures", "note")} for step in alert.history
        ]
        alert.save(update_fields=["figures", "resolved_figures", "message", "history"])
        changed += 1
    return changed


def _repropose_suite(*, dataset_id: int, number: int, survivors: list[ProfileRun]) -> int:
    """A proposed suite nobody edited, learned from the deleted version, is learned again from the
    earliest profile left (or goes, to be proposed by the next profile). An edited or imported suite
    is a person's: it stays as they wrote it."""
    suite = ExpectationSuite.objects.select_for_update().filter(dataset_id=dataset_id).first()
    if suite is None or proposed_from(suite) != number:
        return 0
    source = (
        ProfileRun.objects.filter(pk__in=[r.pk for r in survivors])
        .order_by("version_number")
        .only("version_number", "columns", "row_count")
        .first()
    )
    if source is None:
        suite.delete()
        return 1
    suite.expectations = propose_expectations(columns=source.columns, row_count=source.row_count)
    suite.meta = {**(suite.meta or {}), "proposed_from_version": source.version_number}
    suite.version += 1
    suite.save(update_fields=["expectations", "meta", "version", "updated_at"])
    _rejudge(dataset_id=dataset_id, judged_by=number)
    return 1


def _rejudge(*, dataset_id: int, judged_by: int) -> None:
    """Quality results judged by the suite learned from the deleted version quote its values (a
    range's bounds, a value set): they go now, and their versions are profiled again, by the new
    proposal, once this transaction commits."""
    judged = QualityResult.objects.filter(dataset_id=dataset_id, method__suite_proposed_from=judged_by)
    version_ids = list(judged.values_list("version_id", flat=True))
    judged.delete()
    ProfileRun.objects.filter(version_id__in=version_ids).update(quality=None)
    for run in ProfileRun.objects.filter(version_id__in=version_ids).select_related("version"):
        queue_profile(version=run.version)
