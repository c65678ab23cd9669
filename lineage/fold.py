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
_folding = contextvars.ContextVar("lineage_folding", default=False)
# Events posted before a read that it did not wait for (LINEAGE_READ_FOLD_SECONDS ran out):
# lineage.middleware reports them to the client as X-Lineage-Pending.
behind = contextvars.ContextVar("lineage_behind", default=0)


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


READ_FOLD_BATCH = 20


def catch_up(*, seconds: float | None = None) -> int:
    """Fold every event stored before this call, so that a read sees what was posted before it
    → how many of those events are still pending (0: caught up).

    Cheap when nothing is pending (one indexed probe). Otherwise it waits for a folder at work (the
    lock), then folds what that folder left, up to the newest event pending at the call. Nothing
    while this thread is folding (a read made by a receiver during the fold), and nothing in sync
    mode: there only events too large for a request are pending, and a read does not wait for them
    (as before the folder existed; the worker folds them within seconds).

    ``seconds``: stop folding after about this long (whole batches), leaving the rest to the worker:
    a read after a large backlog answers from the graph as folded so far instead of waiting minutes.
    """
    if _folding.get() or apply_mode() != "deferred":
        return 0
    upto = pending_upto()
    if upto is None:
        return 0
    if seconds is None:
        fold_pending(upto=upto)
        return 0
    # Smaller batches than the worker's: the time is checked between batches, and a batch of events
    # that register new datasets can take seconds.
    fold_pending(upto=upto, seconds=seconds, size=min(_fold_batch_size(), READ_FOLD_BATCH))
    return LineageEvent.objects.filter(state=EventState.PENDING, id__lte=upto).count()


def catch_up_for_read() -> int:
    """What a view serving lineage reads calls once, before reading: fold the events posted before the
    request for at most LINEAGE_READ_FOLD_SECONDS → how many of them are still pending, also kept
    for lineage.middleware's X-Lineage-Pending header. Reads themselves never fold."""
    left = catch_up(seconds=settings.LINEAGE_READ_FOLD_SECONDS)
    behind.set(max(behind.get(), left))
    return left


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
    qs = LineageEvent.objects.filter(state=EventState.PENDING).order_by("id")
    if upto is not None:
        qs = qs.filter(id__lte=upto)
    events = list(qs[:size])
    with remembering_nodes():
        _fold(events, isolate=isolate)
    return len(events)


def _lock_folding() -> None:
    """One folder at a time (a second one waits here until the first commits); SQLite's write lock
    (transactions begin IMMEDIATE) serialises folders there."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [_FOLD_LOCK])


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
