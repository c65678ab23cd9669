"""A profile job spread over several workers: a big version profiled in parts, then merged once.

The run's task (profiling.runner) claims the run as for one task; when the version is larger than
PROFILING_PART_BYTES and the engine cuts it into several cells (a local CSV or Parquet file:
``prepare``), ``plan_parts`` makes ProfilePart rows and queues one ``profiling.profile_part`` task
per part, and the run's task returns with the run left RUNNING. Smaller versions, and data the
engine reads as one cell (S3 objects, tables, partitioned datasets), stay one task.

* Each part is claimed under its own lease (``claim_part``, like jobs.claim_run). Its progress
  writes refresh its own heartbeat and the run's, so the run's lease does not run out while parts
  are read; a run that has parts is never taken over by its own lease (jobs.claim_run), only its
  parts are (jobs.requeue_stale_runs re-sends parts whose lease ran out).
* The part that finishes last takes the merge under the run's row lock (``_finish_part``): it swaps
  the run's token for a merge token, so the merge runs once; a merge whose worker died is taken
  over by the next delivery of any part's message once the run's lease runs out.
* Each part evaluates the suite known when it starts natively in its own read (a NativeEvaluator
  as a batch consumer, its state carried as bytes by profiling.native_codec, whole columns kept
  within an equal share of the memory budget).
* The merge: ``merge_states`` → ``finish`` → the parts' evaluators merged in row order →
  quality.validate_pass (GX reads the file again only for the expectations they declined, or for
  all of them when the suite changed while the parts were read) → results.write_results with the
  merge token. The parts' states are read (profiling.part_blobs), decoded and merged one at a time:
  the merge holds two of them, not all.
* A ProfileError in a part fails the run with its message; the other parts stop at their next
  progress write. A part that needs a wider column type (``Retype``) falls back to the one-task
  path: the parts are dropped and that worker profiles the whole version itself.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
import uuid

from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, connection, transaction
from django.db.models import F
from django.utils import timezone

from profiling import part_blobs, quality
from profiling.jobs import (
    Outcome,
    enqueue_part,
    fail_run,
    lease_expired,
    lease_seconds,
    max_attempts,
    readable,
)
from profiling.models import PartStatus, ProfilePart, ProfileRun, RunStatus
from profiling.native_codec import evaluator_to_bytes

logger = logging.getLogger(__name__)

PROGRESS_INTERVAL = 0.5
PARTS_SHARE = 0.9  # of the run's progress: the parts; the merge and the suite take the rest


def part_bytes() -> int:
    return int(getattr(settings, "PROFILING_PART_BYTES", 256 * 1024 * 1024))


def fail_part_run(*, part_id: int, message: str) -> None:
    """Fail the run of a part that kept failing on a temporary error."""
    part = ProfilePart.objects.filter(pk=part_id).only("run_id", "run_token").first()
    if part is not None:
        fail_run(run_id=part.run_id, message=message, token=part.run_token)


class PartStopped(Exception):  # noqa: N818 -- a signal to stop, not an error people see
    """The part is no longer this worker's (re-run, failed run, lease taken over)."""


# ---------------------------------------------------------------------------------------------
# Planning (in the run's task)


def plan_parts(*, run: ProfileRun, token: str) -> bool:
    """Cut the run's version into parts and queue them → True; False when it stays one task."""
    from profiling.engine import prepare
    from profiling.locations import location_of
    from profiling.runner import profile_options, verify_registered_file

    limit = part_bytes()
    version = run.version
    size = int(version.size_bytes or 0)
    if limit <= 0 or size <= limit:
        return False  # the one-task path, untouched
    location = location_of(version)
    if location is None or location.kind != "file":
        return False
    if version.source_uri and not version.is_reference:
        verify_registered_file(version=version, path=location.path)  # before any part reads it
    dataset = version.dataset
    options = profile_options()
    spec = prepare(
        location,
        sensitive_columns=tuple(dataset.sensitive_columns or ()),
        label_column=dataset.label_column or None,
        positive_label=dataset.positive_label,
        # Cells no bigger than a part, so that a part can be made of them.
        options=dataclasses.replace(options, cell_bytes=min(options.cell_bytes, limit)),
    )
    if not spec.split or len(spec.cells) < 2:
        return False
    groups = spec.parts(math.ceil(size / limit))
    if len(groups) < 2:
        return False
    text = spec.to_json()
    with transaction.atomic():
        held = ProfileRun.objects.select_for_update().filter(pk=run.pk, claim_token=token).exists()
        if not held:
            return True  # the run is no longer ours: nothing to plan, nothing to do
        ProfilePart.objects.filter(run=run).delete()
        parts = ProfilePart.objects.bulk_create(
            ProfilePart(run=run, index=i, cells=cells, spec=text, run_token=token)
            for i, cells in enumerate(groups)
        )
        for part in parts:
            enqueue_part(part.pk)
    logger.info("profile run %s: %d parts of %d cells", run.pk, len(groups), len(spec.cells))
    return True


# ---------------------------------------------------------------------------------------------
# One part (the part's task)


@transaction.atomic
def claim_part(*, part_id: int, token: str) -> tuple[ProfilePart | None, Outcome | str | None]:
    """Take the part for this worker → (part, None); or (None, outcome); or (None, merge token)
    when the part is done and the merge is left to do (its merger died)."""
    part = ProfilePart.objects.select_for_update().filter(pk=part_id).defer(*part_blobs.FIELDS).first()
    if part is None:
        return None, Outcome("gone")
    run = ProfileRun.objects.select_for_update().get(pk=part.run_id)
    if run.status != RunStatus.RUNNING:
        return None, Outcome("done-before" if run.finished else "lost-lease")
    if part.status == PartStatus.SUCCEEDED:
        return None, _claim_merge(run, part.run_token)
    if run.claim_token != part.run_token or part.status == PartStatus.FAILED:
        return None, Outcome("lost-lease")
    if part.status == PartStatus.RUNNING and not _part_lease_expired(part):
        beat = part.heartbeat_at
        wait = max(1.0, lease_seconds() - (timezone.now() - beat).total_seconds() + 1)
        return None, Outcome("busy", retry_in=wait)
    if part.attempts >= max_attempts():
        message = (
            f"Profiling was abandoned after part {part.index} was tried {part.attempts} times: the "
            "worker stopped each time (killed, out of memory or over the hard time limit)."
        )
        fail_run(run_id=run.pk, message=message, token=run.claim_token)
        return None, Outcome("failed")
    now = timezone.now()
    ProfilePart.objects.filter(pk=part.pk).update(
        status=PartStatus.RUNNING, claim_token=token, heartbeat_at=now, attempts=F("attempts") + 1
    )
    ProfileRun.objects.filter(pk=run.pk).update(heartbeat_at=now)
    part.refresh_from_db()
    return part, None


def _part_lease_expired(part: ProfilePart) -> bool:
    beat = part.heartbeat_at
    return beat is None or (timezone.now() - beat).total_seconds() > lease_seconds()


def _claim_merge(run: ProfileRun, run_token: str) -> Outcome | str:
    """Under the run's row lock: a merge token when every part succeeded and nobody merges (the run
    still holds the parts' token) or the merger's lease ran out; else an outcome."""
    states = set(ProfilePart.objects.filter(run=run).values_list("status", flat=True))
    if states != {PartStatus.SUCCEEDED}:
        return Outcome("done-before")
    if run.claim_token != run_token and not lease_expired(run):
        return Outcome("done-before")  # merged by another worker right now
    merge_token = uuid.uuid4().hex
    ProfileRun.objects.filter(pk=run.pk).update(claim_token=merge_token, heartbeat_at=timezone.now())
    return merge_token


class _PartProgress:
    """Heartbeat of the part and of its run, written with progress; stops the part once its row or
    the run is no longer its own (PartStopped)."""

    def __init__(self, part: ProfilePart, token: str) -> None:
        self.part, self.token, self.last = part, token, 0.0

    def __call__(self, fraction: float) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_INTERVAL:
            return
        self.last = now
        beat = timezone.now()
        held = ProfilePart.objects.filter(
            pk=self.part.pk, claim_token=self.token, status=PartStatus.RUNNING
        ).update(heartbeat_at=beat)
        running = ProfileRun.objects.filter(
            pk=self.part.run_id, claim_token=self.part.run_token, status=RunStatus.RUNNING
        ).update(heartbeat_at=beat)
        if not (held and running):
            raise PartStopped()


def execute_part(*, part_id: int, heartbeat: bool = True) -> Outcome:
    """Claim and profile one part; the last one to finish merges. The part task's whole body."""
    from profiling.runner import TransientProfileError

    token = uuid.uuid4().hex
    try:
        part, claimed = claim_part(part_id=part_id, token=token)
    except (OperationalError, InterfaceError) as exc:
        raise TransientProfileError(f"database unavailable: {exc}") from exc
    if isinstance(claimed, str):
        run_id = ProfilePart.objects.filter(pk=part_id).values_list("run_id", flat=True).get()
        return merge(run_id=run_id, token=claimed, heartbeat=heartbeat)
    if claimed is not None:
        return claimed
    try:
        merge_token = _profile_part(part, token)
    except PartStopped:
        return Outcome("lost-lease")
    except Exception as exc:  # noqa: BLE001 - every failure ends the part, never the worker
        return _part_failure(exc, part=part, token=token, heartbeat=heartbeat)
    if merge_token is None:
        return Outcome("succeeded")
    return merge(run_id=part.run_id, token=merge_token, heartbeat=heartbeat)


def _profile_part(part: ProfilePart, token: str) -> str | None:
    from profiling.engine import ProfileError, ProfileSpec, profile_part, to_bytes
    from profiling.locations import location_of

    version = part.run.version
    location = location_of(version)
    if location is None:
        raise ProfileError("The version's file can no longer be read in place.")
    spec = ProfileSpec.from_json(part.spec, location=location)
    evaluator = _part_evaluator(part, version)
    state = profile_part(spec, part.cells, progress=_PartProgress(part, token), batch_consumers=[evaluator])
    return _finish_part(part, token, to_bytes(state), evaluator_to_bytes(evaluator))


def _part_evaluator(part: ProfilePart, version):
    """The suite known now, evaluated in this part's own read (as one task does in its pass); the
    memory kept for whole columns is shared out between the parts, so the merge stays within it."""
    from profiling.native_expectations import NativeEvaluator
    from profiling.native_metrics import KEEP_BYTES
    from profiling.runner import _suite_to_judge

    known = _suite_to_judge(version.dataset, version)
    parts = max(1, ProfilePart.objects.filter(run_id=part.run_id).count())
    return NativeEvaluator(list(known[1]) if known else [], keep_bytes=KEEP_BYTES // parts)


@transaction.atomic
def _finish_part(part: ProfilePart, token: str, state: bytes, quality_state: bytes) -> str | None:
    """Store the part's state; the merge token when it was the last part (the merge is ours)."""
    run = ProfileRun.objects.select_for_update().get(pk=part.run_id)
    done = ProfilePart.objects.filter(pk=part.pk, claim_token=token, status=PartStatus.RUNNING).update(
        status=PartStatus.SUCCEEDED, claim_token="", heartbeat_at=timezone.now()
    )
    if not done or run.claim_token != part.run_token or run.status != RunStatus.RUNNING:
        raise PartStopped()
    part_blobs.write(part.pk, state=state, quality_state=quality_state)  # in this transaction
    total = ProfilePart.objects.filter(run=run).count()
    succeeded = ProfilePart.objects.filter(run=run, status=PartStatus.SUCCEEDED).count()
    ProfileRun.objects.filter(pk=run.pk).update(
        progress=PARTS_SHARE * succeeded / total, heartbeat_at=timezone.now()
    )
    if succeeded < total:
        return None
    merge_token = _claim_merge(run, part.run_token)
    return merge_token if isinstance(merge_token, str) else None


def _part_failure(exc: Exception, *, part: ProfilePart, token: str, heartbeat: bool) -> Outcome:
    from profiling.engine import ProfileError, Retype
    from profiling.runner import TransientProfileError

    if isinstance(exc, Retype):
        return _fall_back_to_one_task(part, heartbeat=heartbeat)
    if isinstance(exc, ProfileError):
        message = str(exc) or "The file could not be profiled."
    elif isinstance(exc, OperationalError | InterfaceError | OSError) and not isinstance(
        exc, FileNotFoundError | PermissionError
    ):
        if not connection.in_atomic_block:
            close_old_connections()
        _release_part(part, token)
        raise TransientProfileError(f"temporary error in part {part.index}: {exc}") from exc
    else:
        logger.error("part %s of profile run %s failed unexpectedly", part.index, part.run_id, exc_info=exc)
        first_line = (str(exc).splitlines() or [""])[0][:300]
        message = (
            f"Profiling failed unexpectedly ({exc.__class__.__name__}: {first_line}). "
            "The details are in the worker's log."
        )
    ProfilePart.objects.filter(pk=part.pk, claim_token=token).update(
        status=PartStatus.FAILED, error=readable(message), claim_token=""
    )
    fail_run(run_id=part.run_id, message=message, token=part.run_token)
    return Outcome("failed")


def _release_part(part: ProfilePart, token: str) -> None:
    try:
        ProfilePart.objects.filter(pk=part.pk, claim_token=token, status=PartStatus.RUNNING).update(
            status=PartStatus.PENDING, claim_token="", heartbeat_at=None
        )
    except (OperationalError, InterfaceError):
        logger.warning("could not release part %s; its lease will expire", part.pk)


def _fall_back_to_one_task(part: ProfilePart, *, heartbeat: bool) -> Outcome:
    """A column needs a wider type than the one its parts were read with: drop the parts and
    profile the whole version here, as one task (the engine widens the type as it restarts)."""
    from profiling import runner

    token = uuid.uuid4().hex
    with transaction.atomic():
        run = ProfileRun.objects.select_for_update().filter(pk=part.run_id).first()
        if run is None or run.status != RunStatus.RUNNING or run.claim_token != part.run_token:
            return Outcome("lost-lease")
        ProfilePart.objects.filter(run=run).delete()
        ProfileRun.objects.filter(pk=run.pk).update(claim_token=token, heartbeat_at=timezone.now())
    logger.info("profile run %s: a part needs a wider type; profiling it as one task", part.run_id)
    run.refresh_from_db()
    return runner.run_claimed(run, token, heartbeat=heartbeat, split=None)


# ---------------------------------------------------------------------------------------------
# The merge


def merge(*, run_id: int, token: str, heartbeat: bool = True) -> Outcome:
    """Merge the parts' states, finish the profile, validate the suite and write it all (once)."""
    from profiling import runner

    try:
        beating = runner.run_heartbeat(run_id, token, beat=heartbeat)
        with beating as beat:
            computed = _merged(run_id, runner._Progress(run_id, token, beat.lost))
            outcome = runner.write_results(run_id=run_id, token=token, computed=computed)
    except Exception as exc:  # noqa: BLE001 - every failure ends the job, never the worker
        try:
            return runner._handle_failure(exc, run_id=run_id, token=token)
        except runner.TransientProfileError:
            from profiling.jobs import _enqueue

            with transaction.atomic():  # the run starts again from its own task
                _enqueue(run_id)
            return Outcome("failed")
    if outcome.state == "succeeded":  # kept no longer than needed
        ProfilePart.objects.filter(run_id=run_id).update(state=None, quality_state=None)
    return outcome


def _merged(run_id: int, progress):
    from profiling import runner
    from profiling.engine import finish, from_bytes, merge_states
    from profiling.locations import location_of
    from profiling.results import Computed

    run = ProfileRun.objects.select_related("version__dataset").get(pk=run_id)
    version, dataset = run.version, run.version.dataset
    ids = list(ProfilePart.objects.filter(run_id=run_id).order_by("index").values_list("pk", flat=True))
    result = finish(merge_states(from_bytes(part_blobs.read(pk, "state")) for pk in ids))
    progress(PARTS_SHARE, force=True)
    warnings = list(result.warnings or [])
    proposed, (name, expectations, suite_version, suite_source) = runner._suite_after_pass(
        dataset, version, result
    )
    location = location_of(version)
    quality_result = None
    try:
        quality_result = _validate_merged(
            _blobs(ids, "quality_state"),
            result,
            name=name,
            expectations=expectations,
            location=location,
            total_rows=result.row_count,
            available=[c["name"] for c in result.schema],
            progress=progress.phase(PARTS_SHARE, 1.0 - PARTS_SHARE),
            max_json_depth=settings.GOUVERNAIL_MAX_JSON_DEPTH,
        )
    except (OperationalError, InterfaceError, OSError, runner.RunStopped):
        raise
    except Exception as exc:  # noqa: BLE001 - a GX failure must not lose the statistics
        logger.exception("quality validation of profile run %s failed", run_id)
        warnings.append(f"Quality validation could not run: {exc.__class__.__name__}: {str(exc)[:200]}")
    if quality_result is not None and result.pii:
        runner._redact_pii_values(quality_result, set(result.pii))
    return Computed(result, quality_result, proposed, suite_version, suite_source, warnings)


def _blobs(ids: list[int], field: str):
    """The parts' stored states, one at a time in the parts' order: a merge of many parts never
    holds all their bytes at once."""
    for pk in ids:
        yield part_blobs.read(pk, field)


def _validate_merged(quality_states, result, *, name: str, expectations: list, **gx_file):
    """The suite judged from the parts' native evaluations merged in row order (GX reads the file
    again only for what they declined); by GX alone when a part has none (queued by an older
    worker)."""
    from profiling.native_codec import evaluator_from_bytes

    evaluator = None
    for blob in quality_states:
        if blob is None:
            return quality.validate_file(name=name, expectations=expectations, **gx_file)
        part = evaluator_from_bytes(blob)
        del blob
        if evaluator is None:
            evaluator = part
        else:
            evaluator.merge(part)
        del part  # merged: let go of it before the next part's bytes are read
    return quality.validate_pass(
        name=name, expectations=expectations, evaluator=evaluator, profile=result, **gx_file
    )
