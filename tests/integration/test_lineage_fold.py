"""LINEAGE_APPLY=deferred with a real worker: events posted over the API are folded into the graph by
the Celery task their commit queued, with no read asking for it."""

import json
import uuid

import pytest
from django.core.cache import cache
from django.db import transaction

from lineage import fold as services
from lineage.models import EventState, LineageEvent, Node, Run
from lineage.tests.events import ds, run_event

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_worker_folds_posted_events_without_a_read(
    live_worker_factory, settings, owner, api_client_for, monkeypatch
):
    settings.LINEAGE_APPLY = "deferred"
    # A flag left by an earlier test of this process would stand for a task that is not queued here.
    cache.delete(services.FOLD_QUEUED)
    monkeypatch.setattr(services, "_last_refused", float("-inf"))
    worker = live_worker_factory()
    client = api_client_for(owner, scheme="Bearer")
    run_ids = [str(uuid.uuid4()) for _ in range(3)]
    # One transaction for all the posts: the fold task is queued once they have all committed.
    with transaction.atomic():
        for i, run_id in enumerate(run_ids):
            for event_type, minute in (("START", "00"), ("COMPLETE", "05")):
                body = run_event(
                    f"step_{i}",
                    event_type=event_type,
                    run_id=run_id,
                    inputs=[ds("s3://lake", f"t{i}")],
                    outputs=[ds("s3://lake", f"t{i + 1}")],
                    event_time=f"2026-01-10T1{i}:{minute}:00Z",
                )
                r = client.post("/api/v1/lineage", json.dumps(body), content_type="application/json")
                assert r.status_code == 201, r.content
        assert LineageEvent.objects.filter(state=EventState.PENDING).count() == 6

    # Only the worker folds from here on: these are plain ORM reads, not lineage selectors.
    worker.wait_until(lambda: not LineageEvent.objects.filter(state=EventState.PENDING).exists())
    assert set(Run.objects.values_list("run_id", "state")) == {(r, "COMPLETED") for r in run_ids}
    assert Node.objects.filter(kind="JOB").count() == 3
    assert Node.objects.get(key="dataset:s3://lake:t3").kind == "DATASET"
    assert not LineageEvent.objects.filter(state=EventState.FAILED).exists()
    assert "lineage.fold_pending" in worker.log()
