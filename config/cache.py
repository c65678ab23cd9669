"""Django's Redis cache, made to degrade: while Redis cannot be reached, the cache is empty.

Everything Gouvernail keeps in the cache can be computed again from the database (clearance
answers, search facet counts, the lineage fold flag, write-throttle counts), so an outage must cost
speed, never an answer: every operation that meets a connection error or a timeout behaves as a
miss (reads return the default, ``add`` and ``touch`` return False, ``incr`` raises ValueError as
for a missing key) or as a no-op (writes, deletes).

After a failure the process does not try Redis again for ``REDIS_CACHE_RETRY_SECONDS``: a Redis
that is out of reach costs one connection timeout per interval, not one per cache call, and the
outage is logged once per interval (and its end once). Nothing here remembers writes lost during
the outage: whoever needs that must not rely on the cache for correctness (clearance_cache keeps
its generation in the database for that reason).

Chosen over django-redis's IGNORE_EXCEPTIONS: Django's own backend is what production already ran,
and this is one subclass rather than a new dependency with its own client and serializer.
"""

import logging
import threading
import time
from functools import wraps

from django.conf import settings
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

# What an unreachable, restarting (loading its data) or overloaded Redis raises.
UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OSError)

_lock = threading.Lock()
# Per server list, shared by the threads of a process (Django makes one backend object per thread):
# until when this process leaves Redis alone.
_down_until: dict[str, float] = {}


def _retry_seconds() -> float:
    return float(getattr(settings, "REDIS_CACHE_RETRY_SECONDS", 5.0))


def _degrade(fallback):
    """Run the operation unless Redis is known down; on a connection error, mark it down and
    answer ``fallback(*args)`` (a miss or a no-op)."""

    def decorate(method):
        @wraps(method)
        def run(self, *args, **kwargs):
            if not self._reachable():
                return fallback(*args, **kwargs)
            try:
                result = method(self, *args, **kwargs)
            except UNAVAILABLE as exc:
                self._went_down(exc)
                return fallback(*args, **kwargs)
            self._came_back()
            return result

        return run

    return decorate


def _none(*args, **kwargs):
    return None


def _false(*args, **kwargs):
    return False


def _default(key, default=None, *args, **kwargs):
    return default


def _nothing_found(*args, **kwargs):
    return {}


def _nothing_stored(data, *args, **kwargs):
    return list(data)


def _missing(key, *args, **kwargs):
    raise ValueError(f"Key '{key}' not found (the cache is unavailable).")


class ResilientRedisCache(RedisCache):
    """RedisCache whose operations treat an unreachable Redis as an empty cache (see module doc)."""

    @property
    def _name(self) -> str:
        return ",".join(self._servers)

    def _reachable(self) -> bool:
        return _down_until.get(self._name, 0.0) <= time.monotonic()

    def _went_down(self, exc: Exception) -> None:
        with _lock:
            was_down = self._name in _down_until
            _down_until[self._name] = time.monotonic() + _retry_seconds()
        log.warning(
            "cache: Redis (%s) %s: %s; serving from the database without the cache, next try in %.0f s",
            self._name,
            "still unavailable" if was_down else "unavailable",
            exc,
            _retry_seconds(),
        )

    def _came_back(self) -> None:
        if self._name not in _down_until:
            return
        with _lock:
            if _down_until.pop(self._name, None) is None:
                return
        log.info("cache: Redis (%s) reachable again", self._name)

    @_degrade(_false)
    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return super().add(key, value, timeout, version)

    @_degrade(_default)
    def get(self, key, default=None, version=None):
        return super().get(key, default, version)

    @_degrade(_none)
    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return super().set(key, value, timeout, version)

    @_degrade(_false)
    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return super().touch(key, timeout, version)

    @_degrade(_false)
    def delete(self, key, version=None):
        return super().delete(key, version)

    @_degrade(_nothing_found)
    def get_many(self, keys, version=None):
        return super().get_many(keys, version)

    @_degrade(_false)
    def has_key(self, key, version=None):
        return super().has_key(key, version)

    @_degrade(_missing)
    def incr(self, key, delta=1, version=None):
        return super().incr(key, delta, version)

    @_degrade(_nothing_stored)
    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        return super().set_many(data, timeout, version)

    @_degrade(_none)
    def delete_many(self, keys, version=None):
        return super().delete_many(keys, version)

    @_degrade(_false)
    def clear(self):
        return super().clear()
