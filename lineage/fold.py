"""The folder: the only code that queues or runs a fold of pending events into the graph.

With LINEAGE_APPLY=deferred an event is stored pending and answered at once; the folder applies
pending events in arrival order, a batch per transaction, one folder at a time, through the same
code that sync mode runs within the request (lineage.apply). It runs in the Celery task queued after
an event is stored (``request_fold``), in the periodic sweep, and before a read that must see every
event posted before it (``catch_up``, ``catch_up_for_read``: called by the views, never by a read).
"""

import contextvars
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from celery import current_app
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Max

from lineage import apply
from lineage.apply_nodes import forget_nodes, remembering_nodes
from lineage.models import ColumnEdge, Edge, EventState, LineageEvent, Node, Run, RunIO
from lineage.signals import send_graph_changed_on_commit

log = logging.getLogger(__name__)

# The Celery task that folds (lineage.tasks.fold_pending), queued by name: the task module imports
# this one, and lineage.apps registers it in every process at start-up.
FOLD_TASK = "lineage.fold_pending"
FOLD_QUEUED = "lineage:fold-queued"
# Any constant: the advisory lock that serialises folders on PostgreSQL (SQLite serialises writers).
_FOLD_LOCK = 0x6C696E65  # "line"
_TRANSIENT = (OperationalError, InterfaceError)  # connection lost, deadlock: retry the batch later
_LOCK_TIMEOUT = "55P03"  # lock_not_available: lock_timeout ran out
_folding = contextvars.ContextVar("lineage_folding", default=False)
# Events posted before a read that it did not wait for (LINEAGE_READ_FOLD_SECONDS ran out):
# lineage.middleware reports them to the client as X-Lineage-Pending.
behind = contextvars.ContextVar("lineage_behind", default=0)
# When the request being served began (time.monotonic(), set by lineage.middleware): a read's budget
# counts from there, not from the moment its view gets round to folding.
request_started: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "lineage_request_started", default=None
)


def apply_mode() -> str:
    """LINEAGE_APPLY: ``sync`` folds each event into the graph within its request, ``deferred`` leaves
    it pending for the folder (a worker, or the next read)."""
    return getattr(settings, "LINEAGE_APPLY", "sync")


def _fold_batch_size() -> int:
    return int(getattr(settings, "LINEAGE_FOLD_BATCH", 200))


# A poster whose flag was refused (a fold task is queued, not started) skips the flag for this long:
# the cache round trip was a large part of a deferred POST's cost. Safe because the task, once
# started, keeps looking for pending events until twice this long has passed (fold_queued).
_REFUSED_SKIP = 0.1
_last_refused = float("-inf")


def request_fold(*, force: bool = False) -> None:
    """Queue one fold task unless one is queued already (a cache flag, cleared by the task when it
    starts): a burst of events costs one message, not one per event. Never fails the caller: the
    event is stored, and the periodic sweep (lineage.fold_pending in the beat schedule) and the next
    read fold it if this message is lost."""
    global _last_refused

    now = time.monotonic()
    if not force and now - _last_refused < _REFUSED_SKIP:
        return
    try:
        if cache.add(FOLD_QUEUED, 1, timeout=int(getattr(settings, "LINEAGE_FOLD_FLAG_SECONDS", 10))):
            current_app.tasks[FOLD_TASK].delay()
        else:
            _last_refused = now
    except Exception:  # broker or cache down: the sweep folds these events
        log.exception("lineage: could not queue the fold task; the sweep will fold the pending events")


def fold_queued(*, seconds: float = 60) -> int:
    """The fold task's work: clear the flag (an event stored from now on queues the next fold), fold
    what is pending, and look again until 2 x _REFUSED_SKIP after the start (events whose posters
    skipped the flag commit within _REFUSED_SKIP of a refusal, i.e. of a moment before this start).
    After ``seconds`` with a backlog left it queues a fresh task instead of holding the worker.
    """
    cache.delete(FOLD_QUEUED)
    started = time.monotonic()
    done = 0
    while True:
        begun = time.monotonic()
        done += fold_pending(seconds=seconds)
        if begun - started >= 2 * _REFUSED_SKIP or begun - started > seconds:
            break
        time.sleep(_REFUSED_SKIP / 2)
    if pending_upto() is not None:
        request_fold(force=True)
    return done


def pending_upto() -> int | None:
    """The highest id of a pending event, None when none is (one probe of the partial index)."""
    return LineageEvent.objects.filter(state=EventState.PENDING).aggregate(m=Max("id"))["m"]


def catch_up(*, seconds: float | None = None, started: float | None = None) -> int:
    """Fold every event stored before this call, so that a read sees what was posted before it
    → how many of those events are still pending (0: caught up).

    Cheap when nothing is pending (one indexed probe). Otherwise it waits for a folder at work (the
    lock), then folds what that folder left, up to the newest event pending at the call. Nothing
    while this thread is folding (a read made by a receiver during the fold), and nothing in sync
    mode: there only events too large for a request are pending, and a read does not wait for them
    (as before the folder existed; the worker folds them within seconds).

    ``seconds``: a budget, counted from ``started`` (a ``time.monotonic()``; default: the start of
    the request being served, else now), for waiting, folding and then answering: the fold keeps
    READ_ANSWER_SHARE of it (at most READ_ANSWER_MAX) for the answer; what it leaves pending the
    worker folds (``fold_within``).
    """
    if _folding.get() or apply_mode() != "deferred":
        return 0
    upto = pending_upto()
    if upto is None:
        return 0
    if seconds is None:
        fold_pending(upto=upto)
        return 0
    if started is None:
        started = request_started.get() or time.monotonic()
    # The answer is built after the fold, within the same budget: leave it its share.
    seconds -= min(seconds * READ_ANSWER_SHARE, READ_ANSWER_MAX)
    return fold_within(upto, started=started, seconds=seconds).left


def catch_up_for_read() -> int:
    """What a view serving lineage reads calls once, before reading: fold the events posted before the
    request for at most LINEAGE_READ_FOLD_SECONDS from the request's start → how many of them are
    still pending, also kept for lineage.middleware's X-Lineage-Pending header. Reads themselves
    never fold."""
    left = catch_up(seconds=settings.LINEAGE_READ_FOLD_SECONDS)
    behind.set(max(behind.get(), left))
    return left


# ---------------------------------------------------------------------------------------------
# A fold on a time budget (a read's catch-up): every wait and every batch fits the time left.

READ_FOLD_BATCH = 20
# Of a read's budget, what the fold leaves for the answer built after it (tens of ms for hundreds of
# nodes, a few hundred for 10,000).
READ_ANSWER_SHARE = 0.1
READ_ANSWER_MAX = 0.25
# A read's first batch, before it has measured what an event costs to fold now: small, because an
# event that registers new datasets can cost a hundred times one that names known ones.
READ_FIRST_BATCH = 2
_clock = time.monotonic  # the budget's clock (tests replace it)


@dataclass
class Batch:
    """One batch of a budgeted fold (``_clock()`` instants)."""

    began: float  # before waiting for the folding lock
    # The longest it could wait for the lock: the time left at ``began``, less what the smallest
    # batch would take at the cost measured so far (a lock taken with no time to use it is wasted).
    wait_limit: float
    locked: float | None = None  # when it had the lock (None: the budget ran out waiting)
    size: int = 0  # events the time left allowed, by the cost measured so far (0: none fits)
    folded: int = 0
    ended: float = 0.0


@dataclass
class CatchUp:
    """What a budgeted fold decided: logged at DEBUG on lineage.fold (``extra={"catch_up": ...}``)."""

    started: float
    deadline: float
    upto: int
    batches: list[Batch] = field(default_factory=list)
    stopped: str = ""  # "caught up", "budget" (no batch fits the time left), "lock", "database"
    left: int = 0  # events up to ``upto`` still pending

    def __str__(self) -> str:
        folded = sum(b.folded for b in self.batches)
        return (
            f"{folded} events folded in {len(self.batches)} batches, stopped: {self.stopped}, "
            f"{self.left} left, {_clock() - self.deadline:+.3f} s from the deadline"
        )


class _OutOfTime(Exception):
    """The folding lock was not free within the time left."""


def fold_within(upto: int, *, started: float, seconds: float) -> CatchUp:
    """Fold pending events up to ``upto`` until ``started + seconds`` → what was decided.

    Never waits for the lock (a worker's batch) past the deadline, and never starts a batch it does
    not expect to finish well before then: the batch is sized after the lock is taken, to half the
    time left at the highest per-event cost of this read's batches so far (at most twice the
    previous size; READ_FIRST_BATCH first), so a read overruns its budget by one small batch at
    most (events far costlier than those before them). A database error stops the fold (the batch
    rolls back, its events stay pending for the worker) rather than fail the read.
    """
    trace = CatchUp(started=started, deadline=started + seconds, upto=upto)
    per_event: float | None = None  # the costliest per-event cost of this read's batches
    previous = 0
    while True:
        now = _clock()
        if not _fitting(trace.deadline - now, per_event, previous):
            trace.stopped = "budget"
            break
        batch = Batch(began=now, wait_limit=trace.deadline - now - 2 * (per_event or 0.0))
        trace.batches.append(batch)
        try:
            _read_batch(batch, upto, trace.deadline, per_event, previous)
        except _OutOfTime:
            trace.stopped = "lock"
            break
        except _TRANSIENT as exc:
            # The batch rolled back: its events stay pending for the worker, and the read answers.
            if _sqlstate(exc) == _LOCK_TIMEOUT:  # a row lock the batch waited for past the deadline
                trace.stopped = "lock"
            else:
                log.warning("lineage: a read's fold stopped on a database error", exc_info=True)
                trace.stopped = "database"
            break
        batch.ended = _clock()
        if not batch.size:
            trace.stopped = "budget"
            break
        if batch.folded:
            # The costliest batch so far sizes the next: events differ (new datasets cost most) and
            # so does the CPU left by the worker; sizing by the last one overran on a costlier next.
            per_event = max(per_event or 0.0, (batch.ended - batch.locked) / batch.folded)
        if batch.folded < batch.size:
            trace.stopped = "caught up"
            break
        previous = batch.size
    if trace.stopped != "caught up":
        trace.left = LineageEvent.objects.filter(state=EventState.PENDING, id__lte=upto).count()
    log.debug("lineage catch-up: %s", trace, extra={"catch_up": trace})
    return trace


def _fitting(remaining: float, per_event: float | None, previous: int) -> int:
    """How many events to fold next with ``remaining`` seconds left, at ``per_event`` seconds each:
    enough for half the time left. The cost of the same events varies severalfold from one batch to
    the next (the worker's batches compete for the CPU and the rows), and planning on half leaves
    room for that; the batches shrink as the deadline nears, the last ones of one event."""
    cap = min(_fold_batch_size(), READ_FOLD_BATCH, 2 * previous if previous else READ_FIRST_BATCH)
    if per_event is None:
        return cap if remaining > 0 else 0
    return max(0, min(cap, int(remaining / (2 * per_event))))


def _read_batch(batch: Batch, upto: int, deadline: float, per_event: float | None, previous: int) -> None:
    """One budgeted batch, optimistically without a savepoint per event (as ``_fold_batch``)."""
    try:
        _read_batch_once(batch, upto, deadline, per_event, previous, isolate=False)
    except (_OutOfTime, *_TRANSIENT):
        raise
    except Exception:
        batch.locked, batch.size, batch.folded = None, 0, 0
        _read_batch_once(batch, upto, deadline, per_event, previous, isolate=True)


@transaction.atomic
def _read_batch_once(
    batch: Batch, upto: int, deadline: float, per_event: float | None, previous: int, *, isolate: bool
) -> None:
    _lock_folding(wait=batch.began + batch.wait_limit - _clock())
    batch.locked = _clock()
    batch.size = _fitting(deadline - batch.locked, per_event, previous)
    _bound_lock_waits(deadline - batch.locked)  # the row locks the batch may wait for
    if batch.size:
        events = _pending(upto, batch.size)
        with remembering_nodes():
            _fold(events, isolate=isolate)
        batch.folded = len(events)


def fold_pending(*, upto: int | None = None, seconds: float | None = None, size: int | None = None) -> int:
    """Fold pending events into the graph in id order, a batch per transaction → events folded.

    Stops when no pending event is left (at or below ``upto`` when given), or after ``seconds``.
    Each event goes through ``apply.apply_event``, the code that sync mode runs within the request.
    An event the graph refuses is marked failed with the reason and never tried again; a transient
    database error rolls the batch back (its events stay pending) and propagates, for the task to
    retry. A worker killed mid-batch loses nothing: the batch's transaction never commits.
    """
    done = 0
    size = size or _fold_batch_size()
    stop_at = None if seconds is None else time.monotonic() + seconds
    while True:
        n = _fold_batch(size, upto)
        done += n
        if n < size or (stop_at is not None and time.monotonic() > stop_at):
            return done


def _fold_batch(size: int, upto: int | None) -> int:
    """One batch, optimistically without a savepoint per event (two statements fewer per event);
    when an event fails, the whole batch rolls back and is folded again with one savepoint per event,
    so that only that event is marked failed."""
    try:
        return _fold_batch_once(size, upto, isolate=False)
    except _TRANSIENT:
        raise
    except Exception:
        return _fold_batch_once(size, upto, isolate=True)


@transaction.atomic
def _fold_batch_once(size: int, upto: int | None, *, isolate: bool) -> int:
    _lock_folding()
    events = _pending(upto, size)
    with remembering_nodes():
        _fold(events, isolate=isolate)
    return len(events)


def _pending(upto: int | None, size: int) -> list[LineageEvent]:
    qs = LineageEvent.objects.filter(state=EventState.PENDING).order_by("id")
    if upto is not None:
        qs = qs.filter(id__lte=upto)
    return list(qs[:size])


def _lock_folding(*, wait: float | None = None) -> None:
    """One folder at a time (a second one waits here until the first commits); SQLite's write lock
    (transactions begin IMMEDIATE) serialises folders there.

    ``wait``: give up after this many seconds (raise _OutOfTime; with no time left, take the lock
    only if it is free), by PostgreSQL's lock_timeout: the waiter keeps its place in the lock's
    queue, so a worker folding batch after batch cannot starve it (as polling would)."""
    if connection.vendor != "postgresql":
        return
    if wait is not None:
        _bound_lock_waits(wait)
    with connection.cursor() as cur:
        try:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [_FOLD_LOCK])
        except OperationalError as exc:
            if wait is not None and _sqlstate(exc) == _LOCK_TIMEOUT:
                raise _OutOfTime from None
            raise


def _bound_lock_waits(seconds: float) -> None:
    """PostgreSQL: no lock wait of this transaction lasts longer than ``seconds`` (at least 1 ms:
    then the lock is taken only if it is free)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SELECT set_config('lock_timeout', %s, true)", [f"{max(1, int(seconds * 1000))}ms"])


def _sqlstate(exc: Exception) -> str | None:
    return getattr(exc.__cause__, "sqlstate", None)


def _fold(events, *, emit_model_signal: bool = True, isolate: bool = True) -> None:
    """Apply stored events in order and record how each went (state). With ``isolate`` each event
    has its own savepoint: one the graph refuses is marked failed and the others go on; without,
    the first failure propagates (the caller rolls the batch back)."""
    token = _folding.set(True)
    try:
        _fold_each(events, emit_model_signal, isolate)
    finally:
        _folding.reset(token)


def _fold_each(events, emit_model_signal: bool, isolate: bool) -> None:
    users: dict[str, Any] = {}
    applied: list[int] = []
    for event in events:
        ctx = apply.EventContext(emit_model_signal=emit_model_signal, actor=_poster(event, users))
        if not isolate:
            apply.apply_event(event.kind, event.body, event.event_time, ctx)
            applied.append(event.pk)
            continue
        try:
            with transaction.atomic():
                apply.apply_event(event.kind, event.body, event.event_time, ctx)
        except _TRANSIENT:
            raise
        except ValidationError as exc:
            _mark_failed(event, "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items()))
        except Exception as exc:  # a bug or bad data in one event must not stop the others
            log.exception("lineage event %s could not be folded", event.pk)
            _mark_failed(event, f"{type(exc).__name__}: {exc}")
        else:
            if event.state != EventState.APPLIED:
                applied.append(event.pk)
        if len(applied) >= 500:
            LineageEvent.objects.filter(pk__in=applied).update(state=EventState.APPLIED, error="")
            applied = []
    if applied:
        LineageEvent.objects.filter(pk__in=applied).update(state=EventState.APPLIED, error="")


def _mark_failed(event: LineageEvent, message: str) -> None:
    forget_nodes()  # the event's writes were rolled back
    if event.state == EventState.FAILED and event.error == message[:2000]:
        return  # a rebuild meeting the same refusal again
    log.warning("lineage event %s not applied to the graph: %s", event.pk, message)
    LineageEvent.objects.filter(pk=event.pk).update(state=EventState.FAILED, error=message[:2000])


def _poster(event: LineageEvent, cache: dict | None = None):
    """The user who posted a stored event (None when unknown or deleted): replays judge its facets
    with the same rights as when it arrived."""
    if not event.received_by:
        return None
    if cache is not None and event.received_by in cache:
        return cache[event.received_by]
    user = get_user_model().objects.filter(username=event.received_by).first()
    if cache is not None:
        cache[event.received_by] = user
    return user


@transaction.atomic
def rebuild_graph() -> int:
    """Rebuild the whole derived graph from the record, event by event in arrival order → count.

    Pending and failed events are folded too (each event's state says how it went this time).
    Catalog datasets are resolved again through ensure_dataset; the model signal is not re-sent.
    """
    _lock_folding()
    send_graph_changed_on_commit()
    ColumnEdge.objects.all().delete()
    Edge.objects.all().delete()
    Node.objects.update(latest_run=None)
    RunIO.objects.all().delete()
    Run.objects.all().delete()
    Node.objects.all().delete()
    count = 0
    batch: list[LineageEvent] = []
    for event in LineageEvent.objects.order_by("id").iterator(chunk_size=500):
        batch.append(event)
        if len(batch) == 500:
            _fold(batch, emit_model_signal=False)
            count, batch = count + len(batch), []
    _fold(batch, emit_model_signal=False)
    return count + len(batch)
