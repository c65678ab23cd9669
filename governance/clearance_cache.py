"""Clearance answers kept until anything they depend on changes: the generation and the stored entries.

clearance.answer_json serves and stores through this module; it imports nothing of governance, so
that the audit chain and the receivers can bump the generation from below.

Training pipelines ask the same question again and again (every worker of a distributed job, every
epoch's data loader): the answer is a pure function of governance state (requests, approvals,
policies), the catalog (URNs, sensitivities), lineage (the current edges) and profiling (the latest
profile of each dataset), plus the clock (approvals expire). So an answer is cached with

* the **generation** it was computed at: one integer in the shared cache that every change of
  those states increments after its transaction commits (``bump``, called from governance's audit
  chain and from the catalog, profiling and lineage signals: governance/receivers.py). An answer
  computed at generation g is served only while the generation is still g. The generation is read
  *before* the answer is computed, so a change committed while it was computed makes it stale;
* a **deadline**: the earliest moment an approval it relies on expires or outlives the policy's cap,
  and at most CLEARANCE_CACHE_SECONDS from now.

Only with a cache that every process shares (Redis): with a per-process cache a change made in a
worker would not reach the web process's copy, so settings leave it off then (CLEARANCE_CACHE_SECONDS
is 0 without REDIS_URL). Every process bumps, whether or not it serves cached answers itself. A hit
costs one cache round trip for the generation and the answer together.
"""

import hashlib
import time

from django.conf import settings
from django.core.cache import cache

GENERATION_KEY = "gv:clearance:generation"
_PREFIX = "gv:clearance:answer:"


def enabled() -> bool:
    return getattr(settings, "CLEARANCE_CACHE_SECONDS", 0) > 0


def _key(principal_id: int | None, purpose: str, urns: list[str]) -> str:
    raw = "\n".join([str(principal_id), purpose, *urns])
    return _PREFIX + hashlib.sha256(raw.encode()).hexdigest()


def _start() -> int:
    """A generation for an empty cache (first use, flushed, evicted): nanoseconds since the epoch, so
    it is above every generation handed out before and an answer cached then can never match."""
    cache.add(GENERATION_KEY, time.time_ns(), timeout=None)
    return cache.get(GENERATION_KEY)


def bump() -> None:
    """Make every cached answer stale. Called after the transaction of a change has committed.

    Whether or not this process serves cached answers: a worker changes what the web processes
    have cached (one INCR per change)."""
    try:
        cache.incr(GENERATION_KEY)
    except ValueError:  # not there (first change, or evicted): a fresh start above every old value
        _start()


def lookup(principal_id: int | None, purpose: str, urns: list[str]) -> tuple[bytes | None, int]:
    """(the cached answer's JSON if still valid else None, the current generation to store under)."""
    key = _key(principal_id, purpose, urns)
    found = cache.get_many([GENERATION_KEY, key])
    generation = found.get(GENERATION_KEY)
    if generation is None:
        return None, _start()
    entry = found.get(key)
    if entry is not None and entry[0] == generation and entry[1] > time.time():
        return entry[2], generation
    return None, generation


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
