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

from django.conf import settings
from django.db import transaction

from catalog import leases
from catalog.schedules import check_cron, keep_periodic_task
from config.errors import NotAllowed
from governance import mlflow_sync
from governance.models import MlflowSync, SyncStatus

log = logging.getLogger(__name__)

RUN_TASK = "governance.run_mlflow_sync"
SCHEDULE_TASK = "governance.request_mlflow_sync"
SCHEDULE_NAME = "mlflow-sync"


def lease_seconds() -> int:
    return int(getattr(settings, "MLFLOW_SYNC_LEASE_SECONDS", 300))


def request_sync(*, actor, trigger: str = "manual") -> MlflowSync:
    """Queue a sync → the job (the one already waiting or running, if any).

    Staff only (the schedule, actor None, always may); no tracking URI configured: Unavailable (409)."""
    if actor is not None and not (actor.is_authenticated and actor.is_staff):
        raise NotAllowed("Only staff may sync MLflow.")
    uri = mlflow_sync.shown_uri(mlflow_sync.configured_uri())[:500]
    return leases.request(
        MlflowSync,
        task=RUN_TASK,
        lease_seconds=lease_seconds(),
        active={"tracking_uri": uri},
        create={"trigger": trigger, "requested_by": actor},
    )


def _abandon(job: MlflowSync, message: str) -> None:
    leases.end(MlflowSync, job.pk, status=SyncStatus.FAILED, errors=[{"message": message}])


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
    job, _ = leases.claim(
        MlflowSync,
        job_id,
        token,
        lease_seconds=lease_seconds(),
        max_attempts=int(getattr(settings, "MLFLOW_SYNC_MAX_ATTEMPTS", 3)),
        abandon=_abandon,
    )
    if job is None:
        return ""
    try:
        with leases.Lease(MlflowSync, job_id, token, lease_seconds=lease_seconds()) as lease:
            counts = mlflow_sync.sync(beat=lambda counts: lease.progress(_counts(counts)))
    except leases.LostLease:
        return ""
    except (mlflow_sync.SyncFailed, mlflow_sync.Unavailable) as exc:
        leases.end(MlflowSync, job_id, status=SyncStatus.FAILED, token=token, errors=[{"message": str(exc)}])
        return SyncStatus.FAILED
    except Exception as exc:  # a defect: the job says so rather than staying "running"
        log.exception("MLflow sync %s failed", job_id)
        message = f"The sync stopped on an unexpected error: {type(exc).__name__}: {exc}"[:1000]
        leases.end(MlflowSync, job_id, status=SyncStatus.FAILED, token=token, errors=[{"message": message}])
        return SyncStatus.FAILED
    status = SyncStatus.PARTIAL if counts.errors else SyncStatus.SUCCEEDED
    leases.end(MlflowSync, job_id, status=status, token=token, **_counts(counts))
    return status


def requeue_stale() -> int:
    """Queue again the jobs whose worker died (lease over) or whose message was lost → how many."""
    return len(leases.requeue_stale(MlflowSync, task=RUN_TASK, lease_seconds=lease_seconds()))


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
