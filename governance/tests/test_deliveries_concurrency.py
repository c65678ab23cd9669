"""Several delivery runs at once on PostgreSQL: each event fanned out once, each delivery claimed by
one run (SELECT ... FOR UPDATE SKIP LOCKED), and nothing lost."""

import threading

import pytest
from django.db import connection

from governance import access_requests, deliveries, subscriptions
from governance.models import Delivery, Event

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _together(fn, n: int = 4) -> list:
    results, errors = [], []
    start = threading.Barrier(n)

    def one():
        try:
            start.wait()
            results.append(fn())
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return results


def test_concurrent_fan_outs_and_claims_take_disjoint_rows(
    owner, steward, requester, make_dataset, monkeypatch
):
    # The task queued by each event would run inline (eager) at its commit: here the runs are ours.
    monkeypatch.setattr(deliveries, "run", lambda **kwargs: 0)
    ds = make_dataset("confidential")
    for person in (owner, steward):
        subscriptions.create_subscription(actor=person, events=["access_request.*"], email=True)
    for i in range(30):
        access_requests.create_access_request(
            actor=requester, datasets=[ds.urn], purpose="training", justification=f"{i}"
        )
    assert sum(_together(deliveries.fan_out)) == 30
    assert Delivery.objects.count() == 60 and not Event.objects.filter(dispatched_at__isnull=True).exists()

    claimed = _together(lambda: deliveries.claim_due(limit=20))
    ids = [d.pk for _, batch in claimed for d in batch]
    assert len(ids) == len(set(ids)) == 60  # 4 x 20 asked, 60 there: each taken once
    assert len({token for token, batch in claimed if batch}) == len([b for _, b in claimed if b])
