"""Two deciders racing on PostgreSQL: select_for_update makes exactly one transition happen."""

import threading

import pytest
from django.db import connection

from config.errors import Conflict
from governance import access_requests, audit
from governance.models import AccessRequest, AccessRequestEvent, Approval

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _race(request_id: int, deciders) -> list:
    """Each decider approves in its own thread (its own connection), released together by a barrier."""
    barrier = threading.Barrier(len(deciders))
    outcomes: list = [None] * len(deciders)

    def run(i, user):
        try:
            barrier.wait(timeout=10)
            outcomes[i] = access_requests.approve_access_request(
                actor=user, request=AccessRequest(pk=request_id)
            ).status
        except Conflict as exc:
            outcomes[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, u)) for i, u in enumerate(deciders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return outcomes


@pytest.fixture(autouse=True)
def _needs_postgres():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL=postgres://...)")


@pytest.mark.parametrize("round_", range(2))
def test_two_stewards_racing_on_a_confidential_request(requester, steward, steward2, make_dataset, round_):
    ds = make_dataset("confidential")
    req = access_requests.create_access_request(
        actor=requester, datasets=[ds.urn], purpose="training", justification="x"
    )
    outcomes = _race(req.pk, [steward, steward2])
    assert sum(isinstance(o, Conflict) for o in outcomes) == 1 and "approved" in outcomes
    assert AccessRequest.objects.get(pk=req.pk).status == "approved"
    assert AccessRequestEvent.objects.filter(request=req, action="approved").count() == 1
    assert Approval.objects.filter(request=req).count() == 1


@pytest.mark.parametrize("round_", range(2))
def test_owner_and_steward_racing_on_a_restricted_request(requester, owner, steward, make_dataset, round_):
    ds = make_dataset("restricted")
    req = access_requests.create_access_request(
        actor=requester, datasets=[ds.urn], purpose="training", justification="x"
    )
    outcomes = _race(req.pk, [owner, steward])
    # Both approvals count, whichever came second sees the first: never stuck pending, never approved twice.
    assert sorted(outcomes) == ["approved", "pending"]
    assert AccessRequest.objects.get(pk=req.pk).status == "approved"
    assert AccessRequestEvent.objects.filter(request=req, action="approved").count() == 1
    assert Approval.objects.filter(request=req).count() == 2
    # Both wrote audit records at once: the advisory lock kept the chain in one line.
    assert audit.first_break() is None


def test_same_person_twice_at_once(requester, owner, steward, make_dataset):
    ds = make_dataset("restricted")
    req = access_requests.create_access_request(
        actor=requester, datasets=[ds.urn], purpose="training", justification="x"
    )
    outcomes = _race(req.pk, [steward, steward])
    assert sum(isinstance(o, Conflict) for o in outcomes) == 1 and "pending" in outcomes
    assert Approval.objects.filter(request=req).count() == 1
    assert AccessRequest.objects.get(pk=req.pk).status == "pending"


def test_concurrent_audit_writers_keep_one_chain(owner):
    from governance.models import AuditRecord

    barrier = threading.Barrier(4)

    def write(i):
        try:
            barrier.wait(timeout=10)
            for j in range(5):
                audit.record(
                    actor=owner,
                    via="api",
                    action="test.concurrent",
                    object_type="thing",
                    object_id=f"{i}-{j}",
                )
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert list(AuditRecord.objects.order_by("seq").values_list("seq", flat=True)) == list(range(1, 21))
    assert audit.first_break() is None
