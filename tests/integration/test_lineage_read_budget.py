"""Reads right after a burst, on PostgreSQL, while a real Celery worker folds it (LINEAGE_APPLY=deferred):
each read keeps to LINEAGE_READ_FOLD_SECONDS and says what it left pending.

No timing assertions: what each read's catch-up decided (``lineage.fold.CatchUp``, logged at DEBUG)
is checked against its deadline. The wall time of such reads over HTTP is measured by
bench/lineage_read_budget_bench.py (docs/benchmarks.md).
"""

import json
import logging
import uuid

import pytest
from django.core.cache import cache
from django.db import transaction

from lineage import fold, ingest
from lineage.models import EventState, LineageEvent
from lineage.tests.events import ds, run_event

pytestmark = [pytest.mark.postgres, pytest.mark.integration, pytest.mark.django_db(transaction=True)]
URL = "/api/v1/lineage"
CHAIN = 15  # jobs: with 16 datasets, a 31-node answer around the middle one
MIDDLE = "dataset:s3://chain:d8"
BURST = 1000


def build_chain(owner) -> None:
    for i in range(CHAIN):
        body = run_event(
            f"chain_{i}", inputs=[ds("s3://chain", f"d{i}")], outputs=[ds("s3://chain", f"d{i + 1}")]
        )
        ingest.ingest_event(body=body, actor=owner, apply="sync")


def post_burst(owner) -> None:
    """The burst, stored through the service (as the API's POST does, without HTTP): one transaction,
    so that its commit queues one fold task, as a burst over HTTP does."""
    with transaction.atomic():
        for i in range(BURST):
            body = run_event(
                f"burst_{i % 50}",
                run_id=str(uuid.uuid4()),
                inputs=[ds("s3://burst", f"in/{i % 50}")],  # apart from the chain: its answer stays 31 nodes
                # One in ten writes a new dataset: the costly kind to fold, as in a real burst.
                outputs=[ds("s3://burst", f"out/{i}" if i % 10 == 0 else f"out/{i % 50}")],
            )
            ingest.ingest_event(body=body, actor=owner, apply="deferred")


def read(client, caplog) -> tuple:
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="lineage.fold"):
        r = client.get(URL, {"nodeId": MIDDLE})
    traces = [rec.catch_up for rec in caplog.records if hasattr(rec, "catch_up")]
    return r, traces


def check_kept_to_its_budget(trace, r, budget: float) -> None:
    # The fold ends early enough to leave the answer its share of the budget.
    share = min(budget * fold.READ_ANSWER_SHARE, fold.READ_ANSWER_MAX)
    assert trace.deadline == trace.started + (budget - share)
    costliest = 0.0
    previous = 0
    for batch in trace.batches:
        # No batch began after the deadline, and none waited for the worker's lock beyond it.
        assert batch.began < trace.deadline
        assert batch.wait_limit <= trace.deadline - batch.began
        if batch.locked is None:
            continue
        # None was planned on more than half the time left, at the cost measured before it.
        assert batch.size <= (2 * previous if previous else fold.READ_FIRST_BATCH)
        if costliest:
            assert batch.size * costliest <= (trace.deadline - batch.locked) / 2
        if batch.folded:
            costliest = max(costliest, (batch.ended - batch.locked) / batch.folded)
        previous = batch.size
    if trace.left:
        assert trace.stopped in ("budget", "lock")
        assert r["X-Lineage-Pending"] == str(trace.left)
    else:
        assert trace.stopped == "caught up" and "X-Lineage-Pending" not in r


def test_reads_after_a_burst_keep_to_their_budget_while_the_worker_folds(
    live_worker_factory, settings, owner, api_client_for, monkeypatch, caplog
):
    settings.LINEAGE_APPLY = "deferred"
    # A flag left by an earlier test of this process would stand for a task that is not queued here.
    cache.delete(fold.FOLD_QUEUED)
    monkeypatch.setattr(fold, "_last_refused", float("-inf"))
    build_chain(owner)
    worker = live_worker_factory()
    client = api_client_for(owner, scheme="Bearer")
    post_burst(owner)
    worker.wait_until(lambda: "lineage.fold_pending" in worker.log())  # the worker is folding

    settings.LINEAGE_READ_FOLD_SECONDS = 1.0
    behind = []
    for _ in range(3):
        r, traces = read(client, caplog)
        assert r.status_code == 200 and len(json.loads(r.content)["graph"]) == 31
        if not traces:  # the worker had folded everything: nothing pending, nothing to decide
            break
        (trace,) = traces
        check_kept_to_its_budget(trace, r, 1.0)
        behind.append(trace.left)
    assert behind and behind[0] > 0, "the burst was folded before the first read: no backlog to read through"

    # No time at all: no fold, no wait; the answer says how many events it did not wait for.
    settings.LINEAGE_READ_FOLD_SECONDS = 0
    r, traces = read(client, caplog)
    assert r.status_code == 200
    if traces:
        (trace,) = traces
        assert trace.batches == [] and trace.stopped == "budget"
        assert r["X-Lineage-Pending"] == str(trace.left) and trace.left > 0
    assert worker.alive and not LineageEvent.objects.filter(state=EventState.FAILED).exists()
