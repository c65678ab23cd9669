"""Jobs run exactly once under a lease: the one home of the rules a source scan and an MLflow sync
share (and that any later job of the kind takes).

A job row is asked for (pending, with its message in the outbox, in one transaction), claimed by a
worker (running: a claim token, a heartbeat, one more attempt, in a transaction with the row locked)
and finished (only by the holder of the token). A message delivered twice finds the job running under
a live lease and does nothing; a job whose worker died (no heartbeat for the lease's length) is taken
over by the next message, at most ``max_attempts`` times, then failed with the reason. While a job
runs, a thread beats the heartbeat (a killed worker stops beating; a busy one does not) and progress
is written at most every PROGRESS_INTERVAL seconds; a worker that finds its token gone stops without
writing (another took the job over).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from django.db import IntegrityError, connection, models, transaction
from django.db.models import F
from django.utils import timezone

from catalog import outbox
from catalog.models import LeasedJob

log = logging.getLogger(__name__)

PENDING, RUNNING = "pending", "running"
ACTIVE = (PENDING, RUNNING)
PROGRESS_INTERVAL = 0.5  # seconds between progress writes while a job runs


Job = TypeVar("Job", bound=LeasedJob)


def request(
    model: type[Job], *, task: str, lease_seconds: float, active: dict[str, Any], create: dict[str, Any]
) -> Job:
    """The active job matching ``active`` (re-queued when its worker died), or a new one made with
    ``active | create`` and queued with ``task`` in the same transaction. Two requests racing make one
    job: the model's unique constraint on its active rows refuses the second, which answers the first."""
    for _ in range(3):
        job = model.objects.filter(status__in=ACTIVE, **active).first()
        if job is not None:
            if job.status == RUNNING and job.lease_expired(lease_seconds):
                outbox.enqueue(task, [job.pk])  # its worker died: this message takes it over
            return job
        try:
            with transaction.atomic():
                job = model.objects.create(**active, **create)
                outbox.enqueue(task, [job.pk])
                return job
        except IntegrityError:  # another request created the active job meanwhile
            continue
    return model.objects.filter(status__in=ACTIVE, **active).first() or model.objects.filter(**active).first()


def claim(
    model: type[Job],
    pk: int,
    token: str,
    *,
    lease_seconds: float,
    max_attempts: int,
    abandon: Callable[[Job, str], object],
    **fields: Any,
) -> tuple[Job | None, str]:
    """Claim job ``pk`` for ``token`` → (the job, "claimed"), or (None, why not: "gone",
    "done-before", "busy", "failed"). A job claimed ``max_attempts`` times already is handed to
    ``abandon(job, message)``, which ends it as failed. ``fields`` are set on the claim (progress 0)."""
    with transaction.atomic():
        job = model.objects.select_for_update().filter(pk=pk).first()
        if job is None:
            return None, "gone"
        if job.status not in ACTIVE:
            return None, "done-before"
        if job.status == RUNNING and not job.lease_expired(lease_seconds):
            return None, "busy"
        if job.attempts >= max_attempts:
            noun = model._meta.verbose_name.split()[-1]
            abandon(
                job, f"The {noun} was abandoned after {job.attempts} attempts: its worker stopped each time."
            )
            return None, "failed"
        now = timezone.now()
        model.objects.filter(pk=pk).update(
            status=RUNNING,
            claim_token=token,
            heartbeat_at=now,
            started_at=now,
            attempts=F("attempts") + 1,
            **fields,
        )
        job.refresh_from_db()
        return job, "claimed"


def end(model: type[LeasedJob], pk: int, *, status: str, token: str | None = None, **fields: Any) -> bool:
    """Finish an active job (only while ``token`` still holds it, when given) → whether this call
    ended it. Callers that record an event with the end call this inside their transaction."""
    rows = model.objects.filter(pk=pk, status__in=ACTIVE)
    if token is not None:
        rows = rows.filter(claim_token=token)
    return bool(rows.update(status=status, finished_at=timezone.now(), claim_token="", **fields))


def stale(model: type[Job], *, lease_seconds: float) -> models.QuerySet[Job]:
    """Jobs to queue again: running without a heartbeat for the lease's length (the worker died), or
    pending for two leases (the message was lost)."""
    now = timezone.now()
    return model.objects.filter(
        status=RUNNING, heartbeat_at__lt=now - timedelta(seconds=lease_seconds)
    ) | model.objects.filter(status=PENDING, created_at__lt=now - timedelta(seconds=2 * lease_seconds))


def requeue_stale(model: type[LeasedJob], *, task: str, lease_seconds: float) -> list[int]:
    """Queue ``task`` again for each stale job → their ids."""
    ids = list(stale(model, lease_seconds=lease_seconds).values_list("pk", flat=True))
    for pk in ids:
        outbox.enqueue(task, [pk])
    return ids


class LostLease(Exception):
    """Another worker took the job over (this one was presumed dead): stop without writing."""


class Heartbeat:
    """A thread that beats ``rows.update(heartbeat_at=now)`` every quarter lease while a job runs, and
    sets ``lost`` once no row answers (the job's row is gone or another token holds it). The thread
    dies with the process, which is the point: a killed worker stops beating and its job becomes
    claimable once the lease runs out; a beat that fails (the database away for a moment) is tried
    again at the next one, the lease covering the gap."""

    def __init__(self, rows: models.QuerySet, *, name: str, lease_seconds: float) -> None:
        self.rows, self.lease_seconds = rows, lease_seconds
        self.stop = threading.Event()
        self.lost = threading.Event()
        self.thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def _loop(self) -> None:
        try:
            while not self.stop.wait(max(0.2, self.lease_seconds / 4)):
                try:
                    beat = self.rows.update(heartbeat_at=timezone.now())
                except Exception:  # noqa: BLE001 - a missed beat is covered by the lease
                    log.warning("heartbeat %s failed", self.thread.name, exc_info=True)
                    continue
                if not beat:
                    self.lost.set()
                    return
        finally:
            connection.close()

    def __enter__(self) -> Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


class Lease:
    """Holds a claimed job while it runs: a Heartbeat beats it, and ``progress`` writes figures at
    most every PROGRESS_INTERVAL seconds (``force`` to write now). Either raises LostLease once the
    token no longer holds the job."""

    def __init__(self, model: type[LeasedJob], pk: int, token: str, *, lease_seconds: float) -> None:
        self.model, self.pk, self.token = model, pk, token
        self.last = 0.0
        name = f"{model._meta.model_name}-heartbeat-{pk}"
        self.heartbeat = Heartbeat(self._mine(), name=name, lease_seconds=lease_seconds)
        self.lost = self.heartbeat.lost

    def _mine(self) -> models.QuerySet:
        return self.model.objects.filter(pk=self.pk, claim_token=self.token, status=RUNNING)

    def progress(self, fields: dict[str, Any], *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < PROGRESS_INTERVAL:
            return
        self.last = now
        if not self._mine().update(heartbeat_at=timezone.now(), **fields):
            self.lost.set()
        if self.lost.is_set():
            raise LostLease()

    def __enter__(self) -> Lease:
        self.heartbeat.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.heartbeat.__exit__(*exc)
