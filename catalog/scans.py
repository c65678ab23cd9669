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
import uuid

from django.conf import settings
from django.db import transaction

from catalog import leases, scan_apply, signals
from catalog.connectors import Found, Problem, SourceError, for_source
from catalog.connectors.secrets import redact
from catalog.models import ScanStatus, Source, SourceScan
from catalog.permissions import can_manage_source
from config.errors import NotAllowed

log = logging.getLogger(__name__)

RUN_TASK = "catalog.run_scan"
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
    requested_by = actor if actor is not None and actor.is_authenticated else None
    return leases.request(
        SourceScan,
        task=RUN_TASK,
        lease_seconds=lease_seconds(),
        active={"source": source},
        create={"trigger": trigger, "requested_by": requested_by},
    )


def _abandon(scan: SourceScan, message: str) -> None:
    _finish(scan.pk, status=ScanStatus.FAILED, errors=[{"message": message}])


def _finish(scan_id: int, *, status: str, token: str | None = None, **fields) -> SourceScan | None:
    """End an active scan (only while ``token`` still holds it, when given) → the finished scan, or
    None when it was not the caller's to end.

    One transaction: the scan's final row, the source's ``last_scan_at`` unless the scan failed, and
    ``source_scanned_in_transaction`` (governance records source.scan.finished in it). A receiver
    that raises fails this whole: the scan stays running and is taken over once its lease runs out
    (``requeue_stale_scans``), so no scan ends without its event. ``source_scanned`` follows the
    commit. A scan abandoned after too many attempts ends here too, with its event."""
    with transaction.atomic():
        if not leases.end(SourceScan, scan_id, status=status, token=token, **fields):
            return None
        scan = SourceScan.objects.select_related("source").get(pk=scan_id)
        if status != ScanStatus.FAILED:
            Source.objects.filter(pk=scan.source_id).update(last_scan_at=scan.finished_at)
        signals.source_scanned_in_transaction.send(sender=SourceScan, scan=scan)
        transaction.on_commit(lambda: signals.source_scanned.send(sender=SourceScan, scan=scan), robust=True)
    return scan


def run_scan(scan_id: int) -> str:
    """Claim and run one scan → its final status, or why it did not run ("busy", "done-before"...)."""
    token = uuid.uuid4().hex
    scan, state = leases.claim(
        SourceScan,
        scan_id,
        token,
        lease_seconds=lease_seconds(),
        max_attempts=max_attempts(),
        abandon=_abandon,
        progress=0.0,
    )
    if scan is None:
        return state
    source = scan.source
    try:
        with leases.Lease(SourceScan, scan.pk, token, lease_seconds=lease_seconds()) as lease:
            status, counts, errors = _scan(source, lease)
    except leases.LostLease:
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


def _scan(source: Source, lease: leases.Lease) -> tuple[str, dict[str, int], list[dict]]:
    """List the source, then apply what was found → (status, counts, errors)."""
    connector = for_source(source, known=scan_apply.known_fingerprints(source))
    connector.check()
    found: list[Found] = []
    errors: list[dict] = []

    def progress(fraction: float, counts: dict[str, int], *, force: bool = False) -> None:
        lease.progress({"progress": min(max(fraction, 0.0), 1.0), **counts}, force=force)

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
        progress(0.0, {"found": len(found)})
    counts = scan_apply.apply_all(
        source=source, found=found, errors=errors, keep=failed_names, progress=progress
    )
    if errors and (counts["registered"] + counts["changed"] + counts["unchanged"]) == 0 and found:
        return ScanStatus.FAILED, counts, errors
    return (ScanStatus.PARTIAL if errors else ScanStatus.SUCCEEDED), counts, errors


def requeue_stale_scans() -> list[int]:
    """Queue again scans whose worker died (lease out) or whose message may be lost → their ids."""
    return leases.requeue_stale(SourceScan, task=RUN_TASK, lease_seconds=lease_seconds())
