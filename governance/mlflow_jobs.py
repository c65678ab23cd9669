"""MLflow sync jobs: asked for by staff (the API) or by beat (MLFLOW_SYNC_CRON), run by a worker.

``request_sync`` writes the job (pending) and its message to the outbox in one transaction; one job
waits or runs at a time (asking again answers the active one). ``run_job`` is the task's body: it
claims the job under a lease (a message delivered twice does the work once; a job whose worker died
is taken over once the lease runs out), runs governance.mlflow_sync and ends the job with its counts.
MLflow down or answering errors fails the job with the reason, nothing stored; the next one retries.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from catalog import outbox
from catalog.schedules import check_cron, keep_periodic_task
from config.errors import NotAllowed
from governance import mlflow_sync
from governance.models import MlflowSync, SyncStatus

log = logging.getLogger(__name__)

RUN_TASK = "governance.run_mlflow_sync"
SCHEDULE_TASK = "governance.request_mlflow_sync"
SCHEDULE_NAME = "mlflow-sync"
ACTIVE = (SyncStatus.PENDING, SyncStatus.RUNNING)
BEAT_EVERY = 2.0  # seconds between heartbeats (and count updates) while a job runs


def lease_seconds() -> int:
    return int(getattr(settings, "MLFLOW_SYNC_LEASE_SECONDS", 300))


def _lease_expired(job: MlflowSync) -> bool:
    beat = job.heartbeat_at or job.started_at
    return beat is None or beat < timezone.now() - timedelta(seconds=lease_seconds())


def request_sync(*, actor, trigger: str = "manual") -> MlflowSync:
    """Queue a sync → the job (the one already waiting or running, if any).

    Staff only (the schedule, actor None, always may); no tracking URI configured: Unavailable (409)."""
    if actor is not None and not (actor.is_authenticated and actor.is_staff):
        raise NotAllowed("Only staff may sync MLflow.")
    uri = mlflow_sync.shown_uri(mlflow_sync.configured_uri())[:500]
    for _ in range(3):
        active = MlflowSync.objects.filter(tracking_uri=uri, status__in=ACTIVE).first()
        if active is not None:
            if active.status == SyncStatus.RUNNING and _lease_expired(active):
                outbox.enqueue(RUN_TASK, [active.pk])  # its worker died: this message takes it over
            return active
        try:
            with transaction.atomic():
                job = MlflowSync.objects.create(
                    tracking_uri=uri,
                    trigger=trigger,
                    requested_by=actor if actor is not None else None,
                )
                outbox.enqueue(RUN_TASK, [job.pk])
                return job
        except IntegrityError:  # another request created the active job meanwhile
            continue
    return (
        MlflowSync.objects.filter(tracking_uri=uri, status__in=ACTIVE).first() or MlflowSync.objects.first()
    )


@transaction.atomic
def _claim(job_id: int, token: str) -> MlflowSync | None:
    job = MlflowSync.objects.select_for_update().filter(pk=job_id).first()
    if job is None or job.status not in ACTIVE:
        return None
    if job.status == SyncStatus.RUNNING and not _lease_expired(job):
        return None  # another worker holds it
    if job.attempts >= int(getattr(settings, "MLFLOW_SYNC_MAX_ATTEMPTS", 3)):
        message = f"The sync was abandoned after {job.attempts} attempts: its worker stopped each time."
        _finish(job.pk, status=SyncStatus.FAILED, errors=[{"message": message}])
        return None
    now = timezone.now()
    MlflowSync.objects.filter(pk=job.pk).update(
        status=SyncStatus.RUNNING,
        claim_token=token,
        heartbeat_at=now,
        started_at=now,
        attempts=F("attempts") + 1,
    )
    job.refresh_from_db()
    return job


def _finish(job_id: int, *, status: str, token: str | None = None, **fields) -> bool:
    rows = MlflowSync.objects.filter(pk=job_id, status__in=ACTIVE)
    if token is not None:
        rows = rows.filter(claim_token=token)
    return bool(rows.update(status=status, finished_at=timezone.now(), claim_token="", **fields))


def _counts(counts: mlflow_sync.Counts) -> dict:
    return {
        "seen": counts.seen,
        "created": counts.created,
        "updated": counts.updated,
        "unchanged": counts.unchanged,
        "unknown_inputs": counts.unknown_inputs,
        "errors": counts.errors[:1000],
    }


def run_job(job_id: int) -> str:
    """Claim and run one sync job → its final status ("" when it was not this call's to run)."""
    token = uuid.uuid4().hex
    job = _claim(job_id, token)
    if job is None:
        return ""
    last = [timezone.now()]

    def beat(counts: mlflow_sync.Counts) -> None:
        now = timezone.now()
        if (now - last[0]).total_seconds() >= BEAT_EVERY:
            last[0] = now
            fields = _counts(counts)
            MlflowSync.objects.filter(pk=job_id, claim_token=token).update(heartbeat_at=now, **fields)

    try:
        counts = mlflow_sync.sync(beat=beat)
    except (mlflow_sync.SyncFailed, mlflow_sync.Unavailable) as exc:
        _finish(job_id, status=SyncStatus.FAILED, token=token, errors=[{"message": str(exc)}])
        return SyncStatus.FAILED
    except Exception as exc:  # a defect: the job says so rather than staying "running"
        log.exception("MLflow sync %s failed", job_id)
        message = f"The sync stopped on an unexpected error: {type(exc).__name__}: {exc}"[:1000]
        _finish(job_id, status=SyncStatus.FAILED, token=token, errors=[{"message": message}])
        return SyncStatus.FAILED
    status = SyncStatus.PARTIAL if counts.errors else SyncStatus.SUCCEEDED
    _finish(job_id, status=status, token=token, **_counts(counts))
    return status


def requeue_stale() -> int:
    """Queue again the jobs whose worker died (lease over) or whose message was lost → how many."""
    stale = [j for j in MlflowSync.objects.filter(status__in=ACTIVE) if _lease_expired(j)]
    for job in stale:
        outbox.enqueue(RUN_TASK, [job.pk])
    return len(stale)


@transaction.atomic
def keep_schedule() -> None:
    """Beat's entry "mlflow-sync" as MLFLOW_SYNC_CRON says (deleted when empty or with no tracking
    URI); run at each ``migrate`` so a deployment's settings are beat's."""
    from django_celery_beat.models import PeriodicTask

    cron = (getattr(settings, "MLFLOW_SYNC_CRON", "") or "").strip()
    if not (getattr(settings, "MLFLOW_TRACKING_URI", "") or "").strip():
        cron = ""
    if cron:
        cron = check_cron(cron, field="MLFLOW_SYNC_CRON")
    keep_periodic_task(
        PeriodicTask.objects.filter(name=SCHEDULE_NAME).first(),
        name=SCHEDULE_NAME,
        task=SCHEDULE_TASK,
        args=[],
        cron=cron,
        description="Sync MLflow's registered model versions (MLFLOW_SYNC_CRON).",
    )
