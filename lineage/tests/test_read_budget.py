"""A lineage read's catch-up keeps to its budget (LINEAGE_READ_FOLD_SECONDS, counted from the start
of the request): it never waits for the folding lock past its deadline, never starts a batch it does
not expect to finish by then, and says what it left pending (X-Lineage-Pending).

No timing assertions: the tests look at what the fold decided (``fold.CatchUp``, logged at DEBUG).
The wall time of reads during a real backlog is measured by bench/lineage_read_budget_bench.py.
"""

import json
import logging
import threading
import time

import pytest
from django.db import connection

from lineage import fold, ingest
from lineage.models import EventState, LineageEvent, Node
from lineage.tests.events import ds, run_event

pytestmark = pytest.mark.django_db
URL = "/api/v1/lineage"


@pytest.fixture
def deferred(settings):
    settings.LINEAGE_APPLY = "deferred"
    return settings


def pending() -> int:
    return LineageEvent.objects.filter(state=EventState.PENDING).count()


def store(n: int, prefix: str = "step") -> None:
    for i in range(n):
        ingest.ingest_event(body=run_event(f"{prefix}_{i}", outputs=[ds("s3://lake", f"{prefix}{i}")]))


def catch_ups(caplog) -> list:
    return [r.catch_up for r in caplog.records if hasattr(r, "catch_up")]


def test_a_budget_spent_before_the_fold_folds_nothing(deferred, caplog):
    """The budget counts from the request's start: a read whose request already took longer than
    its budget (before the view got round to folding) answers at once."""
    store(3)
    with caplog.at_level(logging.DEBUG, logger="lineage.fold"):
        left = fold.catch_up(seconds=1.0, started=time.monotonic() - 2.0)
    assert left == 3 and pending() == 3
    (trace,) = catch_ups(caplog)
    assert trace.batches == [] and trace.stopped == "budget" and trace.left == 3


def test_the_fold_leaves_the_answer_its_share_of_the_budget(deferred, caplog):
    store(1)
    with caplog.at_level(logging.DEBUG, logger="lineage.fold"):
        fold.catch_up(seconds=1.0, started=1000.0)  # long past on this clock: nothing folds
        fold.catch_up(seconds=10.0, started=1000.0)
    short, long = catch_ups(caplog)
    assert short.deadline == 1000.0 + (1.0 - 1.0 * fold.READ_ANSWER_SHARE)
    assert long.deadline == 1000.0 + (10.0 - fold.READ_ANSWER_MAX)


def test_the_middleware_starts_the_budget(deferred, owner, api_client_for, monkeypatch):
    """The view folds by the request's start (noted by lineage.middleware), not by its own."""
    store(2)
    starts = []
    real = fold.fold_within
    monkeypatch.setattr(
        fold, "fold_within", lambda upto, **kw: starts.append(kw["started"]) or real(upto, **kw)
    )
    before = time.monotonic()
    r = api_client_for(owner).get(URL, {"nodeId": "dataset:s3://lake:step0"})
    assert r.status_code == 200
    assert len(starts) == 1 and before <= starts[0] < time.monotonic()
    assert fold.request_started.get() is None  # reset after the request


def test_with_time_enough_the_read_catches_up_in_growing_batches(deferred, owner, api_client_for, caplog):
    deferred.LINEAGE_READ_FOLD_SECONDS = 60
    store(30)
    with caplog.at_level(logging.DEBUG, logger="lineage.fold"):
        r = api_client_for(owner).get(URL, {"nodeId": "dataset:s3://lake:step29"})
    assert r.status_code == 200 and "X-Lineage-Pending" not in r
    assert pending() == 0
    (trace,) = catch_ups(caplog)
    assert trace.stopped == "caught up" and trace.left == 0
    # A first small batch measures what an event costs; each next one at most doubles.
    sizes = [b.size for b in trace.batches]
    assert sizes[0] == fold.READ_FIRST_BATCH
    assert all(b <= min(2 * a, fold.READ_FOLD_BATCH) for a, b in zip(sizes, sizes[1:], strict=False))
    assert sum(b.folded for b in trace.batches) == 30


@pytest.mark.parametrize(
    ("remaining", "per_event", "previous", "size"),
    [
        (10.0, None, 0, fold.READ_FIRST_BATCH),  # nothing measured yet: a small first batch
        (10.0, 0.001, 2, 4),  # at most twice the previous batch
        (10.0, 0.001, 16, fold.READ_FOLD_BATCH),  # and never more than READ_FOLD_BATCH
        (0.45, 0.1, 16, 2),  # as many as fit in half the time left
        (0.15, 0.1, 16, 0),  # not even one: no batch
        (0.0, None, 0, 0),
    ],
)
def test_a_batch_is_sized_to_the_time_left(deferred, remaining, per_event, previous, size):
    assert fold._fitting(remaining, per_event, previous) == size


def test_no_batch_is_started_that_the_time_left_cannot_hold(deferred, caplog, monkeypatch):
    """Each batch is sized from the costliest batch before it (events differ), and a read whose time
    is up starts none, however many events are pending."""
    store(20)
    clock = {"now": 1000.0}
    monkeypatch.setattr(fold, "_clock", lambda: clock["now"])
    first = LineageEvent.objects.order_by("id").first().pk
    real_fold = fold._fold

    def costed_fold(events, **kw):  # on this clock each event costs 0.1 s, the fourth one 1 s
        for event in events:
            clock["now"] += 1.0 if event.pk == first + 3 else 0.1
        return real_fold(events, **kw)

    monkeypatch.setattr(fold, "_fold", costed_fold)
    with caplog.at_level(logging.DEBUG, logger="lineage.fold"):
        trace = fold.fold_within(fold.pending_upto(), started=1000.0, seconds=3.02)
    left = trace.left
    # 2 events (0.1 s each), 4 (with the 1 s one: 0.325 s each), then by 0.325 s an event in half
    # the time left: 2 in the 1.52 s left, 2 in 1.32 s, 1 in each of 1.12 to 0.72 s; in 0.62 s none
    # fits, and it does not even wait for the lock.
    assert [b.size for b in trace.batches] == [2, 4, 2, 2, 1, 1, 1, 1, 1]
    assert trace.stopped == "budget" and left == trace.left == 5 == pending()
    assert clock["now"] <= trace.deadline


# ---------------------------------------------------------------------------------------------
# PostgreSQL: the folding lock held by a worker's long batch


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_read_does_not_wait_for_the_folding_lock_past_its_budget(
    deferred, owner, api_client_for, caplog, monkeypatch
):
    """A worker in the middle of a long batch holds the folding lock: the read waits for it only as
    long as its budget lasts, then answers from the graph as it is, with what is still pending."""
    from django.db import connections

    deferred.LINEAGE_READ_FOLD_SECONDS = 0.5
    monkeypatch.setattr(fold, "request_fold", lambda **kw: None)  # only the "worker" below folds
    store(1, prefix="known")
    fold.fold_pending()
    store(3)
    holding, release = threading.Event(), threading.Event()

    def worker_batch() -> None:  # another connection, as the Celery worker's fold
        try:
            with connections["default"].cursor() as cur:  # this thread's own connection
                cur.execute("BEGIN")
                cur.execute("SELECT pg_advisory_xact_lock(%s)", [fold._FOLD_LOCK])
                holding.set()
                release.wait(20)  # a safety net only: the read does not wait for it
                cur.execute("COMMIT")
        finally:
            connections["default"].close()

    holder = threading.Thread(target=worker_batch)
    holder.start()
    try:
        assert holding.wait(30)
        with caplog.at_level(logging.DEBUG, logger="lineage.fold"):
            r = api_client_for(owner).get(URL, {"nodeId": "dataset:s3://lake:known0"})
        done_while_held = not release.is_set()
    finally:
        release.set()
        holder.join()
    assert done_while_held
    assert r.status_code == 200 and r["X-Lineage-Pending"] == "3"
    assert json.loads(r.content)["graph"]  # the graph as folded so far
    (trace,) = catch_ups(caplog)
    assert trace.stopped == "lock" and trace.left == 3
    (batch,) = trace.batches
    assert batch.locked is None and 0 < batch.wait_limit <= 0.5
    assert pending() == 3 and not Node.objects.filter(key="dataset:s3://lake:step0").exists()
    # The lock_timeout was the transaction's own: this connection waits for locks as before.
    with connection.cursor() as cur:
        cur.execute("SHOW lock_timeout")
        assert cur.fetchone()[0] == "0"
