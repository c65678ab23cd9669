"""The audit chain's anchor outside the database: a signed record of its head, kept where the
database's users cannot rewrite it.

The hash chain (governance/audit.py) shows any record altered or removed in the middle, but on its
own it cannot show that the newest records were removed, or that the whole table was emptied and
refilled: a shorter chain is still a valid chain. So the head of the chain (its sequence number and
hash) is written, signed with HMAC-SHA256 under a key that is not in the database
(AUDIT_ANCHOR_KEY, or one derived from SECRET_KEY), as one JSON line appended to
AUDIT_ANCHOR_PATH, on a schedule (beat, AUDIT_ANCHOR_SECONDS) and by ``manage.py audit_anchor``.
``manage.py verify_audit`` then checks that the chain still holds the anchored record with the
anchored hash. What it protects against and what it does not: docs/operations.md, "Audit".
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from governance.models import AuditRecord


class AnchorError(Exception):
    """The anchor file cannot be trusted: unreadable, or a line whose signature does not match."""


@dataclass(frozen=True)
class Anchor:
    seq: int
    hash: str
    at: str

    def payload(self) -> bytes:
        return json.dumps({"seq": self.seq, "hash": self.hash, "at": self.at}, sort_keys=True).encode()


def _key() -> bytes:
    key = settings.AUDIT_ANCHOR_KEY
    if key:
        return key.encode()
    return hashlib.sha256(b"gouvernail-audit-anchor:" + settings.SECRET_KEY.encode()).digest()


def sign(anchor: Anchor) -> str:
    return hmac.new(_key(), anchor.payload(), hashlib.sha256).hexdigest()


def anchor_path() -> Path:
    return Path(settings.AUDIT_ANCHOR_PATH)


def write_anchor() -> Anchor | None:
    """Append the chain's current head, signed, to the anchor file (None: the chain is empty).
    The line is flushed and fsynced before this returns."""
    head = AuditRecord.objects.order_by("-seq").values_list("seq", "hash").first()
    if head is None:
        return None
    anchor = Anchor(seq=head[0], hash=head[1], at=timezone.now().isoformat())
    path = anchor_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"seq": anchor.seq, "hash": anchor.hash, "at": anchor.at, "hmac": sign(anchor)})
    with path.open("a", encoding="utf-8") as fh:
        fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return anchor


def latest_anchor() -> Anchor | None:
    """The newest anchor in the file, after checking every line's signature (None: no file yet)."""
    path = anchor_path()
    if not path.exists():
        return None
    newest = None
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                anchor = Anchor(seq=int(data["seq"]), hash=str(data["hash"]), at=str(data["at"]))
                signature = str(data["hmac"])
            except (ValueError, KeyError, TypeError) as exc:
                raise AnchorError(f"{path}, line {number}: not an anchor ({exc})") from None
            if not hmac.compare_digest(signature, sign(anchor)):
                raise AnchorError(
                    f"{path}, line {number}: its signature does not match (forged or another key)"
                )
            if newest is not None and anchor.seq < newest.seq:
                raise AnchorError(f"{path}, line {number}: goes back from seq {newest.seq} to {anchor.seq}")
            newest = anchor
    return newest


def check_against_anchor(anchor: Anchor) -> str | None:
    """None when the chain still holds the anchored record with the anchored hash, else why not."""
    found = AuditRecord.objects.filter(seq=anchor.seq).values_list("hash", flat=True).first()
    if found is None:
        count = AuditRecord.objects.count()
        return (
            f"the anchor of {anchor.at} names record seq={anchor.seq}, which the chain no longer holds "
            f"({count} record(s) left): records were removed or the table was emptied"
        )
    if found != anchor.hash:
        return (
            f"record seq={anchor.seq} does not have the hash anchored at {anchor.at}: the chain was rewritten"
        )
    return None
