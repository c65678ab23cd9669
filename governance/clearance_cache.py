"""Clearance answers kept until anything they depend on changes: the generation and the stored entries.

clearance.answer_json serves and stores through this module; it imports nothing of governance but
the generation's model, so that the audit chain and the receivers can bump the generation from below.

Training pipelines ask the same question again and again (every worker of a distributed job, every
epoch's data loader): the answer is a pure function of governance state (requests, approvals,
policies), the catalog (URNs, sensitivities), lineage (the current edges) and profiling (the latest
profile of each dataset), plus the clock (approvals expire). So an answer is cached with

* the **generation** it was computed at: one integer, kept in the database (ClearanceGeneration),
  that every change of those states increments after its transaction commits (``bump``, called
  from governance's audit chain and from the catalog, profiling and lineage signals:
  governance/receivers.py). An answer computed at generation g is served only while the generation
  is still g. The generation is read *before* the answer is computed, so a change committed while
  it was computed makes it stale. In the database rather than the cache so that a change made while
  Redis was out of reach still moves it: Redis may come back holding answers from before the
  outage, and those must never be served (one primary-key read per question is the price);
* a **deadline**: the earliest moment an approval it relies on expires or outlives the policy's cap,
  and at most CLEARANCE_CACHE_SECONDS from now.

Only with a cache that every process shares (Redis): with a per-process cache a change made in a
worker would not reach the web process's copy, so settings leave it off then (CLEARANCE_CACHE_SECONDS
is 0 without REDIS_URL). Every process bumps, whether or not it serves cached answers itself. While
Redis is out of reach the cache is empty (config/cache.py) and every answer is computed.
"""

import hashlib
import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest

from governance.models import ClearanceGeneration

log = logging.getLogger(__name__)

_PREFIX = "gv:clearance:answer:"


def enabled() -> bool:
    return getattr(settings, "CLEARANCE_CACHE_SECONDS", 0) > 0


def _key(principal_id: int | None, purpose: str, urns: list[str]) -> str:
    raw = "\n".join([str(principal_id), purpose, *urns])
    return _PREFIX + hashlib.sha256(raw.encode()).hexdigest()


def generation() -> int | None:
    """The current generation (one primary-key read); None before the first change ever made."""
    return ClearanceGeneration.objects.filter(pk=1).values_list("value", flat=True).first()


def bump() -> None:
    """Make every cached answer stale. Called after the transaction of a change has committed.

    Whether or not this process serves cached answers: a worker changes what the web processes
    have cached (one UPDATE of one row per change). The new value is at least the clock in
    nanoseconds, so a database restored from a backup (or flushed) moves past every generation
    handed out before at its first change, and an answer the shared cache still holds from then
    never matches. Never raises: the change is committed already, and its author must not get an
    error for it (a bump lost to a database failure at this very moment leaves answers valid until
    their deadline, at most CLEARANCE_CACHE_SECONDS)."""
    now = time.time_ns()
    try:
        with transaction.atomic():  # a savepoint when called inside a transaction
            moved = ClearanceGeneration.objects.filter(pk=1).update(
                value=Greatest(F("value") + 1, Value(now))
            )
            if not moved:
                ClearanceGeneration.objects.create(pk=1, value=now)
    except IntegrityError:  # another process made the row first: its value is as new as ours
        pass
    except DatabaseError:
        log.exception("clearance cache: the generation could not be moved after a change")


def lookup(principal_id: int | None, purpose: str, urns: list[str]) -> tuple[bytes | None, int | None]:
    """(the cached answer's JSON if still valid else None, the current generation to store under;
    None: nothing is cached before the first change makes a generation, so that a read never writes)."""
    current = generation()
    if current is None:
        return None, None
    entry = cache.get(_key(principal_id, purpose, urns))
    if entry is not None and entry[0] == current and entry[1] > time.time():
        return entry[2], current
    return None, current


def store(
    principal_id: int | None,
    purpose: str,
    urns: list[str],
    *,
    generation: int | None,
    body: bytes,
    valid_until: float | None,
) -> None:
    """Keep an answer computed at ``generation`` until ``valid_until`` (epoch seconds) at the latest
    (nothing without a generation: none made yet, or an answer that must not be kept)."""
    if generation is None:
        return
    ttl = settings.CLEARANCE_CACHE_SECONDS
    deadline = time.time() + ttl
    if valid_until is not None:
        deadline = min(deadline, valid_until)
    if deadline <= time.time():
        return
    cache.set(_key(principal_id, purpose, urns), (generation, deadline, body), timeout=ttl)
