"""Running one profile job: the Celery task's whole body (``execute_profile_run``).

The job is claimed (profiling.jobs), its file is profiled by the engine and validated against the
dataset's expectation suite while a thread keeps the lease alive, and what it produced is written at
once by profiling.results, only while the lease is still held. Every failure ends the job with a
readable message or, when transient, gives it back for the task to retry; none kills the worker.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import InterfaceError, OperationalError, close_old_connections, connection
from django.utils import timezone

from catalog import leases
from profiling import quality
from profiling.expectations import propose_expectations
from profiling.jobs import Outcome, claim_run, fail_run, lease_seconds, release_run
from profiling.models import ExpectationSuite, ProfileRun
from profiling.results import Computed, write_results
from profiling.suites import proposed_from, proposed_from_later, suite_name

logger = logging.getLogger(__name__)

PROGRESS_INTERVAL = 0.5  # seconds between progress writes (at most ~2 per second)
# How the job's time is shared between its phases in `progress`.
PROFILE_SHARE, QUALITY_SHARE = 0.8, 0.15
DOWNLOADED = "copied to a temporary file first: the storage holding the upload cannot be read in place"


# Queues a claimed run as parts → True, or leaves it to one task → False (profiling.part_jobs).
Splitter = Callable[..., bool]


class TransientProfileError(Exception):
    """A failure that another attempt may not meet (database gone away, storage I/O)."""


class RunStopped(Exception):  # noqa: N818 -- a signal to stop, not an error people see
    """The job is no longer this worker's: its run row is gone (the dataset or version was deleted
    meanwhile) or another worker took it over. ``state`` is the outcome: "gone" or "lost-lease"."""

    def __init__(self, run_id: int) -> None:
        exists = ProfileRun.objects.filter(pk=run_id).exists()
        self.state = "lost-lease" if exists else "gone"
        super().__init__(f"profile run {run_id}: {self.state}")


def profile_options():
    """The engine's options with this deployment's limits on what one file may be."""
    from profiling.engine import ProfileOptions

    return ProfileOptions(
        max_columns=settings.GOUVERNAIL_MAX_COLUMNS,
        max_text_bytes=settings.GOUVERNAIL_MAX_VERSION_BYTES,
        max_expansion=settings.GOUVERNAIL_MAX_EXPANSION_RATIO,
        max_json_depth=settings.GOUVERNAIL_MAX_JSON_DEPTH,
    )


def run_heartbeat(run_id: int, token: str, *, beat: bool = True) -> leases.Heartbeat | _NoHeartbeat:
    """The run's lease refreshed from a thread while the job runs, whatever phase it is in (none in
    an eager task: its progress writes refresh it)."""
    if not beat:
        return _NoHeartbeat()
    rows = ProfileRun.objects.filter(pk=run_id, claim_token=token)
    return leases.Heartbeat(rows, name=f"profile-heartbeat-{run_id}", lease_seconds=lease_seconds())


class _NoHeartbeat:
    def __init__(self) -> None:
        self.lost = threading.Event()  # set by progress writes alone (no thread beats)

    def __enter__(self) -> _NoHeartbeat:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class _Progress:
    """Write progress at most every PROGRESS_INTERVAL seconds, and only while the lease is held.

    Each write also asks whether the job is still this worker's: when the run row is gone (its
    dataset was deleted) or another worker holds it, RunStopped ends the job where it stands."""

    def __init__(self, run_id: int, token: str, lost: threading.Event | None = None) -> None:
        self.run_id, self.token = run_id, token
        self.lost = lost or threading.Event()
        self.last = 0.0

    def __call__(self, fraction: float, *, force: bool = False) -> None:
        self.check()
        now = time.monotonic()
        if not force and now - self.last < PROGRESS_INTERVAL:
            return
        self.last = now
        value = min(max(float(fraction), 0.0), 1.0)
        written = ProfileRun.objects.filter(pk=self.run_id, claim_token=self.token).update(
            progress=value, heartbeat_at=timezone.now()
        )
        if not written:
            self.lost.set()
            self.check()

    def check(self) -> None:
        """Raise RunStopped once the job is known to be no longer this worker's."""
        if self.lost.is_set():
            raise RunStopped(self.run_id)

    def phase(self, start: float, share: float):
        return lambda f: self(start + share * min(max(float(f), 0.0), 1.0))


def execute_profile_run(
    *, run_id: int, heartbeat: bool = True, soft_limit: float | None = None, split: Splitter | None = None
) -> Outcome:
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
    return run_claimed(run, token, heartbeat=heartbeat, soft_limit=soft_limit, split=split)


def run_claimed(
    run: ProfileRun,
    token: str,
    *,
    heartbeat: bool = True,
    soft_limit: float | None = None,
    split: Splitter | None = None,
) -> Outcome:
    """Run a job this worker holds with ``token``: as one task, or as parts on several workers when
    ``split(run=..., token=...)`` queues them (profiling.part_jobs.plan_parts, handed in by the
    task), leaving the run RUNNING for its parts."""
    run_id = run.pk
    try:
        with run_heartbeat(run_id, token, beat=heartbeat) as beat:
            deadline = time.monotonic() + soft_limit if soft_limit else None
            if split is not None and split(run=run, token=token):
                return Outcome("parts")
            computed = _compute(run, _Progress(run_id, token, beat.lost), deadline=deadline)
            _check_deadline(deadline)
            return write_results(run_id=run_id, token=token, computed=computed)
    except Exception as exc:  # noqa: BLE001 - every failure ends the job, never the worker
        return _handle_failure(exc, run_id=run_id, token=token, soft_limit=soft_limit)


def _handle_failure(exc: Exception, *, run_id: int, token: str, soft_limit: float | None = None) -> Outcome:
    """Sort a job's exception into: failed with a message, or released for a retry (transient)."""
    from celery.exceptions import SoftTimeLimitExceeded

    try:
        from profiling.engine import ProfileError
    except Exception:  # noqa: BLE001 - the engine cannot even be imported: reported as unexpected
        ProfileError = ()  # noqa: N806

    stopped = _stopped(exc, run_id)
    if stopped is not None:
        return stopped
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


def _stopped(exc: Exception, run_id: int) -> Outcome | None:
    """The job ended because it is no longer this worker's (RunStopped), or failed on the way
    because its dataset was deleted under it (a file gone, a row gone): nothing to report, no
    run left to mark; an expected end, logged as such."""
    if isinstance(exc, RunStopped):
        state = exc.state
    elif isinstance(exc, OperationalError | InterfaceError):
        return None
    else:
        try:
            if ProfileRun.objects.filter(pk=run_id).exists():
                return None
        except (OperationalError, InterfaceError):
            return None
        state = "gone"
    logger.info("profile run %s stopped: %s", run_id, "its version was deleted" if state == "gone" else state)
    return Outcome(state)


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


def where_to_read(version):
    """(Location, tempfile or None): where the engine and the quality check read the version.

    In place wherever it lives (profiling.locations); a download to a temporary file only for an
    upload kept by a storage that cannot be read in place (neither local nor S3Storage)."""
    from profiling.engine.location import local
    from profiling.locations import location_of

    location = location_of(version)
    if location is not None:
        return location, None
    path, tmp = _local_copy(version)
    text = {
        "format": version.format,
        "compression": version.compression or "",
        "encoding": version.encoding or "utf-8",
    }
    return local(path, **text), tmp


def read_columns(version, columns: list[str]):
    """The named columns of a version's data (those it has) as one ``pyarrow.Table``, read as the
    profile reads it: in place, only those columns, after the same check that it is still the
    version's data. Other apps read a version's values through this (governance's evaluations)."""
    import pyarrow as pa

    from profiling.engine import iter_batches

    location, tmp = where_to_read(version)
    try:
        check = _start_check(version, location)
        try:
            batches = list(iter_batches(location, columns=columns, batch_rows=1 << 20))
        finally:
            if check is not None:
                check.wait()
    finally:
        if tmp is not None:
            tmp.close()
    if not batches:
        return pa.table({})
    # A column widened part-way (Retype) gives later batches a wider type: one table of the widest.
    return pa.concat_tables([pa.Table.from_batches([b]) for b in batches], promote_options="permissive")


def _start_check(version, location) -> _RegisteredCheck | None:
    """The data is still what the version describes: a reference's size and ETag or modification
    time, checked now (profiling.locations.verify_reference); a registered path's bytes, whose
    sha256 is checked while the engine reads (_RegisteredCheck.wait() before anything is written)."""
    from profiling.locations import verify_reference

    if version.is_reference:
        verify_reference(version, location)
        return None
    if version.source_uri:
        return _RegisteredCheck(version=version, path=location.path)
    return None


HASH_CHUNK = 1024 * 1024


def verify_registered_file(*, version, path: str) -> None:
    """Refuse to profile a path-registered version whose file is no longer the registered bytes.

    A version is immutable, but a registered path is the owner's file, not ours: it may be
    overwritten in place. Profiling it then would describe other bytes than the version's checksum.
    The size is compared first (free), then the file's stat as registration hashed it (device,
    inode, size, modification and status-change times: catalog.files.file_stat), and only when
    that moved the sha256 in one streamed pass (0.42 s for 417 MiB, on the way of every job).
    Uploaded files live in our storage and are not checked. The engine re-reads the file
    afterwards; a change in that window is not caught.
    """
    from catalog.files import file_stat
    from profiling.engine import ProfileError

    if version.file_stat and file_stat(path) == version.file_stat:
        return  # the bytes registration hashed: a write since would have moved the stat
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


class _RegisteredCheck:
    """verify_registered_file while the engine profiles the file: the size at once, the sha256 in
    a thread (hashlib lets go of the GIL), so that on two cores the hashing pass costs little wall
    time. A mismatch fails the job once the pass ends, before anything is written."""

    def __init__(self, *, version, path: str) -> None:
        from profiling.engine import ProfileError

        self.error: BaseException | None = None
        size = os.path.getsize(path)
        if size != version.size_bytes:
            raise ProfileError(
                f"The file at {path} changed since version {version.number} was registered "
                f"(size {size} bytes ≠ {version.size_bytes}); register it again as a new version."
            )
        self.thread = threading.Thread(
            target=self._run, args=(version, path), name="profile-sha256", daemon=True
        )
        self.thread.start()

    def _run(self, version, path: str) -> None:
        try:
            verify_registered_file(version=version, path=path)
        except BaseException as exc:  # noqa: BLE001 - raised in the job's thread by wait()
            self.error = exc

    def wait(self) -> None:
        self.thread.join()
        if self.error is not None:
            raise self.error


def _check_deadline(deadline: float | None) -> None:
    """Raise the soft time limit ourselves between phases: Celery's signal can land inside GX or
    the engine, which catch exceptions of their own and would carry on as if nothing happened."""
    if deadline is not None and time.monotonic() > deadline:
        from celery.exceptions import SoftTimeLimitExceeded

        raise SoftTimeLimitExceeded()


def _compute(run: ProfileRun, progress: _Progress, *, deadline: float | None = None) -> Computed:
    from profiling.engine import profile_file

    version = run.version
    dataset = version.dataset
    location, tmp = where_to_read(version)
    try:
        check = _start_check(version, location)
        # The suite known now is evaluated in the profile's own pass (the data is read once); one
        # proposed from this profile is decided by the pass's figures (profiling.quality.validate_pass).
        known = _suite_to_judge(dataset, version)
        evaluator = quality.native_evaluator(known[1] if known else None)
        _check_deadline(deadline)
        progress.check()
        try:
            result = profile_file(
                location,
                sensitive_columns=tuple(dataset.sensitive_columns or ()),
                label_column=dataset.label_column or None,
                positive_label=dataset.positive_label,
                options=profile_options(),
                progress=progress.phase(0.0, PROFILE_SHARE),
                batch_consumers=[evaluator],
            )
        finally:
            if check is not None:
                check.wait()  # a changed file fails the job, and explains a failed read best
        if tmp is not None:
            result.method["location"] = {"kind": "download", "note": DOWNLOADED}
        progress(PROFILE_SHARE, force=True)  # also stops here if the job is no longer ours
        _check_deadline(deadline)
        warnings = list(result.warnings or [])
        proposed, (name, expectations, suite_version, suite_source) = _suite_after_pass(
            dataset, version, result
        )
        quality_result = _quality(
            run, location, result, evaluator, name=name, expectations=expectations, progress=progress
        )
        if isinstance(quality_result, str):
            warnings.append(quality_result)
            quality_result = None
    finally:
        if tmp is not None:
            tmp.close()

    if quality_result is not None and result.pii:
        _redact_pii_values(quality_result, set(result.pii))

    # Drift is computed by results.write_results, under the dataset's lock, against what has finished by then.
    return Computed(result, quality_result, proposed, suite_version, suite_source, warnings)


def _suite_to_judge(dataset, version) -> tuple[str, list[dict[str, Any]]] | None:
    """(name, expectations) of the stored suite that will judge this version, or None when this
    version proposes its own (no suite yet, or only a proposal learned from a later version)."""
    suite = ExpectationSuite.objects.filter(dataset=dataset).first()
    if suite is None or proposed_from_later(suite, version.number):
        return None
    return suite.name, suite.expectations


def _suite_after_pass(dataset, version, result):
    """→ (proposed or None, (name, expectations, suite version, version the suite was proposed from)).

    Read again after the pass: a steward's edit or an earlier version's proposal that landed while
    the file was read is the one that judges (validate_pass then decides it without the stream)."""
    suite = ExpectationSuite.objects.filter(dataset=dataset).first()
    if suite is None or proposed_from_later(suite, version.number):
        # No suite yet, or only one learned from a later version (its run finished first):
        # this version is judged by a proposal from its own columns, never by a later one's.
        proposed = propose_expectations(columns=result.columns, row_count=result.row_count)
        suite_version = 1 if suite is None else suite.version + 1
        return proposed, (suite_name(dataset), proposed, suite_version, version.number)
    return None, (suite.name, suite.expectations, suite.version, proposed_from(suite))


def _quality(run, location, result, evaluator, *, name, expectations, progress) -> dict | str:
    """The quality result, or the warning that says why there is none (a GX failure must not lose
    the statistics)."""
    from celery.exceptions import SoftTimeLimitExceeded

    try:
        return quality.validate_pass(
            name=name,
            expectations=expectations,
            evaluator=evaluator,
            profile=result,
            location=location,
            total_rows=result.row_count,
            available=[c["name"] for c in result.schema],
            progress=progress.phase(PROFILE_SHARE, QUALITY_SHARE),
            max_json_depth=settings.GOUVERNAIL_MAX_JSON_DEPTH,
        )
    except (OperationalError, InterfaceError, OSError, SoftTimeLimitExceeded, RunStopped):
        raise
    except Exception as exc:  # noqa: BLE001 - a GX failure must not lose the statistics
        logger.exception("quality validation of profile run %s failed", run.pk)
        return f"Quality validation could not run: {exc.__class__.__name__}: {str(exc)[:200]}"


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
