"""Every write of profiling: queueing and running profile jobs, expectation suites.

A profile job is claimed with a lease (``ProfileRun.claim_token`` + ``heartbeat_at``) so that a
message delivered twice does the work once, a job whose worker died (SIGKILL, OOM) is done again by
the next delivery, and a finished job is never redone. Everything a job produces is written in one
transaction at the end, only while the lease is still held.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import InterfaceError, OperationalError, close_old_connections, connection, transaction
from django.db.models import F
from django.utils import timezone

from catalog import services as catalog_services
from catalog.permissions import can_change_dataset
from config.errors import Conflict, NotAllowed
from profiling import quality, signals
from profiling.models import ExpectationSuite, ProfileRun, QualityResult, RunStatus, SuiteOrigin

logger = logging.getLogger(__name__)

PROGRESS_INTERVAL = 0.5  # seconds between progress writes (at most ~2 per second)
# How the job's time is shared between its phases in `progress`.
PROFILE_SHARE, QUALITY_SHARE = 0.8, 0.15


class TransientProfileError(Exception):
    """A failure that another attempt may not meet (database gone away, storage I/O)."""


def _lease_seconds() -> int:
    return int(getattr(settings, "PROFILING_LEASE_SECONDS", 120))


def _max_attempts() -> int:
    return int(getattr(settings, "PROFILING_MAX_ATTEMPTS", 3))


# ---------------------------------------------------------------------------------------------
# Queueing


def _enqueue(run_id: int) -> None:
    """Send the job's message; a broker that is down leaves the run pending (re-run re-queues)."""
    from profiling.tasks import profile_version

    try:
        # Celery puts the sender's limits into the message and the worker obeys those: read them
        # from settings now, so web, beat and workers configured alike agree on them.
        profile_version.apply_async(
            (run_id,),
            soft_time_limit=getattr(settings, "PROFILING_SOFT_TIME_LIMIT", 3600),
            time_limit=getattr(settings, "PROFILING_TIME_LIMIT", 3720),
        )
    except Exception:  # noqa: BLE001 - the broker's errors vary by transport
        logger.exception("could not queue profile run %s; it stays pending until re-run", run_id)


@transaction.atomic
def queue_profile(*, version, actor=None) -> ProfileRun:
    """Create (or reset) the version's pending profile job and queue it once committed."""
    run, created = ProfileRun.objects.select_for_update().get_or_create(
        version=version,
        defaults={
            "dataset_id": version.dataset_id,
            "version_number": version.number,
            "requested_by": actor if actor is not None and actor.is_authenticated else None,
        },
    )
    if not created:
        if run.status == RunStatus.RUNNING and not _lease_expired(run):
            return run
        _reset(run, actor=actor)
    catalog_services.set_version_profile_status(version=version, status=RunStatus.PENDING)
    transaction.on_commit(lambda: _enqueue(run.pk))
    transaction.on_commit(lambda: signals.profile_queued.send(sender=ProfileRun, version=version))
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


def _lease_expired(run: ProfileRun) -> bool:
    beat = run.heartbeat_at or run.started_at
    return beat is None or beat < timezone.now() - timedelta(seconds=_lease_seconds())


@transaction.atomic
def request_rerun(*, actor, version) -> ProfileRun:
    """Profile a version again (API re-run). Only the owner, a steward or staff may.

    A job that is running right now is not started twice (409); a pending one is queued again,
    which is harmless (the claim makes a second message a no-op) and rescues a lost message.
    """
    dataset = version.dataset
    if not can_change_dataset(actor, dataset):
        raise NotAllowed("Only the dataset's owner, a steward or staff may re-run profiling.")
    run = ProfileRun.objects.select_for_update().filter(version=version).first()
    if run is not None and run.status == RunStatus.RUNNING and not _lease_expired(run):
        raise Conflict(
            "Profiling of this version is running; wait for it to finish before re-running.",
            {"status": ["running"]},
        )
    if run is not None and run.status == RunStatus.PENDING:
        transaction.on_commit(lambda: _enqueue(run.pk))
        return run
    return queue_profile(version=version, actor=actor)


def requeue_stale_runs(*, pending_after_seconds: int | None = None) -> list[int]:
    """Queue again the jobs whose message may be lost → their ids.

    A running job whose lease ran out (its worker died) and a pending job queued long ago. With a
    broker that redelivers (Redis, acks_late) this only speeds things up; with the embedded
    broker, which loses a message when the whole worker dies, it is what finishes the job. Extra
    messages are harmless: the claim makes all but one a no-op.
    """
    lease = timedelta(seconds=_lease_seconds())
    now = timezone.now()
    pending_cutoff = now - timedelta(seconds=pending_after_seconds or 2 * _lease_seconds())
    stale_running = ProfileRun.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=now - lease)
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
    return ids


# ---------------------------------------------------------------------------------------------
# Running a job


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
    if run.status == RunStatus.RUNNING and not _lease_expired(run):
        beat = run.heartbeat_at or run.started_at
        wait = max(1.0, _lease_seconds() - (timezone.now() - beat).total_seconds() + 1)
        return None, Outcome("busy", retry_in=wait)
    if run.attempts >= _max_attempts():
        # Each earlier worker died holding it (killed, out of memory, hard time limit): stop looping.
        _write_failure(
            run,
            f"Profiling was abandoned after {run.attempts} attempts: the worker stopped each time "
            "(killed, out of memory or over the hard time limit).",
        )
        return None, Outcome("failed")
    now = timezone.now()
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
    catalog_services.set_version_profile_status(version=run.version, status=RunStatus.RUNNING)
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
    catalog_services.set_version_profile_status(version=version, status=RunStatus.FAILED)
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


class _Heartbeat:
    """Refresh the lease from a thread while the job runs, whatever phase it is in.

    The thread dies with the process, which is the point: a killed worker stops beating and its
    job becomes claimable once the lease runs out.
    """

    def __init__(self, run_id: int, token: str) -> None:
        self.run_id, self.token = run_id, token
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name=f"profile-heartbeat-{run_id}", daemon=True)

    def _loop(self) -> None:
        interval = max(0.2, _lease_seconds() / 4)
        try:
            while not self.stop.wait(interval):
                try:
                    ProfileRun.objects.filter(pk=self.run_id, claim_token=self.token).update(
                        heartbeat_at=timezone.now()
                    )
                except Exception:  # noqa: BLE001 - a missed beat is retried next interval
                    logger.warning("heartbeat of profile run %s failed", self.run_id, exc_info=True)
        finally:
            connection.close()

    def __enter__(self) -> _Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


class _NoHeartbeat:
    def __enter__(self) -> _NoHeartbeat:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class _Progress:
    """Write progress at most every PROGRESS_INTERVAL seconds, and only while the lease is held."""

    def __init__(self, run_id: int, token: str) -> None:
        self.run_id, self.token = run_id, token
        self.last = 0.0

    def __call__(self, fraction: float, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < PROGRESS_INTERVAL:
            return
        self.last = now
        value = min(max(float(fraction), 0.0), 1.0)
        ProfileRun.objects.filter(pk=self.run_id, claim_token=self.token).update(
            progress=value, heartbeat_at=timezone.now()
        )

    def phase(self, start: float, share: float):
        return lambda f: self(start + share * min(max(float(f), 0.0), 1.0))


def execute_profile_run(*, run_id: int, heartbeat: bool = True, soft_limit: float | None = None) -> Outcome:
    """Claim and run one profile job; the Celery task's whole body.

    Bad input (ProfileError) and unexpected errors end as ``failed`` with a readable message;
    transient errors (database, storage I/O) release the job and raise TransientProfileError for
    the task to retry. Nothing here lets an exception kill the worker.
    """
    token = uuid.uuid4().hex
    try:
        run, outcome = claim_run(run_id=run_id, token=token)
    except (OperationalError, InterfaceError) as exc:
        raise TransientProfileError(f"database unavailable: {exc}") from exc
    if outcome is not None:
        return outcome
    try:
        with _Heartbeat(run_id, token) if heartbeat else _NoHeartbeat():
            deadline = time.monotonic() + soft_limit if soft_limit else None
            computed = _compute(run, _Progress(run_id, token), deadline=deadline)
            _check_deadline(deadline)
            return _finish(run_id=run_id, token=token, computed=computed)
    except Exception as exc:  # noqa: BLE001 - every failure ends the job, never the worker
        return _handle_failure(exc, run_id=run_id, token=token, soft_limit=soft_limit)


def _handle_failure(exc: Exception, *, run_id: int, token: str, soft_limit: float | None = None) -> Outcome:
    """Sort a job's exception into: failed with a message, or released for a retry (transient)."""
    from celery.exceptions import SoftTimeLimitExceeded

    try:
        from profiling.engine import ProfileError
    except Exception:  # noqa: BLE001 - the engine cannot even be imported: reported as unexpected
        ProfileError = ()  # noqa: N806

    if ProfileError and isinstance(exc, ProfileError):
        message = str(exc) or "The file could not be profiled."
    elif isinstance(exc, SoftTimeLimitExceeded):
        limit = soft_limit or getattr(settings, "PROFILING_SOFT_TIME_LIMIT", None)
        message = f"Profiling took longer than the time limit ({limit} s) and was stopped."
    elif isinstance(exc, OperationalError | InterfaceError):
        if not connection.in_atomic_block:
            close_old_connections()  # a broken connection must not poison the retry
        release_run(run_id=run_id, token=token)
        raise TransientProfileError(f"database error: {exc}") from exc
    elif isinstance(exc, ValidationError):
        # e.g. a registered path that has gone or left DATA_ROOTS since it was registered
        message = "The version's file cannot be read: " + " ".join(exc.messages)
    elif isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError):
        message = f"The version's file cannot be read: {exc.strerror or exc.__class__.__name__}."
    elif isinstance(exc, OSError):
        release_run(run_id=run_id, token=token)
        raise TransientProfileError(f"storage I/O error: {exc}") from exc
    else:
        logger.error("profile run %s failed unexpectedly", run_id, exc_info=exc)
        first_line = (str(exc).splitlines() or [""])[0][:300]
        message = (
            f"Profiling failed unexpectedly ({exc.__class__.__name__}: {first_line}). "
            "The details are in the worker's log."
        )
    fail_run(run_id=run_id, token=token, message=message)
    return Outcome("failed")


@dataclass
class _Computed:
    result: Any
    quality: dict[str, Any] | None
    proposed: list[dict[str, Any]] | None
    suite_version: int | None
    suite_source: int | None  # the version a proposed suite was learned from (None: edited/imported)
    warnings: list[str]


def _local_copy(version):
    """(path, tempfile or None): a filesystem path to the version's bytes (copied from S3 if need be)."""
    path = version.local_path()
    if path:
        return path, None
    tmp = tempfile.NamedTemporaryFile(prefix="gouvernail-profile-", suffix=f".{version.format}")  # noqa: SIM115
    with version.open() as src:
        while chunk := src.read(1024 * 1024):
            tmp.write(chunk)
    tmp.flush()
    return tmp.name, tmp


HASH_CHUNK = 1024 * 1024


def verify_registered_file(*, version, path: str) -> None:
    """Refuse to profile a path-registered version whose file is no longer the registered bytes.

    A version is immutable, but a registered path is the owner's file, not ours: it may be
    overwritten in place. Profiling it then would describe other bytes than the version's checksum
    (QA F19). The size is compared first (free), then the sha256 in one streamed pass (~0.35 s for
    the 112 MB reference CSV, docs/benchmarks.md). Uploaded files live in our storage and are not
    checked. The engine re-reads the file afterwards; a change in that window is not caught.
    """
    from profiling.engine import ProfileError

    size = os.path.getsize(path)
    if size != version.size_bytes:
        raise ProfileError(
            f"The file at {path} changed since version {version.number} was registered "
            f"(size {size} bytes ≠ {version.size_bytes}); register it again as a new version."
        )
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(HASH_CHUNK):
            digest.update(chunk)
    actual = digest.hexdigest()
    if actual != version.checksum:
        raise ProfileError(
            f"The file at {path} changed since version {version.number} was registered "
            f"(sha256 {actual} ≠ {version.checksum}); register it again as a new version."
        )


def _check_deadline(deadline: float | None) -> None:
    """Raise the soft time limit ourselves between phases: Celery's signal can land inside GX or
    the engine, which catch exceptions of their own and would carry on as if nothing happened."""
    if deadline is not None and time.monotonic() > deadline:
        from celery.exceptions import SoftTimeLimitExceeded

        raise SoftTimeLimitExceeded()


def _compute(run: ProfileRun, progress: _Progress, *, deadline: float | None = None) -> _Computed:
    from celery.exceptions import SoftTimeLimitExceeded

    from profiling.engine import profile_file

    version = run.version
    dataset = version.dataset
    path, tmp = _local_copy(version)
    try:
        if version.source_uri:
            verify_registered_file(version=version, path=path)
            _check_deadline(deadline)
        result = profile_file(
            path,
            format=version.format,
            compression=version.compression or "",
            encoding=version.encoding or "utf-8",
            sensitive_columns=tuple(dataset.sensitive_columns or ()),
            label_column=dataset.label_column or None,
            positive_label=dataset.positive_label,
            progress=progress.phase(0.0, PROFILE_SHARE),
        )
        progress(PROFILE_SHARE, force=True)
        _check_deadline(deadline)
        warnings = list(result.warnings or [])

        suite = ExpectationSuite.objects.filter(dataset=dataset).first()
        proposed = None
        if suite is None or _proposed_from_later(suite, version.number):
            # No suite yet, or only one learned from a later version (its run finished first):
            # this version is judged by a proposal from its own columns, never by a later one's.
            proposed = quality.propose_expectations(columns=result.columns, row_count=result.row_count)
            name, expectations = _suite_name(dataset), proposed
            suite_version = 1 if suite is None else suite.version + 1
            suite_source = version.number
        else:
            name, expectations, suite_version = suite.name, suite.expectations, suite.version
            suite_source = _proposed_from(suite)
        quality_result = None
        try:
            quality_result = quality.validate_file(
                name=name,
                expectations=expectations,
                path=path,
                format=version.format,
                compression=version.compression or "",
                encoding=version.encoding or "utf-8",
                total_rows=result.row_count,
                available=[c["name"] for c in result.schema],
                progress=progress.phase(PROFILE_SHARE, QUALITY_SHARE),
            )
        except (OperationalError, InterfaceError, OSError, SoftTimeLimitExceeded):
            raise
        except Exception as exc:  # noqa: BLE001 - a GX failure must not lose the statistics
            logger.exception("quality validation of profile run %s failed", run.pk)
            warnings.append(f"Quality validation could not run: {exc.__class__.__name__}: {str(exc)[:200]}")
    finally:
        if tmp is not None:
            tmp.close()

    if quality_result is not None and result.pii:
        _redact_pii_values(quality_result, set(result.pii))

    # Drift is computed in _finish, under the dataset's lock, against what has finished by then.
    return _Computed(result, quality_result, proposed, suite_version, suite_source, warnings)


def _redact_pii_values(quality_result: dict[str, Any], pii_columns: set[str]) -> None:
    """Drop the sample of failing values GX reports for PII columns: every signed-in user reads
    profiles, and an e-mail address that fails a regex is still an e-mail address."""
    for item in quality_result["results"]:
        observed = item.get("observed")
        if (
            item.get("column") in pii_columns
            and isinstance(observed, dict)
            and "partial_unexpected_list" in observed
        ):
            observed["partial_unexpected_list"] = []
            observed["redacted"] = "values of a PII column are not shown"


def _proposed_from(suite: ExpectationSuite) -> int | None:
    """The version a still-unedited proposed suite was learned from (None once edited/imported)."""
    if suite.origin != SuiteOrigin.PROPOSED:
        return None
    number = (suite.meta or {}).get("proposed_from_version")
    return number if isinstance(number, int) else None


def _proposed_from_later(suite: ExpectationSuite, number: int) -> bool:
    source = _proposed_from(suite)
    return source is not None and source > number


def _drift_between(previous_state, current_state, *, previous_version: int, warnings: list[str] | None):
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


def _suite_name(dataset) -> str:
    return f"{dataset.namespace}:{dataset.name}"[:255]


@transaction.atomic
def _finish(*, run_id: int, token: str, computed: _Computed) -> Outcome:
    """Write everything the job produced at once, if this worker still holds the job.

    The runs of the dataset are locked together (in primary-key order, so two finishing jobs
    cannot deadlock): versions profiled concurrently finish one after the other here, and each
    sees what the others wrote. That is what makes drift and the proposed suite independent of
    which worker wins (QA F2; docs/quality.md "Versions profiled concurrently").
    """
    dataset_id = ProfileRun.objects.filter(pk=run_id).values_list("dataset_id", flat=True).first()
    siblings = list(
        ProfileRun.objects.select_for_update()
        .filter(dataset_id=dataset_id)
        .order_by("pk")
        .only("pk", "status", "version_number")
    )
    run = ProfileRun.objects.select_related("version__dataset").get(pk=run_id)
    if run.claim_token != token or run.status != RunStatus.RUNNING:
        logger.warning("profile run %s: lease lost before writing; another worker owns it", run_id)
        return Outcome("lost-lease")
    version, dataset, result = run.version, run.version.dataset, computed.result
    number = version.number
    warnings = list(computed.warnings)
    succeeded = [r for r in siblings if r.status == RunStatus.SUCCEEDED and r.pk != run.pk]

    # Drift against the latest earlier version whose profile has succeeded by now.
    drift = None
    earlier = ProfileRun.objects.filter(
        pk__in=[r.pk for r in succeeded if r.version_number < number]
    ).exclude(drift_state=None)
    previous = earlier.order_by("-version_number").only("version_number", "drift_state").first()
    if previous is not None and result.drift_state is not None:
        drift = _drift_between(
            previous.drift_state,
            result.drift_state,
            previous_version=previous.version_number,
            warnings=warnings,
        )

    q = computed.quality
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
    from profiling.engine.profile import drop_non_finite

    drop_non_finite(run.quality)  # GX reports an overflowing mean as inf: not JSON
    run.save()

    # The next later version that finished first compared itself with an older version (or with
    # none): this version now sits between them, so its drift is computed again against this one.
    following = min(
        (r for r in succeeded if r.version_number > number), key=lambda r: r.version_number, default=None
    )
    if following is not None and result.drift_state is not None:
        nxt = ProfileRun.objects.only("pk", "drift", "drift_state").get(pk=following.pk)
        if nxt.drift_state is not None:
            redone = _drift_between(
                result.drift_state, nxt.drift_state, previous_version=number, warnings=None
            )
            if redone is not None:
                ProfileRun.objects.filter(pk=nxt.pk).update(drift=redone)

    # The default suite is learned from the earliest version profiled: a proposal from a later
    # version (whose run finished first) is replaced while nobody has edited it.
    suite_version, requeue = computed.suite_version, []
    if computed.proposed is not None:
        suite = ExpectationSuite.objects.select_for_update().filter(dataset=dataset).first()
        if suite is None:
            suite = ExpectationSuite.objects.create(
                dataset=dataset,
                name=_suite_name(dataset),
                expectations=computed.proposed,
                origin=SuiteOrigin.PROPOSED,
                meta={"proposed_from_version": number},
            )
        elif _proposed_from_later(suite, number):
            replaced = _proposed_from(suite)
            suite.expectations = computed.proposed
            suite.meta = {**(suite.meta or {}), "proposed_from_version": number}
            suite.version += 1
            suite.save(update_fields=["expectations", "meta", "version", "updated_at"])
            # Versions judged by the replaced proposal are profiled again with this one.
            requeue = list(
                QualityResult.objects.filter(dataset=dataset, version_number__gt=number)
                .filter(method__suite_proposed_from=replaced)
                .values_list("version_id", flat=True)
            )
        suite_version = suite.version if _proposed_from(suite) == number else suite_version
    current = ExpectationSuite.objects.filter(dataset=dataset).first()
    if computed.suite_source is not None and current is not None:
        source_now = _proposed_from(current)
        if source_now is not None and source_now < computed.suite_source:
            # An earlier version's proposal arrived while this job ran: judge this one again by it.
            requeue.append(version.pk)
    if q is not None:
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
    # Columns describe the latest version: an older version profiled again must not roll them back.
    latest = dataset.versions.order_by("-number").values_list("number", flat=True).first()
    if latest == version.number:
        catalog_services.set_columns_from_schema(dataset=dataset, columns=result.schema)
        if result.pii:
            catalog_services.mark_columns_pii(dataset=dataset, findings=result.pii)
    catalog_services.set_version_profile_status(version=version, status=RunStatus.SUCCEEDED)
    transaction.on_commit(
        lambda: signals.profile_finished.send(
            sender=ProfileRun, version=version, status=RunStatus.SUCCEEDED, error=None
        )
    )
    if requeue:
        _requeue_versions(version_ids=requeue)
    return Outcome("succeeded")


def _requeue_versions(*, version_ids: list[int]) -> None:
    """Profile these versions again once this transaction commits (their quality used a replaced
    proposal). Bounded: each round replaces the proposal with one from a strictly lower version."""
    for run in ProfileRun.objects.filter(version_id__in=version_ids).select_related("version"):
        logger.info("profile of %s queued again: it was judged by a replaced suite proposal", run.version)
        queue_profile(version=run.version)


# ---------------------------------------------------------------------------------------------
# Expectation suites


def _check_can_edit(actor, dataset) -> None:
    if not can_change_dataset(actor, dataset):
        raise NotAllowed("Only the dataset's owner, a steward or staff may change its expectation suite.")


@transaction.atomic
def save_suite(
    *,
    actor,
    dataset,
    expectations: Any,
    name: str | None = None,
    meta: dict[str, Any] | None = None,
    origin: str = SuiteOrigin.EDITED,
    expected_version: int | None = None,
) -> ExpectationSuite:
    """Replace a dataset's expectation suite (GX form), after GX itself has checked every expectation.

    With ``expected_version`` (the version the editor read), a suite changed meanwhile by someone
    else is not overwritten: Conflict (409).
    """
    _check_can_edit(actor, dataset)
    checked = quality.normalize_expectations(expectations)
    if name is not None and (not isinstance(name, str) or len(name) > 255):
        raise ValidationError({"name": ["A string of at most 255 characters."]})
    if meta is not None and not isinstance(meta, dict):
        raise ValidationError({"meta": ["An object."]})
    suite = ExpectationSuite.objects.select_for_update().filter(dataset=dataset).first()
    current = suite.version if suite is not None else 0
    if expected_version is not None and expected_version != current:
        raise Conflict(
            f"The suite was changed meanwhile (now version {current}, you edited version {expected_version}); "
            "reload it and apply your change again.",
            {"version": [f"Expected {expected_version}, found {current}."]},
        )
    if suite is None:
        suite = ExpectationSuite(dataset=dataset, name=name or _suite_name(dataset), version=0)
    suite.expectations = checked
    if name:
        suite.name = name
    if meta is not None:
        suite.meta = meta
    suite.version += 1
    suite.origin = origin
    suite.updated_by = actor if actor is not None and actor.is_authenticated else None
    suite.save()
    changes = {"expectation_suite.version": [current, suite.version]}
    transaction.on_commit(
        lambda: signals.suite_changed.send(
            sender=ExpectationSuite, dataset=dataset, actor=actor, suite=suite, origin=origin, changes=changes
        )
    )
    return suite


def import_suite(*, actor, dataset, data: Any) -> ExpectationSuite:
    """Replace a dataset's suite with one that Great Expectations exported (``suite.to_json_dict()``)."""
    _check_can_edit(actor, dataset)
    name, expectations, meta = quality.parse_gx_export(data)
    return save_suite(
        actor=actor,
        dataset=dataset,
        expectations=expectations,
        name=name or None,
        meta=meta,
        origin=SuiteOrigin.IMPORTED,
    )
