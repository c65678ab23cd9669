"""The Redis cache backend of production (config/cache.py) while Redis is down: an empty cache, logged
once per interval, and back in use once Redis is."""

import logging

import pytest
from django.core.cache import caches

from config import cache as resilient
from tests.integration.redis_server import production_settings


@pytest.fixture
def redis_cache(private_redis, settings):
    """The cache exactly as production configures it from REDIS_URL, on the private server."""
    settings.CACHES = production_settings(REDIS_URL=private_redis.url(0), DEBUG="1")["CACHES"]
    settings.REDIS_CACHE_RETRY_SECONDS = 30
    resilient._down_until.clear()
    yield caches["default"]
    resilient._down_until.clear()


def test_the_production_cache_works_while_redis_is_up(redis_cache):
    assert redis_cache.add("k", 1) is True
    assert redis_cache.get("k") == 1 and redis_cache.incr("k") == 2
    redis_cache.set_many({"a": "x", "b": "y"})
    assert redis_cache.get_many(["a", "b", "c"]) == {"a": "x", "b": "y"}


def test_every_operation_is_a_miss_or_a_no_op_while_redis_is_down(redis_cache, private_redis, caplog):
    redis_cache.set("k", "before")
    private_redis.stop()
    with caplog.at_level(logging.WARNING, logger="config.cache"):
        assert redis_cache.get("k") is None
        assert redis_cache.get("k", "fallback") == "fallback"
        assert redis_cache.get_many(["k", "other"]) == {}
        assert redis_cache.add("k", 1) is False
        assert redis_cache.set("k", 1) is None
        assert redis_cache.set_many({"a": 1, "b": 2}) == ["a", "b"]
        assert redis_cache.has_key("k") is False
        assert redis_cache.touch("k") is False
        assert redis_cache.delete("k") is False
        assert redis_cache.delete_many(["a", "b"]) is None
        with pytest.raises(ValueError):  # as for a key that is not there
            redis_cache.incr("k")
        assert redis_cache.get_or_set("g", lambda: "computed") == "computed"
    # One line for the whole outage so far, not one per call.
    assert len([r for r in caplog.records if r.name == "config.cache"]) == 1


def test_redis_is_used_again_once_it_is_back(redis_cache, private_redis, monkeypatch):
    private_redis.stop()
    assert redis_cache.get("k") is None
    private_redis.start()
    redis_cache.set("k", "during the pause")  # still left alone: the retry interval has not passed
    assert private_redis.client().dbsize() == 0
    now = resilient.time.monotonic()
    monkeypatch.setattr(resilient.time, "monotonic", lambda: now + 31)  # the interval has passed
    redis_cache.set("k", "back")
    assert redis_cache.get("k") == "back" and private_redis.client().dbsize() == 1
