"""Taking one OpenLineage event in: validate it, store it as received, and apply it to the graph now
(LINEAGE_APPLY=sync) or leave it pending for the folder (``deferred``, lineage.fold).

A refused event leaves nothing behind, an accepted one is never lost, and the same event sent twice
is stored once (its canonical hash). Datasets are resolved or registered only through
``catalog.services.ensure_datasets``.
"""

import hashlib
import json
import re
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from lineage import fold
from lineage.apply import EventContext, apply_event
from lineage.models import EventKind, EventState, LineageEvent, Node
from lineage.nodes import node_key
from lineage.spec import parse_event_time, validate_event

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


def _sync_max_new_datasets() -> int:
    # New datasets are registered in bulk (catalog.services.ensure_datasets), each with its audit
    # record: beyond this many, registering them takes longer than a client should wait.
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


def _prepared(body: Any, actor, apply: str | None) -> LineageEvent:
    """The event row for a body, validated (ValidationError naming the offending field), not stored."""
    digest = canonical_hash(body) if isinstance(body, dict) else ""
    kind = validate_event(body, max_datasets=_max_datasets())
    event_time = parse_event_time(body["eventTime"])
    deferred = (apply or fold.apply_mode()) == "deferred" or (
        _unknown_count(_event_dataset_pairs(kind, body)) > _sync_max_new_datasets()
    )
    return LineageEvent(
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


def ingest_event(
    *, body: Any, actor=None, emit_model_signal: bool = True, apply: str | None = None
) -> tuple[LineageEvent, bool]:
    """Validate, store and apply one OpenLineage event → (event row, created).

    created is False when the very same event was already stored (a client retry): nothing changes.
    Raises ValidationError naming the offending field (→ 400) and stores nothing then.

    ``apply`` (default: LINEAGE_APPLY) says when the event reaches the graph: ``sync`` within this
    call, ``deferred`` by the folder (lineage.fold: a worker queued after commit, or the next
    lineage read), the event being stored pending. An event naming more new datasets than
    LINEAGE_SYNC_MAX_NEW_DATASETS is deferred in either mode: registering thousands of catalog
    datasets takes longer than a client waits, and the stored event is the record either way.
    """
    event = _prepared(body, actor, apply)
    if event.deferred:
        return _store_deferred(event)
    with transaction.atomic():
        if not _insert_event(event):
            # The same event was stored before (a retry), or committed first by a concurrent post.
            return LineageEvent.objects.get(body_hash=event.body_hash), False
        apply_event(
            event.kind, body, event.event_time, EventContext(emit_model_signal=emit_model_signal, actor=actor)
        )
    return event, True


def ingest_events(
    bodies: list[Any], *, actor=None, emit_model_signal: bool = True, apply: str | None = None
) -> list[tuple[LineageEvent, bool]]:
    """Batch form of ingest_event → (event row, created) for each body, in order.

    Every body is validated first: one refused raises ValidationError and nothing is stored. Those
    applied now are stored in one statement and applied in order, the same as one by one, without a
    savepoint each: a failure raises and rolls back the whole batch."""
    events = [_prepared(body, actor, apply) for body in bodies]
    out: list[tuple[LineageEvent, bool]] = []
    with transaction.atomic():
        stored = _insert_events([e for e in events if not e.deferred])
        for event in events:
            if event.deferred:
                out.append(_store_deferred(event))
            elif stored.get(event.body_hash) is event:
                apply_event(
                    event.kind,
                    event.body,
                    event.event_time,
                    EventContext(emit_model_signal=emit_model_signal, actor=actor),
                )
                out.append((event, True))
            else:
                out.append((LineageEvent.objects.get(body_hash=event.body_hash), False))
    return out


def _store_deferred(event: LineageEvent) -> tuple[LineageEvent, bool]:
    # One INSERT, atomic on its own: no transaction block to open and commit around it.
    if not _insert_event(event):
        return LineageEvent.objects.get(body_hash=event.body_hash), False
    transaction.on_commit(fold.request_fold)  # at once, unless the caller holds a transaction
    return event, True


_INSERT_EVENTS = (
    "INSERT INTO lineage_lineageevent (kind, event_type, event_time, run_id, job_key, producer, body_hash, body,"
    " received_at, received_by, deferred, state, error) VALUES {rows}"
    " ON CONFLICT (body_hash) DO NOTHING RETURNING id, body_hash"
)
_EVENT_ROW = "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, '')"
_INSERT_BATCH = 50  # rows per statement (SQLite takes at most 999 parameters in older builds)


def _insert_event(event: LineageEvent) -> bool:
    """Insert the event unless one with the same hash exists → inserted? (one statement, no savepoint:
    this is the hot path of ingestion, and a retry is answered without an error being raised)."""
    return bool(_insert_events([event]))


def _insert_events(events: list[LineageEvent]) -> dict[str, LineageEvent]:
    """Insert the events, skipping those whose hash is stored already → {hash: the event inserted}
    (of two with the same hash, the first)."""
    ops = connection.ops
    field = LineageEvent._meta.get_field("body")
    inserted: dict[str, LineageEvent] = {}
    for i in range(0, len(events), _INSERT_BATCH):
        by_hash: dict[str, LineageEvent] = {}
        for event in events[i : i + _INSERT_BATCH]:
            if event.body_hash not in inserted:
                by_hash.setdefault(event.body_hash, event)
        if not by_hash:
            continue
        params: list[Any] = []
        for event in by_hash.values():
            params += [
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
            cur.execute(_INSERT_EVENTS.format(rows=", ".join([_EVENT_ROW] * len(by_hash))), params)
            rows = cur.fetchall()
        for pk, digest in rows:
            event = by_hash[digest]
            event.pk = pk
            event._state.adding = False
            inserted[digest] = event
    return inserted
