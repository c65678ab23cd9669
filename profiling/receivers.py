"""Profiling's subscriptions to catalog hooks and to its own (connected in ProfilingConfig.ready())."""

import logging

from django.dispatch import receiver

from catalog.signals import dataset_deleted, version_deleted_in_transaction, version_stored
from profiling import forgetting, jobs, monitors, signals
from profiling.models import RunStatus

log = logging.getLogger(__name__)


@receiver(version_stored, dispatch_uid="profiling.queue_profile_on_version_stored")
def queue_profile_on_version_stored(sender, version, actor=None, **kwargs) -> None:
    """Every stored version is profiled (create its pending job and queue it), except the versions of
    a source that asks for none."""
    source = version.dataset.source
    if version.is_reference and source is not None and not source.profile:
        return
    jobs.queue_profile(version=version, actor=actor)


@receiver(version_deleted_in_transaction, dispatch_uid="profiling.purge_on_version_deleted")
def purge_on_version_deleted(sender, version, **kwargs) -> None:
    """A deleted version's profile and all derived from its data go with it, in its transaction:
    raising here undoes the deletion, so nothing is half-forgotten."""
    counts = forgetting.purge_version(version=version)
    log.info("profiling forgot version %s: %s", version, counts)


@receiver(version_stored, dispatch_uid="profiling.monitor_freshness_on_version_stored")
def restart_freshness_on_version_stored(sender, version, **kwargs) -> None:
    """A new version resolves the dataset's freshness alerts and restarts their clock. Never raises:
    the version is stored and must not turn into an error for whoever sent it."""
    try:
        monitors.after_version_stored(dataset_id=version.dataset_id)
    except Exception:  # noqa: BLE001 - a hook must not fail the upload; the sweep looks again
        log.exception("freshness of %s not updated after its new version", version.dataset_id)


@receiver(dataset_deleted, dispatch_uid="profiling.forget_monitor_schedule_on_dataset_deleted")
def forget_monitor_schedule_on_dataset_deleted(sender, dataset, **kwargs) -> None:
    """The monitor went with its dataset; its beat entry (a row beat reads) goes now, not at its next run."""
    try:
        monitors.forget_schedule(dataset_id=dataset.pk)
    except Exception:  # noqa: BLE001 - the deletion is committed; the entry's first run removes it
        log.exception("beat entry of the monitor of deleted dataset %s not removed", dataset.pk)


@receiver(signals.profile_finished, dispatch_uid="profiling.judge_monitor_on_profile_finished")
def judge_monitor_on_profile_finished(sender, version, status=None, **kwargs) -> None:
    """A profile finished: judge the dataset's monitor on it and announce drift. Never raises: the
    profile is written, and the job that sent this must not fail because of a rule."""
    if status != RunStatus.SUCCEEDED:
        return
    try:
        monitors.evaluate_latest(
            dataset_id=version.dataset_id, version_number=version.number, announce_drift=True
        )
    except Exception:  # noqa: BLE001 - see above; the next profile or scheduled run judges again
        log.exception("monitor of dataset %s not judged after the profile of %s", version.dataset_id, version)
