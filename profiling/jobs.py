"""A profile job's life in the database: queued, claimed under a lease, given back, failed.

A profile job is claimed with a lease (``ProfileRun.claim_token`` + ``heartbeat_at``) so that a
message delivered twice does the work once, a job whose worker died (SIGKILL, OOM) is done again by
the next delivery, and a finished job is never redone. Running a claimed job is profiling.runner;
writing what it produced, profiling.results.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import F
from django.utils import timezone

from catalog import outbox
from catalog import versions as catalog_versions
from catalog.permissions import can_change_dataset
from config.errors import Conflict, NotAllowed
from profiling import signals
from profiling.models import PartStatus, ProfilePart, ProfileRun, RunStatus

logger = logging.getLogger(__name__)

# The Celery task that runs a job (profiling/tasks.py), addressed by its registered name: the task
# module imports the runner, which imports this module, so importing the task here would close an
# import circle. ProfilingConfig.ready() imports the task module, so every process has it registered.
PROFILE_TASK = "profiling.profile_version"
PART_TASK = "profiling.profile_part"  # one part of a version profiled in parts (profiling.part_jobs)


def lease_seconds() -> int:
    return int(getattr(settings, "PROFILING_LEASE_SECONDS", 120))


def max_attempts() -> int:
    return int(getattr(settings, "PROFILING_MAX_ATTEMPTS", 3))


# ---------------------------------------------------------------------------------------------
# Queueing


def _enqueue(run_id: int, task: str = PROFILE_TASK) -> None:
    """Write the job's message to the outbox in the current transaction: it is sent once that
    commits, or by the outbox's sweep when the broker cannot take it (the run stays pending, never
    lost). Celery puts the sender's limits into the message and the worker obeys those: they are read
    from settings now, so web, beat and workers configured alike agree on them."""
    outbox.enqueue(
        task,
        [run_id],
        options={
            "soft_time_limit": getattr(settings, "PROFILING_SOFT_TIME_LIMIT", 3600),
            "time_limit": getattr(settings, "PROFILING_TIME_LIMIT", 3720),
        },
    )


def enqueue_part(part_id: int) -> None:
    """Queue one part of a version profiled in parts (on commit, like _enqueue)."""
    _enqueue(part_id, PART_TASK)


@transaction.atomic
def queue_profile(*, version, actor=None) -> ProfileRun:
    """Create (or reset) the version's pending profile job and queue it once committed."""
    catalog_versions.check_not_deleted(version)
    run, created = ProfileRun.objects.select_for_update().get_or_create(
        version=version,
        defaults={
            "dataset_id": version.dataset_id,
            "version_number": version.number,
            "requested_by": actor if actor is not None and actor.is_authenticated else None,
        },
    )
    if not created:
        if run.status == RunStatus.RUNNING and not lease_expired(run):
            return run
        _reset(run, actor=actor)
    catalog_versions.set_version_profile_status(version=version, status=RunStatus.PENDING)
    _enqueue(run.pk)
    transaction.on_commit(
        lambda: signals.profile_queued.send(sender=ProfileRun, version=version), robust=True
    )
    return run


def _reset(run: ProfileRun, *, actor) -> None:
    run.status = RunStatus.PENDING
    run.progress = 0.0
    run.error = ""
    run.attempts = 0
    run.claim_token = ""
    run.heartbeat_at = None
    run.started_at = run.finished_at = None
    run.queued_at = timezone.now()
    if actor is not None and actor.is_authenticated:
        run.requested_by = actor
    run.save()


def lease_expired(run: ProfileRun) -> bool:
    beat = run.heartbeat_at or run.started_at
    return beat is None or beat < timezone.now() - timedelta(seconds=lease_seconds())


@transaction.atomic
def request_rerun(*, actor, version) -> ProfileRun:
    """Profile a version again (API re-run). Only the owner, a steward or staff may.

    A job that is running right now is not started twice (409); a pending one is queued again,
    which is harmless (the claim makes a second message a no-op) and rescues a lost message.
    """
    dataset = version.dataset
    if not can_change_dataset(actor, dataset):
        raise NotAllowed("Only the dataset's owner, a steward or staff may re-run profiling.")
    catalog_versions.check_not_deleted(version)
    run = ProfileRun.objects.select_for_update().filter(version=version).first()
    if run is not None and run.status == RunStatus.RUNNING and not lease_expired(run):
        raise Conflict(
            "Profiling of this version is running; wait for it to finish before re-running.",
            {"status": ["running"]},
        )
    if run is not None and run.status == RunStatus.PENDING:
        _enqueue(run.pk)
        return run
    return queue_profile(version=version, actor=actor)


def requeue_stale_runs(*, pending_after_seconds: int | None = None) -> list[int]:
    """Queue again the jobs whose message may be lost → their ids.

    A running job whose lease ran out (its worker died) and a pending job queued long ago. With a
    broker that redelivers (Redis, acks_late) this only speeds things up; with the embedded
    broker, which loses a message when the whole worker dies, it is what finishes the job. Extra
    messages are harmless: the claim makes all but one a no-op.
    """
    lease = timedelta(seconds=lease_seconds())
    now = timezone.now()
    pending_cutoff = now - timedelta(seconds=pending_after_seconds or 2 * lease_seconds())
    stale_running = ProfileRun.objects.filter(
        status=RunStatus.RUNNING, heartbeat_at__lt=now - lease, parts__isnull=True
    )
    old_pending = ProfileRun.objects.filter(status=RunStatus.PENDING, queued_at__lt=pending_cutoff)
    ids = sorted(
        set(stale_running.values_list("pk", flat=True)) | set(old_pending.values_list("pk", flat=True))
    )
    # A long queue is not a lost message: a run re-queued now waits another two leases before
    # the next sweep sends it again, so duplicates stay few.
    ProfileRun.objects.filter(pk__in=ids, status=RunStatus.PENDING).update(queued_at=now)
    for run_id in ids:
        _enqueue(run_id)
    if ids:
        logger.info("re-queued %d stale profile run(s): %s", len(ids), ids[:20])
    _requeue_stale_parts(now=now, lease=lease, pending_cutoff=pending_cutoff)
    return ids


def _requeue_stale_parts(*, now, lease, pending_cutoff) -> list[int]:
    """Parts of running runs whose lease ran out or whose message may be lost, and one part of each
    run whose parts all succeeded but whose merge stopped (its lease ran out): queued again."""
    live = ProfilePart.objects.filter(run__status=RunStatus.RUNNING)
    stale = live.filter(status=PartStatus.RUNNING, heartbeat_at__lt=now - lease)
    lost = live.filter(status=PartStatus.PENDING, queued_at__lt=pending_cutoff)
    ids = set(stale.values_list("pk", flat=True)) | set(lost.values_list("pk", flat=True))
    unmerged = live.filter(run__heartbeat_at__lt=now - lease).exclude(
        run__parts__status__in=[PartStatus.PENDING, PartStatus.RUNNING, PartStatus.FAILED]
    )
    first_of_run: dict[int, int] = {}
    for pk, run_id in unmerged.values_list("pk", "run_id").order_by("run_id", "index"):
        first_of_run.setdefault(run_id, pk)
    ids |= set(first_of_run.values())
    ProfilePart.objects.filter(pk__in=ids, status=PartStatus.PENDING).update(queued_at=now)
    for part_id in sorted(ids):
        with transaction.atomic():
            enqueue_part(part_id)
    if ids:
        logger.info("re-queued %d stale profile part(s)", len(ids))
    return sorted(ids)


# ---------------------------------------------------------------------------------------------
# Claiming, giving back and failing a job


@dataclass
class Outcome:
    """What the task should do after a call: nothing (done) or try again in `retry_in` seconds."""

    state: str  # "succeeded" | "failed" | "done-before" | "busy" | "gone" | "lost-lease"
    retry_in: float | None = None


@transaction.atomic
def claim_run(*, run_id: int, token: str) -> tuple[ProfileRun | None, Outcome | None]:
    """Take the job for this worker, or say why not. Conditional on the row's state under a lock."""
    run = ProfileRun.objects.select_for_update().filter(pk=run_id).first()
    if run is None:
        return None, Outcome("gone")
    if run.finished:
        return None, Outcome("done-before")
    if run.status == RunStatus.RUNNING and ProfilePart.objects.filter(run=run).exists():
        # Profiled in parts (profiling.part_jobs): their own leases decide, not the run's.
        return None, Outcome("parts")
    if run.status == RunStatus.RUNNING and not lease_expired(run):
        beat = run.heartbeat_at or run.started_at
        wait = max(1.0, lease_seconds() - (timezone.now() - beat).total_seconds() + 1)
        return None, Outcome("busy", retry_in=wait)
    if run.attempts >= max_attempts():
        # Each earlier worker died holding it (killed, out of memory, hard time limit): stop looping.
        _write_failure(
            run,
            f"Profiling was abandoned after {run.attempts} attempts: the worker stopped each time "
            "(killed, out of memory or over the hard time limit).",
        )
        return None, Outcome("failed")
    now = timezone.now()
    ProfilePart.objects.filter(run=run).delete()  # an earlier attempt's parts: this one starts over
    ProfileRun.objects.filter(pk=run.pk).update(
        status=RunStatus.RUNNING,
        attempts=F("attempts") + 1,
        claim_token=token,
        heartbeat_at=now,
        started_at=now,
        finished_at=None,
        progress=0.0,
        error="",
    )
    catalog_versions.set_version_profile_status(version=run.version, status=RunStatus.RUNNING)
    run.refresh_from_db()
    return run, None


def readable(message: str, limit: int = 500) -> str:
    """A message fit to show: one line, printable characters only (bad files put bytes in errors)."""
    text = " ".join(str(message).split())
    text = "".join(ch if ch.isprintable() and ch != "\ufffd" else "?" for ch in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _write_failure(run: ProfileRun, message: str) -> None:
    error = readable(message)
    ProfileRun.objects.filter(pk=run.pk).update(
        status=RunStatus.FAILED, error=error, finished_at=timezone.now(), claim_token=""
    )
    version = run.version
    catalog_versions.set_version_profile_status(version=version, status=RunStatus.FAILED)
    signals.profile_finished_in_transaction.send(
        sender=ProfileRun, version=version, status=RunStatus.FAILED, error=error
    )
    transaction.on_commit(
        lambda: signals.profile_finished.send(
            sender=ProfileRun, version=version, status=RunStatus.FAILED, error=error
        )
    )


@transaction.atomic
def fail_run(*, run_id: int, message: str, token: str | None = None) -> bool:
    """Mark a job failed with a readable message (only if `token` still holds it, when given)."""
    run = ProfileRun.objects.select_for_update().select_related("version").filter(pk=run_id).first()
    if run is None or run.finished or (token is not None and run.claim_token != token):
        return False
    _write_failure(run, message)
    return True


def release_run(*, run_id: int, token: str) -> None:
    """Give a claimed job back (pending) before a retry; best effort, the lease covers failure."""
    try:
        ProfileRun.objects.filter(pk=run_id, claim_token=token, status=RunStatus.RUNNING).update(
            status=RunStatus.PENDING, claim_token="", heartbeat_at=None
        )
    except (OperationalError, InterfaceError):
        logger.warning("could not release profile run %s; its lease will expire", run_id)
