"""Every write of lineage: taking an OpenLineage event in, and recording a training run.

An event is stored as received and folded into the graph, either in the same transaction
(LINEAGE_APPLY=sync) or later by the folder (``deferred``: the event is stored pending, a worker
folds pending events in batches, and every lineage read folds what is left first). A refused event
leaves nothing behind, an accepted one is never lost, and the same event sent twice is stored once.
Datasets are resolved or registered only through ``catalog.services.ensure_dataset``.
"""

import contextvars
import hashlib
import json
import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from catalog import selectors as catalog_selectors
from catalog import services as catalog_services
from lineage import permissions, signals
from lineage.models import (
    ColumnEdge,
    Direction,
    Edge,
    EventKind,
    EventState,
    LineageEvent,
    Node,
    NodeKind,
    Run,
    RunIO,
    RunState,
)
from lineage.nodes import node_key
from lineage.spec import parse_event_time, validate_event

log = logging.getLogger(__name__)

PRODUCER = "https://github.com/gouvernail/gouvernail/lineage"
_TERMINAL = {"COMPLETE": RunState.COMPLETED, "FAIL": RunState.FAILED, "ABORT": RunState.ABORTED}
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
# json.dumps writes NUL as \u0000; an escaped backslash before it (\\u0000) is ordinary text.
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def canonical_hash(body: dict) -> str:
    """sha256 of the event's canonical JSON: key order and whitespace do not make a new event.

    Also refuses what JSON parsers accept but the database cannot store (→ 400, not a 500 later):
    NaN/Infinity, NUL characters and lone surrogates.
    """
    try:
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        data = text.encode("utf-8")
    except ValueError as exc:  # NaN / Infinity (1e400 parses as inf)
        raise ValidationError(
            {"body": [f"Not storable JSON: {exc} (NaN and Infinity are not JSON)."]}
        ) from None
    except UnicodeEncodeError:
        raise ValidationError(
            {"body": ["Not storable JSON: a lone surrogate (\\ud800-\\udfff) in a string."]}
        ) from None
    if "\\u0000" in text and _NUL_ESCAPE.search(text):
        raise ValidationError({"body": ["Not storable JSON: a NUL character (\\u0000) in a string."]})
    return hashlib.sha256(data).hexdigest()


def _max_datasets() -> int:
    return int(getattr(settings, "LINEAGE_MAX_DATASETS_PER_EVENT", 10_000))


@dataclass
class _Ctx:
    """What one event's processing collects for after-commit hooks."""

    emit_model_signal: bool = True
    # Who posted the event (a user, or None for the system): decides whether a schema facet may
    # rewrite a curated dataset's columns.
    actor: Any = None
    model_outputs: list[tuple[Node, str | None]] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Ingestion


def _sync_max_new_datasets() -> int:
    # Registered in bulk (catalog.services.ensure_datasets): ~4 ms per new dataset on PostgreSQL,
    # most of it governance's audit record of each; 1,000 new datasets keep a client ~4 s.
    return int(getattr(settings, "LINEAGE_SYNC_MAX_NEW_DATASETS", 1000))


def _event_dataset_pairs(kind: str, body: dict) -> set[tuple[str, str]]:
    items = (
        [body["dataset"]]
        if kind == EventKind.DATASET
        else (body.get("inputs") or []) + (body.get("outputs") or [])
    )
    return {(ds["namespace"], ds["name"]) for ds in items}


def _unknown_count(pairs: set[tuple[str, str]]) -> int:
    if len(pairs) <= _sync_max_new_datasets():
        return 0  # small enough either way: no need to ask
    known: set[tuple[str, str]] = set()
    keys = [node_key(k, ns, name) for ns, name in pairs for k in ("dataset", "model")]
    for i in range(0, len(keys), 900):
        known.update(Node.objects.filter(key__in=keys[i : i + 900]).values_list("namespace", "name"))
    return len(pairs - known)


def apply_mode() -> str:
    """LINEAGE_APPLY: ``sync`` folds each event into the graph within its request, ``deferred`` leaves
    it pending for the folder (a worker, or the next read)."""
    return getattr(settings, "LINEAGE_APPLY", "sync")


def ingest_event(
    *, body: Any, actor=None, emit_model_signal: bool = True, apply: str | None = None
) -> tuple[LineageEvent, bool]:
    """Validate, store and apply one OpenLineage event → (event row, created).

    created is False when the very same event was already stored (a client retry): nothing changes.
    Raises ValidationError naming the offending field (→ 400) and stores nothing then.

    ``apply`` (default: LINEAGE_APPLY) says when the event reaches the graph: ``sync`` within this
    call, ``deferred`` by the folder (``fold_pending``: a worker queued after commit, or the next
    lineage read), the event being stored pending. An event naming more new datasets than
    LINEAGE_SYNC_MAX_NEW_DATASETS is deferred in either mode: registering thousands of catalog
    datasets takes longer than a client waits, and the stored event is the record either way.
    """
    digest = canonical_hash(body) if isinstance(body, dict) else ""
    kind = validate_event(body, max_datasets=_max_datasets())
    event_time = parse_event_time(body["eventTime"])
    deferred = (apply or apply_mode()) == "deferred" or (
        _unknown_count(_event_dataset_pairs(kind, body)) > _sync_max_new_datasets()
    )
    event = LineageEvent(
        kind=kind,
        event_type=(body.get("eventType") or "") if kind == EventKind.RUN else "",
        event_time=event_time,
        run_id=body["run"]["runId"].lower() if kind == EventKind.RUN else "",
        job_key=node_key("job", body["job"]["namespace"], body["job"]["name"])
        if kind != EventKind.DATASET
        else "",
        producer=str(body.get("producer", ""))[:1000],
        body_hash=digest,
        body=body,
        received_at=timezone.now(),
        received_by=getattr(actor, "username", "") or "",
        deferred=deferred,
        state=EventState.PENDING if deferred else EventState.APPLIED,
    )
    if deferred:
        # One INSERT, atomic on its own: no transaction block to open and commit around it.
        if not _insert_event(event):
            return LineageEvent.objects.get(body_hash=digest), False
        transaction.on_commit(request_fold)  # at once, unless the caller holds a transaction
        return event, True
    with transaction.atomic():
        if not _insert_event(event):
            # The same event was stored before (a retry), or committed first by a concurrent post.
            return LineageEvent.objects.get(body_hash=digest), False
        _apply(kind, body, event_time, _Ctx(emit_model_signal=emit_model_signal, actor=actor))
    return event, True


_INSERT_EVENT = (
    "INSERT INTO lineage_lineageevent (kind, event_type, event_time, run_id, job_key, producer, body_hash, body,"
    " received_at, received_by, deferred, state, error)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, '')"
    " ON CONFLICT (body_hash) DO NOTHING RETURNING id"
)


def _insert_event(event: LineageEvent) -> bool:
    """Insert the event unless one with the same hash exists → inserted? (one statement, no savepoint:
    this is the hot path of ingestion, and a retry is answered without an error being raised)."""
    ops = connection.ops
    field = LineageEvent._meta.get_field("body")
    params = [
        event.kind,
        event.event_type,
        ops.adapt_datetimefield_value(event.event_time),
        event.run_id,
        event.job_key,
        event.producer,
        event.body_hash,
        field.get_db_prep_save(event.body, connection),
        ops.adapt_datetimefield_value(event.received_at),
        event.received_by,
        event.deferred,
        event.state,
    ]
    with connection.cursor() as cur:
        cur.execute(_INSERT_EVENT, params)
        row = cur.fetchone()
    if row is None:
        return False
    event.pk = row[0]
    event._state.adding = False
    return True


def _apply(kind: str, body: dict, event_time: datetime, ctx: _Ctx) -> None:
    if kind == EventKind.RUN:
        _apply_run_event(body, event_time, ctx)
    elif kind == EventKind.JOB:
        _apply_job_event(body, ctx.actor)
    else:
        _apply_dataset_event(body, ctx.actor)


# ---------------------------------------------------------------------------------------------
# The folder: pending events into the graph, in arrival order, one folder at a time

FOLD_QUEUED = "lineage:fold-queued"
# Any constant: the advisory lock that serialises folders on PostgreSQL (SQLite serialises writers).
_FOLD_LOCK = 0x6C696E65  # "line"
_TRANSIENT = (OperationalError, InterfaceError)  # connection lost, deadlock: retry the batch later
_folding = contextvars.ContextVar("lineage_folding", default=False)


def _fold_batch_size() -> int:
    return int(getattr(settings, "LINEAGE_FOLD_BATCH", 200))


# A poster whose flag was refused (a fold task is queued, not started) skips the flag for this long:
# the cache round trip was a fifth of a deferred POST's CPU. Safe because the task, once started,
# keeps looking for pending events until twice this long has passed (fold_queued).
_REFUSED_SKIP = 0.1
_last_refused = float("-inf")


def request_fold(*, force: bool = False) -> None:
    """Queue one fold task unless one is queued already (a cache flag, cleared by the task when it
    starts): a burst of events costs one message, not one per event. Never fails the caller: the
    event is stored, and the periodic sweep (lineage.fold_pending in the beat schedule) and the next
    read fold it if this message is lost."""
    global _last_refused
    from lineage.tasks import fold_pending as task

    now = time.monotonic()
    if not force and now - _last_refused < _REFUSED_SKIP:
        return
    try:
        if cache.add(FOLD_QUEUED, 1, timeout=int(getattr(settings, "LINEAGE_FOLD_FLAG_SECONDS", 10))):
            task.delay()
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


def fold_pending(*, upto: int | None = None, seconds: float | None = None, size: int | None = None) -> int:
    """Fold pending events into the graph in id order, a batch per transaction → events folded.

    Stops when no pending event is left (at or below ``upto`` when given), or after ``seconds``.
    Each event goes through ``_apply``, the code that sync mode runs within the request. An event the
    graph refuses is marked failed with the reason and never tried again; a transient database error
    rolls the batch back (its events stay pending) and propagates, for the task to retry. A worker
    killed mid-batch loses nothing: the batch's transaction never commits.
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
    token = _batch_nodes.set({})
    try:
        _fold(events, isolate=isolate)
    finally:
        _batch_nodes.reset(token)
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
        ctx = _Ctx(emit_model_signal=emit_model_signal, actor=_poster(event, users))
        if not isolate:
            _apply(event.kind, event.body, event.event_time, ctx)
            applied.append(event.pk)
            continue
        try:
            with transaction.atomic():
                _apply(event.kind, event.body, event.event_time, ctx)
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
    memo = _batch_nodes.get()
    if memo is not None:
        memo.clear()  # the event's writes were rolled back: forget the nodes it created or changed
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
    _graph_changed()
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


# ---------------------------------------------------------------------------------------------
# Nodes


def _dataset_type(facets: dict) -> str:
    facet = facets.get("datasetType") if isinstance(facets, dict) else None
    value = facet.get("datasetType") if isinstance(facet, dict) else None
    return str(value).upper() if value else ""


def _job_node(namespace: str, name: str) -> Node:
    """The job's node, created when new, locked for this transaction: runs of a job apply one by one."""
    key = node_key("job", namespace, name)
    node = _locked_job(key)
    if node is None:
        try:
            with transaction.atomic():
                Node.objects.create(kind=NodeKind.JOB, key=key, namespace=namespace, name=name)
        except IntegrityError:
            pass  # created concurrently; lock the winner's row below
        node = _locked_job(key)
    return node


_JOB_WITH_LATEST = (
    "SELECT {cols}, r.begun_at AS latest_begun FROM lineage_node n"  # noqa: S608 -- constants only
    " LEFT JOIN lineage_run r ON r.id = n.latest_run_id WHERE n.key = %s"
)


def _locked_job(key: str) -> Node | None:
    """The job row, locked, with its latest run's begun_at (``latest_begun``) read in the same
    statement: every run event needs both, and this is the hot path of ingestion (plain SQL: the
    ORM spent longer compiling this join than the database answering it)."""
    cols = ", ".join(f"n.{f.column}" for f in Node._meta.concrete_fields)
    # Lock the job row only (the run is on the nullable side of the join); SQLite serialises writes.
    lock = " FOR UPDATE OF n" if connection.vendor == "postgresql" else ""
    node = next(iter(Node.objects.raw(_JOB_WITH_LATEST.format(cols=cols) + lock, [key])), None)
    if node is not None and node.latest_begun is not None:
        begun = node.latest_begun  # SQLite: naive (UTC), as text or datetime
        begun = parse_datetime(begun) if isinstance(begun, str) else begun
        node.latest_begun = begun.replace(tzinfo=UTC) if begun is not None and begun.tzinfo is None else begun
    return node


_RUN_WITH_IO = (
    "SELECT {cols}, io.id AS io_id, io.node_id AS io_node, io.direction AS io_direction,"  # noqa: S608
    " io.version_label AS io_label, io.version_number AS io_number, io.facets AS io_facets"
    " FROM lineage_run r LEFT JOIN lineage_runio io ON io.run_id = r.id WHERE r.run_id = %s"
)


def _locked_run(run_id: str) -> tuple[Run | None, dict[tuple[int, str], RunIO]]:
    """A run (locked) and what it already read and wrote, in one statement → (run or None, {(node
    id, direction): RunIO})."""
    cols = ", ".join(f"r.{f.column}" for f in Run._meta.concrete_fields)
    sql = _RUN_WITH_IO.format(cols=cols) + (" FOR UPDATE OF r" if connection.vendor == "postgresql" else "")
    run = None
    existing: dict[tuple[int, str], RunIO] = {}
    for row in Run.objects.raw(sql, [run_id]):
        run = run or row
        if row.io_id is None:
            continue
        facets = json.loads(row.io_facets) if isinstance(row.io_facets, str) else row.io_facets
        io = RunIO(
            id=row.io_id,
            run_id=run.pk,
            node_id=row.io_node,
            direction=row.io_direction,
            version_label=row.io_label,
            version_number=row.io_number,
            facets=facets or {},
        )
        io._state.adding = False
        existing[(io.node_id, io.direction)] = io
    return run, existing


def _resolve_datasets(specs: list[tuple[str, str, dict]], actor=None) -> dict[tuple[str, str], Node]:
    """Nodes for (namespace, name, facets) datasets, registering unknown ones in the catalog.

    One namespace + name is ONE node, whatever the event says of its type: a MODEL node is found
    by consumers that name it without the datasetType facet, and a dataset node that an event
    declares MODEL becomes the model node (same id, so its edges and history stay). One query finds
    the known nodes; the new ones are registered in the catalog and inserted in bulk, in key order
    (two events naming the same new datasets never wait on each other crosswise).
    """
    wanted: dict[tuple[str, str], bool] = {}
    for ns, name, facets in specs:
        wanted[(ns, name)] = wanted.get((ns, name), False) or _dataset_type(facets) == "MODEL"
    if not wanted:
        return {}
    keys = [node_key(k, ns, name) for ns, name in wanted for k in ("dataset", "model")]
    found = _known_nodes(keys)
    out: dict[tuple[str, str], Node] = {}
    new: list[tuple[str, str, bool]] = []
    unlinked: list[Node] = []
    for (ns, name), is_model in sorted(wanted.items()):
        node = found.get(node_key("model", ns, name))
        if node is None:
            node = found.get(node_key("dataset", ns, name))
            if node is not None and is_model and permissions.may_declare_model(node, actor):
                _remember(node.key, None)
                node.kind, node.key = NodeKind.MODEL, node_key("model", ns, name)
                Node.objects.filter(pk=node.pk).update(kind=node.kind, key=node.key)
                _remember(node.key, node)
                _graph_changed()
        if node is None:
            new.append((ns, name, is_model))
            continue
        if node.kind == NodeKind.DATASET and node.dataset_id is None:
            unlinked.append(node)
        out[(ns, name)] = node
    catalog_pairs = [(ns, name) for ns, name, is_model in new if not is_model]
    catalog_pairs += [(n.namespace, n.name) for n in unlinked]
    datasets = (
        catalog_services.ensure_datasets(catalog_pairs, via="lineage", actor=actor) if catalog_pairs else {}
    )
    for node in unlinked:
        ds = datasets.get((node.namespace, node.name))
        if ds is not None:
            node.dataset_id = ds.pk
            Node.objects.filter(pk=node.pk).update(dataset_id=ds.pk)
            _graph_changed()  # a node of the graph now stands for a catalog dataset
    if new:
        rows = []
        for ns, name, is_model in new:
            ds = None if is_model else datasets.get((ns, name))
            rows.append(
                Node(
                    kind=NodeKind.MODEL if is_model else NodeKind.DATASET,
                    key=node_key("model" if is_model else "dataset", ns, name),
                    namespace=ns,
                    name=name,
                    dataset_id=ds.pk if ds is not None else None,
                )
            )
        # Concurrent events may insert the same nodes: conflicts are skipped, then all are read back.
        Node.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
        new_keys = [r.key for r in rows]
        by_key: dict[str, Node] = {}
        for i in range(0, len(new_keys), 900):
            by_key.update((n.key, n) for n in Node.objects.filter(key__in=new_keys[i : i + 900]))
        for row in rows:
            node = by_key[row.key]
            # Who registered it (not a column): their event's ownership facet may name its owner.
            node.registered_by = getattr(actor, "username", None)
            out[(row.namespace, row.name)] = node
            _remember(row.key, node)
    return out


# Within one fold batch: the dataset and model nodes already looked up, by key (None: known not to
# exist). Node rows are written only through this module, which keeps the objects (facets, kind,
# catalog link) and this map up to date, so a batch naming the same datasets again reads them once.
_batch_nodes: contextvars.ContextVar[dict[str, Node | None] | None] = contextvars.ContextVar(
    "lineage_batch_nodes", default=None
)


def _known_nodes(keys: list[str]) -> dict[str, Node]:
    """{key: node} of those keys that exist (asking the database only for keys this batch has not
    looked up yet)."""
    memo = _batch_nodes.get()
    ask = keys if memo is None else [k for k in keys if k not in memo]
    found: dict[str, Node] = {}
    for i in range(0, len(ask), 900):
        found.update((n.key, n) for n in Node.objects.filter(key__in=ask[i : i + 900]))
    if memo is None:
        return found
    for key in ask:
        memo[key] = found.get(key)
    return {k: node for k in keys if (node := memo[k]) is not None}


def _remember(key: str, node: Node | None) -> None:
    memo = _batch_nodes.get()
    if memo is not None:
        memo[key] = node


# ---------------------------------------------------------------------------------------------
# Facets


def _schema_columns(facet: dict) -> list[dict[str, Any]] | None:
    fields = facet.get("fields") if isinstance(facet, dict) else None
    if not isinstance(fields, list):
        return None
    cols = []
    for f in fields:
        if isinstance(f, dict) and isinstance(f.get("name"), str) and f["name"]:
            cols.append(
                {
                    "name": f["name"],
                    "type": str(f.get("type") or "")[:50],
                    "description": str(f.get("description") or ""),
                }
            )
    return cols


def _apply_dataset_facets(node: Node, facets: dict, actor=None) -> None:
    """Keep the latest facets on the node; push schema, ownership and documentation to the catalog.

    Only facets that changed since the node last saw them are applied, so a steady stream of events
    about the same dataset costs one comparison, not a catalog write each.
    """
    if not isinstance(facets, dict) or not facets:
        return
    changed = {k: v for k, v in facets.items() if node.facets.get(k) != v}
    if not changed:
        return
    merged = {**node.facets, **changed}
    for name, value in changed.items():
        if isinstance(value, dict) and value.get("_deleted") is True:
            merged.pop(name, None)
    node.facets = merged
    update: dict[str, Any] = {"facets": merged}
    doc = changed.get("documentation")
    if isinstance(doc, dict) and isinstance(doc.get("description"), str) and not node.description:
        node.description = doc["description"]
        update["description"] = node.description
    if node.kind == NodeKind.MODEL and "ownership" in changed:
        node.owners = permissions.owner_usernames(changed["ownership"])
        update["owners"] = node.owners
    Node.objects.filter(pk=node.pk).update(**update)
    if node.kind != NodeKind.DATASET or node.dataset_id is None:
        return
    dataset = None
    cols = _schema_columns(changed.get("schema"))
    if cols is not None:
        dataset = catalog_selectors.resolve_dataset_ref(node.dataset_id)
        if permissions.may_rewrite_dataset(dataset, actor):
            catalog_services.set_columns_from_schema(dataset=dataset, columns=cols)
    data: dict[str, Any] = {}
    if "ownership" in changed or isinstance(doc, dict):
        dataset = dataset or catalog_selectors.resolve_dataset_ref(node.dataset_id)
        if "ownership" in changed and dataset.owner_id is None:
            names = permissions.owner_usernames(changed["ownership"])
            mine = getattr(node, "registered_by", None) == getattr(actor, "username", None)
            names = [n for n in names if permissions.may_name_owner(dataset, actor, n, registered_now=mine)]
            User = get_user_model()
            known = set(User.objects.filter(username__in=names).values_list("username", flat=True))
            first = next((n for n in names if n in known), None)
            if first:
                data["owner"] = first
            # Unknown owners stay in the facet, shown beside the catalog's (empty) owner.
        if (
            isinstance(doc, dict)
            and isinstance(doc.get("description"), str)
            and not dataset.description
            and permissions.may_rewrite_dataset(dataset, actor)  # not a curated dataset's (QA G24)
        ):
            data["description"] = doc["description"]
    if data:
        # Checked above, per facet; the poster is who the audit names.
        catalog_services.update_dataset(actor=actor, dataset=dataset, check=False, via="lineage", **data)


def _match_version(node: Node, facets: dict) -> tuple[str, int | None]:
    """(label from the version facet, catalog version number it matches or None)."""
    facet = facets.get("version") if isinstance(facets, dict) else None
    label = facet.get("datasetVersion") if isinstance(facet, dict) else None
    if label is None or label == "":
        return "", None
    label = str(label)[:255]
    if node.kind != NodeKind.DATASET or node.dataset_id is None:
        return label, None
    dataset = catalog_selectors.resolve_dataset_ref(node.dataset_id)
    version = None
    if label.isdigit() and len(label) < 10:
        version = catalog_selectors.version_of(dataset, int(label))
    elif _SHA256.match(label) or label.startswith("sha256:"):
        version = catalog_selectors.version_by_checksum(dataset, label.removeprefix("sha256:"))
    return label, version.number if version is not None else None


# ---------------------------------------------------------------------------------------------
# Runs and edges


def _run_facet_time(facets: dict, name: str, key: str) -> datetime | None:
    facet = facets.get(name) if isinstance(facets, dict) else None
    value = facet.get(key) if isinstance(facet, dict) else None
    try:
        return parse_event_time(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _fold_run(run: Run, event_type: str, event_time: datetime, facets: dict) -> None:
    """Fold one event into the run's state and times, whatever the order events arrive in."""
    if event_type == "START":
        run.started_at = min(run.started_at, event_time) if run.started_at else event_time
        run.begun_at = run.started_at
    else:
        run.begun_at = min(run.begun_at, event_time) if run.started_at is None else run.begun_at
    terminal = _TERMINAL.get(event_type)
    if terminal is not None:
        if run.state_time is None or run.state not in _TERMINAL.values() or event_time >= run.state_time:
            run.state, run.state_time, run.ended_at = terminal, event_time, event_time
    elif event_type in ("START", "RUNNING") and run.state not in _TERMINAL.values():
        if run.state_time is None or event_time >= run.state_time:
            run.state, run.state_time = RunState.RUNNING, event_time
    if isinstance(facets, dict) and facets:
        run.facets = {**run.facets, **facets}
        run.nominal_start_time = _run_facet_time(facets, "nominalTime", "nominalStartTime") or (
            run.nominal_start_time
        )
        run.nominal_end_time = (
            _run_facet_time(facets, "nominalTime", "nominalEndTime") or run.nominal_end_time
        )


def _dataset_specs(body: dict) -> list[tuple[str, str, str, dict, dict]]:
    """(direction, namespace, name, dataset facets, input/output facets) of an event's datasets."""
    out = []
    for side, direction, extra in (
        ("inputs", Direction.INPUT, "inputFacets"),
        ("outputs", Direction.OUTPUT, "outputFacets"),
    ):
        for ds in body.get(side) or []:
            out.append((direction, ds["namespace"], ds["name"], ds.get("facets") or {}, ds.get(extra) or {}))
    return out


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _column_lineage_refs(specs) -> list[tuple[str, str, dict]]:
    refs = []
    for direction, _ns, _name, facets, _extra in specs:
        cl = facets.get("columnLineage") if direction == Direction.OUTPUT else None
        fields = cl.get("fields") if isinstance(cl, dict) else None
        for spec in fields.values() if isinstance(fields, dict) else []:
            for inp in _as_list(spec.get("inputFields")) if isinstance(spec, dict) else []:
                if (
                    isinstance(inp, dict)
                    and isinstance(inp.get("namespace"), str)
                    and isinstance(inp.get("name"), str)
                ):
                    if (
                        inp["namespace"].strip()
                        and inp["name"].strip()
                        and len(inp["namespace"]) <= 255
                        and len(inp["name"]) <= 255
                    ):
                        refs.append((inp["namespace"], inp["name"], {}))
    return refs


def _apply_run_event(body: dict, event_time: datetime, ctx: _Ctx) -> None:
    job = _job_node(body["job"]["namespace"], body["job"]["name"])
    _apply_job_facets(job, body["job"].get("facets") or {})
    run_id = body["run"]["runId"].lower()
    event_type = body.get("eventType") or ""
    run, existing = _locked_run(run_id)
    if run is None:
        run = Run(run_id=run_id, job=job, begun_at=event_time)
    elif run.job_id != job.pk:
        raise ValidationError({"run.runId": [f"This run belongs to another job ({run.job.key})."]})
    _fold_run(run, event_type, event_time, body["run"].get("facets") or {})
    run.save()

    specs = _dataset_specs(body)
    nodes = _resolve_datasets(
        [(ns, name, facets) for _d, ns, name, facets, _x in specs] + _column_lineage_refs(specs), ctx.actor
    )
    io_changed = False
    created: list[RunIO] = []
    # Node rows (facets) and catalog rows are written in node-key order: two events naming the same
    # datasets in different orders never wait on each other crosswise (deadlock).
    for direction, ns, name, facets, extra in sorted(specs, key=lambda sp: nodes[(sp[1], sp[2])].key):
        node = nodes[(ns, name)]
        _apply_dataset_facets(node, facets, ctx.actor)
        label, number = _match_version(node, facets)
        merged = {**facets, **extra}
        io = existing.get((node.pk, direction))
        if io is None:
            io = RunIO(
                run=run,
                node=node,
                direction=direction,
                version_label=label,
                version_number=number,
                facets=merged,
            )
            created.append(io)
            existing[(node.pk, direction)] = io
            io_changed = True
        elif (label and (label, number) != (io.version_label, io.version_number)) or merged != io.facets:
            io.version_label, io.version_number = (
                label or io.version_label,
                number if label else io.version_number,
            )
            io.facets = {**io.facets, **merged}
            if io.pk is not None:  # else named twice in this event: inserted below, merged (QA G8)
                io.save(update_fields=["version_label", "version_number", "facets"])
        if direction == Direction.OUTPUT and node.kind == NodeKind.MODEL and event_type in ("COMPLETE", ""):
            ctx.model_outputs.append((node, label or None))

    if created:
        RunIO.objects.bulk_create(created)

    if job.latest_run_id is None or job.latest_run_id == run.pk:
        is_latest = True
    else:
        latest_begun = getattr(job, "latest_begun", None)
        is_latest = latest_begun is None or (run.begun_at, run.pk) >= (latest_begun, job.latest_run_id)
    if is_latest:
        became_latest = job.latest_run_id != run.pk
        if became_latest:
            Node.objects.filter(pk=job.pk).update(latest_run=run)
            job.latest_run = run
        had_column_edges = True
        if became_latest or io_changed:
            had_column_edges = _set_current_edges(
                job, [(io.node_id, d) for (_n, d), io in existing.items()], ctx.actor
            )
        _set_column_edges(job, specs, nodes, replace_all=became_latest and had_column_edges)

    if ctx.model_outputs and ctx.emit_model_signal:
        _send_model_signals(run, job, ctx.model_outputs, actor=ctx.actor)


def _send_model_signals(run: Run, job: Node, outputs: list[tuple[Node, str | None]], *, actor=None) -> None:
    inputs = []
    for io in run.io.filter(direction=Direction.INPUT).select_related("node"):
        if io.node.dataset_id is not None:
            inputs.append((io.node.dataset_id, io.version_number))
    for node, version in outputs:
        kwargs = {
            "namespace": node.namespace,
            "name": node.name,
            "version": version,
            "run_id": run.run_id,
            "job": job.key,
            "inputs": list(inputs),
            "actor": actor,  # who posted the event
        }
        transaction.on_commit(lambda kw=kwargs: signals.model_output_recorded.send(sender=Node, **kw))


_JOB_EDGES = (
    "SELECT src, dst FROM lineage_edge WHERE src = %s OR dst = %s"
    # One more row (NULL, NULL) when the job has column lineage: a run that becomes the latest
    # replaces it, and most jobs have none (this saves a DELETE per run for them).
    " UNION ALL SELECT NULL, NULL WHERE EXISTS (SELECT 1 FROM lineage_columnedge WHERE job_id = %s)"
)


def _set_current_edges(job: Node, io: list[tuple[int, str]], actor=None) -> bool:
    """Make the job's current edges those of the given run inputs/outputs (applying only the diff)
    → whether the job had column lineage edges. Edges the poster may not take away stay
    (lineage.permissions.guarded_edges)."""
    wanted = {(n, job.pk) if d == Direction.INPUT else (job.pk, n) for n, d in io}
    with connection.cursor() as cur:
        cur.execute(_JOB_EDGES, [job.pk, job.pk, job.pk])
        rows = cur.fetchall()
    have = {r for r in rows if r[0] is not None}
    has_column_edges = len(have) != len(rows)
    gone = have - wanted
    kept = permissions.guarded_edges(job, gone, actor)
    if kept:
        log.warning(
            "lineage: %s posted a run of %s without %d of its edges; they stay: data upstream is "
            "confidential or restricted and only its owners, stewards or staff take them away",
            getattr(actor, "username", None) or "an unknown user",
            job.key,
            len(kept),
        )
        gone = gone - kept
    if gone:
        cond = Q()
        for src, dst in gone:
            cond |= Q(src=src, dst=dst)
        Edge.objects.filter(cond).delete()
    new = wanted - have
    if new:
        Edge.objects.bulk_create([Edge(src=s, dst=d) for s, d in sorted(new)], ignore_conflicts=True)
    if gone or new:
        _graph_changed()
    return has_column_edges


def _graph_changed() -> None:
    """Tell subscribers (governance's cached clearance answers) once this transaction commits."""
    transaction.on_commit(lambda: signals.graph_changed.send(sender=Node), robust=True)


def _set_column_edges(job: Node, specs, nodes: dict, *, replace_all: bool) -> None:
    """Current column lineage of the job: each output's columnLineage facet replaces what it said before."""
    if replace_all:
        ColumnEdge.objects.filter(job=job).delete()
    rows = []
    for direction, ns, name, facets, _extra in specs:
        cl = facets.get("columnLineage") if direction == Direction.OUTPUT else None
        fields = cl.get("fields") if isinstance(cl, dict) else None
        if not isinstance(fields, dict):
            continue
        out_node = nodes[(ns, name)]
        ColumnEdge.objects.filter(job=job, out_node=out_node).delete()
        for out_field, spec in fields.items():
            if not isinstance(spec, dict):
                continue
            for inp in _as_list(spec.get("inputFields")):
                in_node = (
                    nodes.get((inp.get("namespace"), inp.get("name"))) if isinstance(inp, dict) else None
                )
                if in_node is None or not isinstance(inp.get("field"), str):
                    continue
                transformations = _as_list(inp.get("transformations"))
                first = transformations[0] if transformations and isinstance(transformations[0], dict) else {}
                rows.append(
                    ColumnEdge(
                        job=job,
                        out_node=out_node,
                        out_field=str(out_field)[:1024],
                        in_node=in_node,
                        in_field=inp["field"][:1024],
                        transformation_type=str(first.get("type") or spec.get("transformationType") or "")[
                            :50
                        ],
                        transformation_subtype=str(first.get("subtype") or "")[:50],
                        transformation_description=str(
                            first.get("description") or spec.get("transformationDescription") or ""
                        ),
                    )
                )
    if rows:
        ColumnEdge.objects.bulk_create(rows)


def _apply_job_facets(job: Node, facets: dict) -> None:
    if not isinstance(facets, dict) or not facets:
        return
    changed = {k: v for k, v in facets.items() if job.facets.get(k) != v}
    if not changed:
        return
    job.facets = {**job.facets, **changed}
    update: dict[str, Any] = {"facets": job.facets}
    doc = changed.get("documentation")
    if isinstance(doc, dict) and isinstance(doc.get("description"), str):
        job.description = doc["description"]
        update["description"] = job.description
    Node.objects.filter(pk=job.pk).update(**update)


def _apply_job_event(body: dict, actor=None) -> None:
    """A JobEvent declares a job's metadata and IO; the IO draws edges only while it has no run."""
    job = _job_node(body["job"]["namespace"], body["job"]["name"])
    _apply_job_facets(job, body["job"].get("facets") or {})
    specs = _dataset_specs(body)
    nodes = _resolve_datasets(
        [(ns, name, facets) for _d, ns, name, facets, _x in specs] + _column_lineage_refs(specs), actor
    )
    for _d, ns, name, facets, _x in sorted(specs, key=lambda sp: nodes[(sp[1], sp[2])].key):
        _apply_dataset_facets(nodes[(ns, name)], facets, actor)
    if job.latest_run_id is None and specs:
        _set_current_edges(job, [(nodes[(ns, name)].pk, d) for d, ns, name, _f, _x in specs], actor)
        _set_column_edges(job, specs, nodes, replace_all=True)


def _apply_dataset_event(body: dict, actor=None) -> None:
    ds = body["dataset"]
    facets = ds.get("facets") or {}
    node = _resolve_datasets([(ds["namespace"], ds["name"], facets)], actor)[(ds["namespace"], ds["name"])]
    _apply_dataset_facets(node, facets, actor)


# ---------------------------------------------------------------------------------------------
# Training runs recorded by Gouvernail itself (POST /api/v1/models/)


def record_training_run(
    *,
    model_namespace: str,
    model_name: str,
    model_version: str,
    inputs: list,
    run_id: str | None,
    actor,
) -> str:
    """Record a run of ``train:<model_name>`` that read the datasets and wrote the MODEL → model node id.

    The run is written as an ordinary OpenLineage COMPLETE event (so the record can rebuild it) and
    is idempotent per run_id; without one, the run id is derived from the model and version, so the
    same registration twice is one run. No model_output_recorded signal: the caller registers the model.
    """
    if run_id is None:
        run_id = str(
            uuid.uuid5(uuid.NAMESPACE_URL, f"gouvernail:model:{model_namespace}:{model_name}:{model_version}")
        )
    else:
        try:
            run_id = str(uuid.UUID(str(run_id)))
        except ValueError:
            run_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"gouvernail:run:{run_id}"))
    key = node_key("model", model_namespace, model_name)
    job_name = f"train:{model_name}"
    catch_up()  # the runs read here, and the graph this run joins, include every event posted so far
    existing = Run.objects.filter(run_id=run_id).select_related("job").first()
    parent = None
    if existing is not None and existing.job.key != node_key("job", model_namespace, job_name):
        # The pipeline's own run (posted through OpenLineage), of another job (QA G9): this training
        # run is recorded as its child, under a run id of its own.
        parent = {
            "run": {"runId": run_id},
            "job": {"namespace": existing.job.namespace, "name": existing.job.name},
        }
        run_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"gouvernail:model:{key}:{model_version}:{run_id}"))
        existing = Run.objects.filter(run_id=run_id).first()
    if (
        existing is not None
        and existing.state == RunState.COMPLETED
        and Node.objects.filter(key=key).exists()
    ):
        return key  # this registration was recorded before
    owner = getattr(actor, "username", "") or ""
    model_facets: dict[str, Any] = {
        "datasetType": {"_producer": PRODUCER, "_schemaURL": PRODUCER, "datasetType": "MODEL"},
        "version": {"_producer": PRODUCER, "_schemaURL": PRODUCER, "datasetVersion": str(model_version)},
    }
    if owner:
        model_facets["ownership"] = {
            "_producer": PRODUCER,
            "_schemaURL": PRODUCER,
            "owners": [{"name": f"user:{owner}", "type": "MAINTAINER"}],
        }
    input_specs = []
    for dataset, version in inputs:
        spec: dict[str, Any] = {"namespace": dataset.namespace, "name": dataset.name}
        if version is not None:
            spec["facets"] = {
                "version": {
                    "_producer": PRODUCER,
                    "_schemaURL": PRODUCER,
                    "datasetVersion": str(version.number),
                }
            }
        input_specs.append(spec)
    body = {
        "eventType": "COMPLETE",
        "eventTime": datetime.now(UTC).isoformat(),
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {
            "runId": run_id,
            **(
                {"facets": {"parent": {"_producer": PRODUCER, "_schemaURL": PRODUCER, **parent}}}
                if parent
                else {}
            ),
        },
        "job": {"namespace": model_namespace, "name": job_name},
        "inputs": input_specs,
        "outputs": [{"namespace": model_namespace, "name": model_name, "facets": model_facets}],
    }
    with transaction.atomic():
        # Applied now whatever LINEAGE_APPLY says: the caller registers the model on this node.
        ingest_event(body=body, actor=actor, emit_model_signal=False, apply="sync")
        node = Node.objects.get(key=key)
        if owner and owner not in node.owners:
            Node.objects.filter(pk=node.pk).update(owners=[*node.owners, owner])
    return key
