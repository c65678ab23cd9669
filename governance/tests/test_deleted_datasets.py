"""Access requests whose datasets are deleted: a decision always needs a role on every dataset left,
a request with no dataset left ends (withdrawn when pending, expired when approved) with the reason
in its history and the audit, and an approval never clears a dataset deleted since."""

import pytest
from django.db.models import Count

from catalog import services as catalog_services
from governance import access_requests
from governance.models import AccessRequest, AuditRecord, RequestStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def ask(requester, api_client_for):
    def ask(*datasets, purpose: str = "training") -> int:
        r = api_client_for(requester).post(
            "/api/v1/access-requests/",
            {"datasets": [d.urn for d in datasets], "purpose": purpose, "justification": "model v2"},
            format="json",
        )
        assert r.status_code == 201, r.content
        return r.json()["id"]

    return ask


@pytest.fixture
def delete(django_capture_on_commit_callbacks):
    """Delete a dataset as its owner, running what its deletion queued for after the commit."""

    def delete(dataset, *, after_commit: bool = True) -> None:
        with django_capture_on_commit_callbacks(execute=after_commit):
            catalog_services.delete_dataset(actor=dataset.owner, dataset=dataset)

    return delete


def _decide(client, rid: int, action: str):
    return client.post(f"/api/v1/access-requests/{rid}/{action}", {"comment": "ok"}, format="json")


@pytest.mark.parametrize("action", ["approve", "reject"])
def test_nobody_decides_a_request_whose_datasets_are_all_gone(
    action, ask, delete, make_dataset, owner, steward, outsider, staff, requester, api_client_for
):
    """Even before the request is ended (the deletion's follow-up not run yet): with no dataset
    left, there is no role to hold, and the decision is refused with the reason, nothing written."""
    rid = ask(make_dataset("confidential"))
    delete(AccessRequest.objects.get(pk=rid).datasets.get(), after_commit=False)
    records = AuditRecord.objects.count()
    for user in (outsider, owner, steward, staff, requester):
        r = _decide(api_client_for(user), rid, action)
        assert r.status_code in (403, 409), (user, r.status_code)
        assert r.json()["detail"], r.content
    no_role = _decide(api_client_for(outsider), rid, action)
    assert no_role.status_code == 409 and "no dataset left" in no_role.json()["detail"]
    assert AccessRequest.objects.get(pk=rid).status == RequestStatus.PENDING
    assert AuditRecord.objects.count() == records


def test_a_decider_needs_a_role_on_every_dataset_left(
    ask, delete, make_dataset, make_user, owner, steward, api_client_for
):
    other_owner = make_user("oscar_other")
    mine = make_dataset("confidential")
    theirs = catalog_services.create_dataset(
        actor=other_owner,
        namespace="s3://lake",
        name="theirs",
        sensitivity="confidential",
        stewards=[steward.username],
    )
    rid = ask(mine, theirs)
    # The owner of one dataset only is no decider, before or after the other is deleted.
    assert _decide(api_client_for(owner), rid, "approve").status_code == 403
    delete(theirs)
    req = AccessRequest.objects.get(pk=rid)
    assert req.status == RequestStatus.PENDING and list(req.datasets.all()) == [mine]
    assert _decide(api_client_for(other_owner), rid, "approve").status_code == 403
    ok = _decide(api_client_for(owner), rid, "approve")
    assert ok.status_code == 200 and ok.json()["status"] == "approved"


def test_a_pending_request_with_no_dataset_left_is_withdrawn_with_the_reason(
    ask, delete, make_dataset, requester, steward, api_client_for, mailoutbox
):
    a, b = make_dataset("confidential"), make_dataset("restricted")
    rid = ask(a, b)
    delete(a)
    assert AccessRequest.objects.get(pk=rid).status == RequestStatus.PENDING  # goes on for b
    delete(b)
    req = AccessRequest.objects.get(pk=rid)
    assert req.status == RequestStatus.WITHDRAWN and req.decided_by is None
    history = api_client_for(requester).get(f"/api/v1/access-requests/{rid}/").json()["history"]
    assert [h["action"] for h in history] == ["created", "dataset_deleted", "withdrawn"]
    assert history[-1]["actor"] is None and history[-1]["via"] == "system"
    assert "its datasets were deleted" in history[-1]["comment"] and b.urn in history[-1]["comment"]
    assert a.urn in history[1]["comment"] and b.urn in history[1]["comment"]  # gone; goes on for b
    record = AuditRecord.objects.filter(action="access_request.withdrawn", object_id=str(rid)).get()
    assert record.after["status"] == "withdrawn" and record.after["reason"] == "its datasets were deleted"
    assert record.after["deleted"] == [a.urn, b.urn]
    # Notified as any other step: the requester hears of it.
    assert any(f"#{rid} withdrawn" in m.subject and requester.email in m.to for m in mailoutbox)
    # Ended: nobody decides it any more.
    assert _decide(api_client_for(steward), rid, "approve").status_code == 409


def test_an_approved_request_with_no_dataset_left_expires_and_clears_nothing(
    ask, delete, make_dataset, owner, requester, steward, api_client_for
):
    ds = make_dataset("confidential", name="claims")
    rid = ask(ds)
    assert _decide(api_client_for(steward), rid, "approve").json()["status"] == "approved"
    delete(ds)
    req = AccessRequest.objects.get(pk=rid)
    assert req.status == RequestStatus.EXPIRED
    assert "its datasets were deleted" in req.events.order_by("-at", "-id").first().comment
    # The former owner registers the name again: the old approval does not clear the new dataset.
    again = catalog_services.create_dataset(
        actor=owner, namespace="s3://lake", name="claims", sensitivity="confidential"
    )
    answer = (
        api_client_for(requester)
        .get("/api/v1/clearance", {"datasets": again.urn, "purpose": "training"})
        .json()
    )
    assert answer["allowed"] is False and answer["datasets"][0]["access_request"] is None


def test_an_approved_request_goes_on_for_the_datasets_left(
    ask, delete, make_dataset, requester, owner, api_client_for
):
    kept, gone = make_dataset("confidential"), make_dataset("confidential")
    rid = ask(kept, gone)
    assert _decide(api_client_for(owner), rid, "approve").json()["status"] == "approved"
    delete(gone)
    req = AccessRequest.objects.get(pk=rid)
    assert req.status == RequestStatus.APPROVED and list(req.datasets.all()) == [kept]
    assert req.events.order_by("-at", "-id").first().action == "dataset_deleted"
    answer = (
        api_client_for(requester)
        .get("/api/v1/clearance", {"datasets": kept.urn, "purpose": "training"})
        .json()
    )
    assert answer["allowed"] is True and answer["datasets"][0]["access_request"] == rid


def test_a_pending_request_whose_approvals_now_suffice_is_approved(
    ask, delete, make_dataset, owner, requester, api_client_for
):
    """The owner approved both; the restricted one still needed a steward. Once it is deleted, what
    is left has every approval it needs: waiting on would leave it pending forever (the owner cannot
    approve twice), so it is approved, saying why."""
    conf, restr = make_dataset("confidential"), make_dataset("restricted")
    rid = ask(conf, restr)
    assert _decide(api_client_for(owner), rid, "approve").json()["status"] == "pending"
    delete(restr)
    req = AccessRequest.objects.get(pk=rid)
    assert req.status == RequestStatus.APPROVED and req.decided_by is None
    last = req.events.order_by("-at", "-id").first()
    assert last.action == "approved" and restr.urn in last.comment
    answer = (
        api_client_for(requester)
        .get("/api/v1/clearance", {"datasets": conf.urn, "purpose": "training"})
        .json()
    )
    assert answer["allowed"] is True


def test_the_sweep_ends_requests_left_without_datasets(ask, delete, make_dataset):
    """Should the deletion's follow-up not run (the process stopped after the commit), the periodic
    sweep ends the request."""
    rid = ask(make_dataset("confidential"))
    delete(AccessRequest.objects.get(pk=rid).datasets.get(), after_commit=False)
    assert AccessRequest.objects.annotate(n=Count("datasets")).get(pk=rid).n == 0
    assert access_requests.end_requests_without_datasets() == 1
    assert AccessRequest.objects.get(pk=rid).status == RequestStatus.WITHDRAWN
    assert access_requests.end_requests_without_datasets() == 0
