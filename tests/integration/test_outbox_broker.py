"""The outbox against a real broker (a private Redis) that goes down and comes back: messages wait,
then go oldest first, each exactly once, however many senders sweep at the same time."""

import base64
import json
import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction

from catalog import outbox
from catalog.models import OutboxMessage
from config.celery import app
from tests.integration import tasks
from tests.integration.redis_server import celery_broker

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def broker(private_redis, live_worker_factory):
    """Tasks published (not run inline) to the private Redis, on this test's own queue."""
    outbox._broker_down_until = 0.0
    with celery_broker(private_redis.url(1)):
        yield private_redis
    outbox._broker_down_until = 0.0


def _queued(server) -> list[list]:
    """The args of the messages waiting in this test's queue, oldest first (kombu's Redis transport
    pushes on the left; a message's body is base64 JSON [args, kwargs, embed])."""
    raw = server.client(1).lrange(app.conf.task_default_queue, 0, -1)
    return [json.loads(base64.b64decode(json.loads(m)["body"]))[0] for m in reversed(raw)]


def test_messages_wait_while_the_broker_is_down_and_go_oldest_first_once_it_is_back(broker):
    broker.stop()
    with transaction.atomic():
        get_user_model().objects.create(username="made_with_the_change")
        first = outbox.enqueue(tasks.create_user, ["a"])
    # The change committed; the broker refused its message, which waits.
    assert get_user_model().objects.filter(username="made_with_the_change").exists()
    first.refresh_from_db()
    assert first.sent_at is None and first.attempts == 1 and first.last_error
    outbox.enqueue(tasks.create_user, ["b"])
    outbox.enqueue(tasks.create_user, ["c"])
    assert outbox.send_pending() == 0  # still down
    assert OutboxMessage.objects.filter(sent_at__isnull=True).count() == 3

    broker.start()
    assert outbox.send_pending() == 3
    assert _queued(broker) == [["a"], ["b"], ["c"]]
    assert outbox.send_pending() == 0  # sent is sent: nothing goes twice
    assert len(_queued(broker)) == 3
    assert not OutboxMessage.objects.filter(sent_at__isnull=True).exists()


def test_a_message_written_after_the_broker_is_back_goes_after_the_backlog(broker):
    broker.stop()
    outbox.enqueue(tasks.create_user, ["old"])
    broker.start()
    outbox._broker_down_until = 0.0  # this process's pause after the failure is over
    outbox.enqueue(tasks.create_user, ["new"])  # sent after its commit, the older one first
    assert _queued(broker) == [["old"], ["new"]]


def test_concurrent_sweeps_send_each_message_once(broker):
    broker.stop()
    for i in range(40):
        outbox.enqueue(tasks.create_user, [f"u{i}"])
    broker.start()
    counts: list[int] = []
    errors: list[BaseException] = []

    def sweep() -> None:
        try:
            counts.append(outbox.send_pending())
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sum(counts) == 40
    queued = _queued(broker)
    assert sorted(a[0] for a in queued) == sorted(f"u{i}" for i in range(40))
    assert not OutboxMessage.objects.filter(sent_at__isnull=True).exists()


def test_apply_async_options_travel_with_the_message(broker):
    """What profiling will need when its jobs go through the outbox: the job's time limits."""
    outbox.enqueue(tasks.create_user, ["limited"], options={"time_limit": 30, "soft_time_limit": 20})
    (raw,) = broker.client(1).lrange(app.conf.task_default_queue, 0, -1)
    assert json.loads(raw)["headers"]["timelimit"] == [30, 20]
