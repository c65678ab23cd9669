"""Writing what a profile job produced: the profile, its drift, the proposed suite, the quality result
and the catalog's columns, in one transaction, only while the job's worker still holds its lease.

The runs of the dataset are locked together (in primary-key order, so two finishing jobs cannot
deadlock): versions profiled concurrently finish one after the other here, and each sees what the
others wrote. That is what makes drift and the proposed suite independent of which worker wins
(docs/quality.md "Versions profiled concurrently").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from catalog import columns as catalog_columns
from catalog import versions as catalog_versions
from profiling import signals
from profiling.jobs import Outcome, queue_profile
from profiling.models import ExpectationSuite, ProfileRun, QualityResult, RunStatus, SuiteOrigin
from profiling.suites import proposed_from, proposed_from_later, suite_name

logger = logging.getLogger(__name__)


@dataclass
class Computed:
    """What a job computed before writing anything (profiling.runner hands it over)."""

    result: Any
    quality: dict[str, Any] | None
    proposed: list[dict[str, Any]] | None
    suite_version: int | None
    suite_source: int | None  # the version a proposed suite was learned from (None: edited/imported)
    warnings: list[str]


@transaction.atomic
def write_results(*, run_id: int, token: str, computed: Computed) -> Outcome:
    """Write everything the job produced at once, if this worker still holds the job."""
    siblings = _lock_dataset_runs(run_id)
    run = ProfileRun.objects.select_related("version__dataset").filter(pk=run_id).first()
    if run is None or run.claim_token != token or run.status != RunStatus.RUNNING:
        logger.warning(
            "profile run %s: lease lost before writing (another worker, or version deleted)", run_id
        )
        return Outcome("lost-lease")
    version, dataset, result = run.version, run.version.dataset, computed.result
    warnings = list(computed.warnings)
    succeeded = [r for r in siblings if r.status == RunStatus.SUCCEEDED and r.pk != run.pk]

    drift = _drift_from_earlier(succeeded, number=version.number, state=result.drift_state, warnings=warnings)
    _save_run(run, computed, drift=drift, warnings=warnings)
    _redo_drift_of_following(succeeded, number=version.number, state=result.drift_state)
    suite_version, requeue = _settle_proposed_suite(dataset, version, computed)
    if computed.quality is not None:
        _save_quality_result(dataset, version, computed, suite_version=suite_version)
    _update_catalog(dataset, version, result)
    # Inside the transaction: governance records profile.finished (and quality.failed) with the
    # results; a receiver that raises fails this write, and the job with it (retried if transient).
    signals.profile_finished_in_transaction.send(
        sender=ProfileRun, version=version, status=RunStatus.SUCCEEDED, error=None
    )
    transaction.on_commit(
        lambda: signals.profile_finished.send(
            sender=ProfileRun, version=version, status=RunStatus.SUCCEEDED, error=None
        )
    )
    if requeue:
        _requeue_versions(version_ids=requeue)
    return Outcome("succeeded")


def _lock_dataset_runs(run_id: int) -> list[ProfileRun]:
    """Lock every run of the job's dataset, in primary-key order → those runs."""
    dataset_id = ProfileRun.objects.filter(pk=run_id).values_list("dataset_id", flat=True).first()
    return list(
        ProfileRun.objects.select_for_update()
        .filter(dataset_id=dataset_id)
        .order_by("pk")
        .only("pk", "status", "version_number")
    )


def _drift_from_earlier(succeeded: list[ProfileRun], *, number: int, state, warnings: list[str]):
    """Drift against the latest earlier version whose profile has succeeded by now (or None)."""
    earlier = ProfileRun.objects.filter(
        pk__in=[r.pk for r in succeeded if r.version_number < number]
    ).exclude(drift_state=None)
    previous = earlier.order_by("-version_number").only("version_number", "drift_state").first()
    if previous is None or state is None:
        return None
    return drift_between(
        previous.drift_state, state, previous_version=previous.version_number, warnings=warnings
    )


def _save_run(run: ProfileRun, computed: Computed, *, drift, warnings: list[str]) -> None:
    """The run succeeded: its profile, drift, warnings and quality, and the lease given up."""
    from profiling.engine.profile import drop_non_finite

    result, q = computed.result, computed.quality
    run.status = RunStatus.SUCCEEDED
    run.progress = 1.0
    run.error = ""
    run.finished_at = timezone.now()
    run.claim_token = ""
    run.row_count = result.row_count
    run.columns = result.columns
    run.schema = result.schema
    run.pii = result.pii or {}
    run.bias = result.bias
    run.drift = drift
    run.drift_state = result.drift_state
    run.warnings = warnings
    run.method = {**(result.method or {}), **({"quality": q["method"]} if q else {})}
    run.quality = {k: q[k] for k in ("success", "score", "results")} if q else None
    drop_non_finite(run.quality)  # GX reports an overflowing mean as inf: not JSON
    run.save()


def _redo_drift_of_following(succeeded: list[ProfileRun], *, number: int, state) -> None:
    """The next later version that finished first compared itself with an older version (or with
    none): this version now sits between them, so its drift is computed again against this one."""
    following = min(
        (r for r in succeeded if r.version_number > number), key=lambda r: r.version_number, default=None
    )
    if following is None or state is None:
        return
    nxt = ProfileRun.objects.only("pk", "drift", "drift_state").get(pk=following.pk)
    if nxt.drift_state is None:
        return
    redone = drift_between(state, nxt.drift_state, previous_version=number, warnings=None)
    if redone is not None:
        ProfileRun.objects.filter(pk=nxt.pk).update(drift=redone)


def _settle_proposed_suite(dataset, version, computed: Computed) -> tuple[int | None, list[int]]:
    """Store or replace the proposed suite → (suite version the quality result was judged by,
    versions to profile again).

    The default suite is learned from the earliest version profiled: a proposal from a later
    version (whose run finished first) is replaced while nobody has edited it, and the versions it
    judged are profiled again with this one.
    """
    number = version.number
    suite_version, requeue = computed.suite_version, []
    if computed.proposed is not None:
        suite = ExpectationSuite.objects.select_for_update().filter(dataset=dataset).first()
        if suite is None:
            suite = ExpectationSuite.objects.create(
                dataset=dataset,
                name=suite_name(dataset),
                expectations=computed.proposed,
                origin=SuiteOrigin.PROPOSED,
                meta={"proposed_from_version": number},
            )
        elif proposed_from_later(suite, number):
            replaced = proposed_from(suite)
            suite.expectations = computed.proposed
            suite.meta = {**(suite.meta or {}), "proposed_from_version": number}
            suite.version += 1
            suite.save(update_fields=["expectations", "meta", "version", "updated_at"])
            requeue = list(
                QualityResult.objects.filter(dataset=dataset, version_number__gt=number)
                .filter(method__suite_proposed_from=replaced)
                .values_list("version_id", flat=True)
            )
        suite_version = suite.version if proposed_from(suite) == number else suite_version
    current = ExpectationSuite.objects.filter(dataset=dataset).first()
    if computed.suite_source is not None and current is not None:
        source_now = proposed_from(current)
        if source_now is not None and source_now < computed.suite_source:
            # An earlier version's proposal arrived while this job ran: judge this one again by it.
            requeue.append(version.pk)
    return suite_version, requeue


def _save_quality_result(dataset, version, computed: Computed, *, suite_version: int | None) -> None:
    """The version's quality result: what the dashboards and clearance read, one row per version."""
    q = computed.quality
    passed = sum(1 for r in q["results"] if r["success"])
    QualityResult.objects.update_or_create(
        version=version,
        defaults={
            "dataset": dataset,
            "version_number": version.number,
            "success": q["success"],
            "score": q["score"],
            "evaluated": len(q["results"]),
            "successful": passed,
            "suite_version": suite_version,
            "results": q["results"],
            "method": {**q["method"], "suite_proposed_from": computed.suite_source},
            "created_at": timezone.now(),
        },
    )


def _update_catalog(dataset, version, result) -> None:
    """Columns describe the latest version: an older version profiled again must not roll them back."""
    latest = dataset.versions.order_by("-number").values_list("number", flat=True).first()
    if latest == version.number:
        catalog_columns.set_columns_from_schema(dataset=dataset, columns=result.schema)
        if result.pii:
            catalog_columns.mark_columns_pii(dataset=dataset, findings=result.pii)
    catalog_versions.set_version_profile_status(version=version, status=RunStatus.SUCCEEDED)


def drift_between(previous_state, current_state, *, previous_version: int, warnings: list[str] | None):
    """The engine's drift object, or None (with a warning) when it cannot be computed."""
    from celery.exceptions import SoftTimeLimitExceeded

    from profiling.engine import compute_drift

    try:
        return compute_drift(previous_state, current_state, previous_version=previous_version)
    except SoftTimeLimitExceeded:
        raise
    except Exception as exc:  # noqa: BLE001 - drift is one part; keep the others
        logger.exception("drift against version %s failed", previous_version)
        if warnings is not None:
            warnings.append(f"Drift could not be computed: {exc.__class__.__name__}: {str(exc)[:200]}")
        return None


def _requeue_versions(*, version_ids: list[int]) -> None:
    """Profile these versions again once this transaction commits (their quality used a replaced
    proposal). Bounded: each round replaces the proposal with one from a strictly lower version."""
    for run in ProfileRun.objects.filter(version_id__in=version_ids).select_related("version"):
        logger.info("profile of %s queued again: it was judged by a replaced suite proposal", run.version)
        queue_profile(version=run.version)
