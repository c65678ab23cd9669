"""Profiling's subscriptions to catalog hooks (connected in ProfilingConfig.ready())."""

from django.dispatch import receiver

from catalog.signals import version_stored
from profiling import jobs


@receiver(version_stored, dispatch_uid="profiling.queue_profile_on_version_stored")
def queue_profile_on_version_stored(sender, version, actor=None, **kwargs) -> None:
    """Every stored version is profiled (create its pending job and queue it), except the versions of
    a source that asks for none."""
    source = version.dataset.source
    if version.is_reference and source is not None and not source.profile:
        return
    jobs.queue_profile(version=version, actor=actor)
