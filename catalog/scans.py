"""Scanning a source: a Celery job, run exactly once like a profile job.

``request_scan`` writes the scan (pending) and its message to the outbox in one transaction; one
scan waits or runs per source at a time (a second request answers the first). ``run_scan`` is the
task's whole body: it claims the scan under a lease (a message delivered twice does the work once;
a scan whose worker died is taken over once the lease runs out), lists the source through its
connector, and hands what it found to catalog.scan_apply, which writes nothing for what has not
changed. A source that cannot be read at all fails the scan with the reason and changes nothing.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from catalog import outbox, scan_apply, signals
from catalog.connectors import Found, Problem, SourceError, for_source
from catalog.connectors.secrets import redact
from catalog.models import ScanStatus, Source, SourceScan
from catalog.permissions import can_manage_source
from config.errors import NotAllowed

log = logging.getLogger(__name__)

RUN_TASK = "catalog.run_scan"
ACTIVE = (ScanStatus.PENDING, ScanStatus.RUNNING)
PROGRESS_INTERVAL = 0.5
MAX_ERRORS = 1000  # errors kept per scan (the count says how many more there were)


def lease_seconds() -> int:
    return int(getattr(settings, "SCAN_LEASE_SECONDS", 120))


def max_attempts() -> int:
    return int(getattr(settings, "SCAN_MAX_ATTEMPTS", 3))


def request_scan(*, actor, source: Source, trigger: str = "manual") -> SourceScan:
    """Queue a scan of ``source`` → the scan (the one already waiting or running, if any).

    A person must be allowed to manage the source; the schedule (actor None) always may."""
    if actor is not None and not can_manage_source(actor, source):
        raise NotAllowed("Only the source's owner, a steward or staff may scan it.")
    for _ in range(3):
        active = SourceScan.objects.filter(source=source, status__in=ACTIVE).first()
        if active is not None:
            if active.status == ScanStatus.RUNNING and _lease_expired(active):
                outbox.enqueue(RUN_TASK, [active.pk])  # its worker died: this message takes it over
            return active
        try:
            with transaction.atomic():
                scan = SourceScan.objects.create(
                    source=source,
                    trigger=trigger,
                    requested_by=actor if actor is not None and actor.is_authenticated else None,
                )
                outbox.enqueue(RUN_TASK, [scan.pk])
                return scan
        except IntegrityError:  # another request created the active scan meanwhile
            continue
    return SourceScan.objects.filter(source=source, status__in=ACTIVE).first() or source.scans.first()


def _lease_expired(scan: SourceScan) -> bool:
    beat = scan.heartbeat_at or scan.started_at
    return beat is None or beat < timezone.now() - timedelta(seconds=lease_seconds())


@transaction.atomic
def _claim(scan_id: int, token: str) -> tuple[SourceScan | None, str]:
    scan = SourceScan.objects.select_for_update().filter(pk=scan_id).first()
    if scan is None:
        return None, "gone"
    if scan.status not in ACTIVE:
        return None, "done-before"
    if scan.status == ScanStatus.RUNNING and not _lease_expired(scan):
        return None, "busy"
    if scan.attempts >= max_attempts():
        _finish(scan.pk, status=ScanStatus.FAILED, errors=[{"message": _abandoned(scan.attempts)}])
        return None, "failed"
    now = timezone.now()
    SourceScan.objects.filter(pk=scan.pk).update(
        status=ScanStatus.RUNNING,
        claim_token=token,
        heartbeat_at=now,
        started_at=now,
        attempts=F("attempts") + 1,
        progress=0.0,
    )
    scan.refresh_from_db()
    return scan, "claimed"


def _abandoned(attempts: int) -> str:
    return f"The scan was abandoned after {attempts} attempts: its worker stopped each time."


def _finish(scan_id: int, *, status: str, token: str | None = None, **fields) -> SourceScan | None:
    """End an active scan (only while ``token`` still holds it, when given) → the finished scan, or
    None when it was not the caller's to end.

    One transaction: the scan's final row, the source's ``last_scan_at`` unless the scan failed, and
    ``source_scanned_in_transaction`` (governance records source.scan.finished in it). A receiver
    that raises fails this whole: the scan stays running and is taken over once its lease runs out
    (``requeue_stale_scans``), so no scan ends without its event. ``source_scanned`` follows the
    commit. A scan abandoned after too many attempts ends here too, with its event."""
    with transaction.atomic():
        rows = SourceScan.objects.filter(pk=scan_id, status__in=ACTIVE)
        if token is not None:
            rows = rows.filter(claim_token=token)
        now = timezone.now()
        if not rows.update(status=status, finished_at=now, claim_token="", **fields):
            return None
        scan = SourceScan.objects.select_related("source").get(pk=scan_id)
        if status != ScanStatus.FAILED:
            Source.objects.filter(pk=scan.source_id).update(last_scan_at=now)
        signals.source_scanned_in_transaction.send(sender=SourceScan, scan=scan)
        transaction.on_commit(lambda: signals.source_scanned.send(sender=SourceScan, scan=scan), robust=True)
    return scan


class _Lease:
    """Heartbeats from a thread while the scan runs (a killed worker stops beating), and progress
    written at most every PROGRESS_INTERVAL seconds."""

    def __init__(self, scan_id: int, token: str) -> None:
        self.scan_id, self.token = scan_id, token
        self.stop = threading.Event()
        self.lost = threading.Event()
        self.last = 0.0
        self.thread = threading.Thread(target=self._loop, name=f"scan-heartbeat-{scan_id}", daemon=True)

    def _loop(self) -> None:
        try:
            while not self.stop.wait(max(0.2, lease_seconds() / 4)):
                if not self._mine().update(heartbeat_at=timezone.now()):
                    self.lost.set()
                    return
        except Exception:  # noqa: BLE001 - a missed beat is covered by the lease
            log.warning("heartbeat of scan %s failed", self.scan_id, exc_info=True)
        finally:
            connection.close()

    def _mine(self):
        return SourceScan.objects.filter(pk=self.scan_id, claim_token=self.token, status=ScanStatus.RUNNING)

    def progress(self, fraction: float, counts: dict[str, int], *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < PROGRESS_INTERVAL:
            return
        self.last = now
        if not self._mine().update(
            progress=min(max(fraction, 0.0), 1.0), heartbeat_at=timezone.now(), **counts
        ):
            self.lost.set()
        if self.lost.is_set():
            raise _LostLease()

    def __enter__(self) -> _Lease:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


class _LostLease(Exception):
    """Another worker took the scan over (this one was presumed dead): stop without writing."""


def run_scan(scan_id: int) -> str:
    """Claim and run one scan → its final status, or why it did not run ("busy", "done-before"...)."""
    token = uuid.uuid4().hex
    scan, state = _claim(scan_id, token)
    if scan is None:
        return state
    source = scan.source
    try:
        with _Lease(scan.pk, token) as lease:
            status, counts, errors = _scan(source, lease)
    except _LostLease:
        return "lost-lease"
    except SourceError as exc:
        status, counts, errors = ScanStatus.FAILED, {}, [{"message": redact(str(exc))}]
    except Exception as exc:  # noqa: BLE001 - a scan ends with a reason, never kills the worker
        log.exception("scan %s of source %s failed unexpectedly", scan.pk, source.pk)
        message = (
            f"The scan failed unexpectedly ({exc.__class__.__name__}); the details are in the worker's log."
        )
        status, counts, errors = ScanStatus.FAILED, {}, [{"message": message}]
    if (
        _finish(scan.pk, status=status, token=token, progress=1.0, errors=errors[:MAX_ERRORS], **counts)
        is None
    ):
        return "lost-lease"
    return status


def _scan(source: Source, lease: _Lease) -> tuple[str, dict[str, int], list[dict]]:
    """List the source, then apply what was found → (status, counts, errors)."""
    connector = for_source(source, known=scan_apply.known_fingerprints(source))
    connector.check()
    found: list[Found] = []
    errors: list[dict] = []
    failed_names: set[str] = set()
    for item in connector.discover():
        if isinstance(item, Problem):
            errors.append(
                {"name": item.name, "message": redact(item.message)}
                if item.name
                else {"message": redact(item.message)}
            )
            if item.name:
                failed_names.add(item.name)
        else:
            found.append(item)
        lease.progress(0.0, {"found": len(found)})
    counts = scan_apply.apply_all(
        source=source, found=found, errors=errors, keep=failed_names, progress=lease.progress
    )
    if errors and (counts["registered"] + counts["changed"] + counts["unchanged"]) == 0 and found:
        return ScanStatus.FAILED, counts, errors
    return (ScanStatus.PARTIAL if errors else ScanStatus.SUCCEEDED), counts, errors


def requeue_stale_scans() -> list[int]:
    """Queue again scans whose worker died (lease out) or whose message may be lost → their ids."""
    now = timezone.now()
    stale = SourceScan.objects.filter(
        status=ScanStatus.RUNNING, heartbeat_at__lt=now - timedelta(seconds=lease_seconds())
    ) | SourceScan.objects.filter(
        status=ScanStatus.PENDING, created_at__lt=now - timedelta(seconds=2 * lease_seconds())
    )
    ids = list(stale.values_list("pk", flat=True))
    for scan_id in ids:
        outbox.enqueue(RUN_TASK, [scan_id])
    return ids
