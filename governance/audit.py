"""The audit chain: append a record, verify the chain.

Each record's hash is sha256 over the previous record's hash and the canonical JSON of its own
fields. Appending takes a lock so that exactly one writer extends the chain at a time: on
PostgreSQL a transaction-scoped advisory lock, on SQLite the database's own write lock (settings
open every transaction IMMEDIATE).
"""

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from config.commit_hooks import on_commit_once
from governance import clearance_cache
from governance.models import AuditRecord, AuditSubject, Via

GENESIS = "0" * 64
# An arbitrary constant naming the chain's advisory lock on PostgreSQL ("GVAUDIT" in ASCII).
_LOCK_KEY = 0x4756415544495400 >> 8


def _plain(value: Any) -> Any:
    """JSON values exactly as the database will give them back, so the hash can be recomputed."""
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


def canonical(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def _fields(record: AuditRecord) -> dict[str, Any]:
    return {
        "seq": record.seq,
        "at": record.at.isoformat(),
        "actor_id": record.actor_id,
        "actor": record.actor,
        "via": record.via,
        "action": record.action,
        "object_type": record.object_type,
        "object_id": record.object_id,
        "object_urns": record.object_urns,
        "before": record.before,
        "after": record.after,
    }


def compute_hash(record: AuditRecord, prev_hash: str) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical(_fields(record))).hexdigest()


def _lock_chain() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])


@dataclass(frozen=True)
class Entry:
    """One record to append (``record_many``): who changed what, through which interface, before and
    after."""

    actor: Any
    via: str
    action: str
    object_type: str
    object_id: Any
    object_urns: Iterable[str] = ()
    before: Any = None
    after: Any = None


@transaction.atomic
def record(
    *,
    actor,
    via: str,
    action: str,
    object_type: str,
    object_id: Any,
    object_urns: Iterable[str] = (),
    before: Any = None,
    after: Any = None,
) -> AuditRecord:
    """Append one audit record to the chain, inside the caller's transaction."""
    entry = Entry(actor, via, action, object_type, object_id, object_urns, before, after)
    return record_many([entry])[0]


@transaction.atomic
def record_many(entries: list[Entry]) -> list[AuditRecord]:
    """Append records to the chain in this order, inside the caller's transaction: one lock and one
    read of the chain's end for all of them (a sync storing fifty model versions appends fifty)."""
    if not entries:
        return []
    _lock_chain()
    last = AuditRecord.objects.order_by("-seq").values_list("seq", "hash").first()
    seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS)
    records = []
    for entry in entries:
        rec = _new_record(entry, seq, prev_hash)
        records.append(rec)
        seq, prev_hash = seq + 1, rec.hash
    AuditRecord.objects.bulk_create(records)
    subjects = []
    for rec in records:
        keys = [f"{rec.object_type}:{rec.object_id}", *rec.object_urns]
        subjects.extend(AuditSubject(record=rec, key=k[:600]) for k in dict.fromkeys(keys))
    AuditSubject.objects.bulk_create(subjects)
    # Every audited change is governance state that a cached clearance answer may rest on.
    on_commit_once(clearance_cache.bump)
    return records


def _new_record(entry: Entry, seq: int, prev_hash: str) -> AuditRecord:
    actor = entry.actor
    authenticated = actor is not None and getattr(actor, "is_authenticated", False)
    rec = AuditRecord(
        seq=seq,
        # Microseconds survive both databases; the hash is computed over the stored value.
        at=timezone.now(),
        actor_id=actor.pk if authenticated else None,
        actor=actor.get_username() if authenticated else "",
        via=entry.via if entry.via in Via.values else Via.SYSTEM,
        action=entry.action,
        object_type=entry.object_type,
        object_id=str(entry.object_id),
        object_urns=list(dict.fromkeys(u for u in entry.object_urns if u)),
        before=_plain(entry.before),
        after=_plain(entry.after),
        prev_hash=prev_hash,
    )
    rec.hash = compute_hash(rec, prev_hash)
    return rec


@dataclass
class Break:
    """Where the chain stops being trustworthy."""

    seq: int
    record_id: int
    reason: str


def subject_keys(rec: AuditRecord) -> set[str]:
    """The index rows a record must have: derived from hashed fields, so the index is checked too."""
    return {k[:600] for k in dict.fromkeys([f"{rec.object_type}:{rec.object_id}", *rec.object_urns])}


def iter_breaks(batch: int = 2000) -> Iterator[Break]:
    """Walk the chain in order and yield every inconsistency (the first is the one that matters)."""
    prev_hash, expected_seq = GENESIS, 1
    last_seq = 0
    while True:
        rows = list(AuditRecord.objects.filter(seq__gt=last_seq).order_by("seq")[:batch])
        if not rows:
            return
        indexed: dict[int, set[str]] = {}
        for record_id, key in AuditSubject.objects.filter(record__in=rows).values_list("record_id", "key"):
            indexed.setdefault(record_id, set()).add(key)
        for rec in rows:
            if indexed.get(rec.pk, set()) != subject_keys(rec):
                yield Break(rec.seq, rec.pk, "its subject index rows do not match its hashed fields")
            if rec.seq != expected_seq:
                yield Break(
                    rec.seq, rec.pk, f"sequence jumps from {expected_seq - 1} to {rec.seq}: records removed"
                )
            if rec.prev_hash != prev_hash:
                yield Break(rec.seq, rec.pk, "prev_hash does not match the hash of the record before it")
            if compute_hash(rec, rec.prev_hash) != rec.hash:
                yield Break(rec.seq, rec.pk, "its content does not match its hash: the record was altered")
            prev_hash, expected_seq, last_seq = rec.hash, rec.seq + 1, rec.seq


def first_break() -> Break | None:
    return next(iter_breaks(), None)
