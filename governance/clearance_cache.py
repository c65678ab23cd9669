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
from django.db.models import F

from governance.models import ClearanceGeneration

log = logging.getLogger(__name__)

_PREFIX = "gv:clearance:answer:"


def enabled() -> bool:
    return getattr(settings, "CLEARANCE_CACHE_SECONDS", 0) > 0


def _key(principal_id: int | None, purpose: str, urns: list[str]) -> str:
    raw = "\n".join([str(principal_id), purpose, *urns])
    return _PREFIX + hashlib.sha256(raw.encode()).hexdigest()


def _start() -> int:
    """The generation of a database that has none yet (new, or flushed): nanoseconds since the
    epoch, so it is above every generation handed out before and an answer that the shared cache
    still holds from then can never match."""
    try:
        with transaction.atomic():
            ClearanceGeneration.objects.create(pk=1, value=time.time_ns())
    except IntegrityError:  # another process started it first
        pass
    return ClearanceGeneration.objects.values_list("value", flat=True).get(pk=1)


def generation() -> int:
    """The current generation (one primary-key read)."""
    value = ClearanceGeneration.objects.filter(pk=1).values_list("value", flat=True).first()
    return value if value is not None else _start()


def bump() -> None:
    """Make every cached answer stale. Called after the transaction of a change has committed.

    Whether or not this process serves cached answers: a worker changes what the web processes
    have cached (one UPDATE of one row per change). Never raises: the change is committed already,
    and its author must not get an error for it (a bump lost to a database failure at this very
    moment leaves answers valid until their deadline, at most CLEARANCE_CACHE_SECONDS)."""
    try:
        with transaction.atomic():  # a savepoint when called inside a transaction
            if not ClearanceGeneration.objects.filter(pk=1).update(value=F("value") + 1):
                _start()  # none yet: a fresh start above every old value
    except DatabaseError:
        log.exception("clearance cache: the generation could not be moved after a change")


def lookup(principal_id: int | None, purpose: str, urns: list[str]) -> tuple[bytes | None, int]:
    """(the cached answer's JSON if still valid else None, the current generation to store under)."""
    current = generation()
    entry = cache.get(_key(principal_id, purpose, urns))
    if entry is not None and entry[0] == current and entry[1] > time.time():
        return entry[2], current
    return None, current


def store(
    principal_id: int | None,
    purpose: str,
    urns: list[str],
    *,
    generation: int,
    body: bytes,
    valid_until: float | None,
) -> None:
    """Keep an answer computed at ``generation`` until ``valid_until`` (epoch seconds) at the latest."""
    ttl = settings.CLEARANCE_CACHE_SECONDS
    deadline = time.time() + ttl
    if valid_until is not None:
        deadline = min(deadline, valid_until)
    if deadline <= time.time():
        return
    cache.set(_key(principal_id, purpose, urns), (generation, deadline, body), timeout=ttl)
