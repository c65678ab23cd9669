"""Access requests through the API: the state machine, who may decide, and every refusal."""

from datetime import timedelta

import pytest
from django.utils import timezone

from catalog import services as catalog_services
from governance import access_requests, dataset_policies
from governance.models import AccessRequest, AccessRequestEvent, Approval, AuditRecord, DatasetPolicy

pytestmark = pytest.mark.django_db


def _request(client, datasets, **extra):
    body = {
        "datasets": [d.urn for d in datasets],
        "purpose": "training",
        "justification": "fraud model v2",
        **extra,
    }
    return client.post("/api/v1/access-requests/", body, format="json")


def _counts():
    return (
        AccessRequest.objects.count(),
        Approval.objects.count(),
        AccessRequestEvent.objects.count(),
        AuditRecord.objects.count(),
    )


def test_confidential_one_approval_by_steward(requester, steward, make_dataset, api_client_for):
    ds = make_dataset("confidential")
    r = _request(api_client_for(requester), [ds], model="fraud")
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["status"] == "pending" and body["datasets"] == [ds.urn] and body["model"] == "fraud"
    assert [h["action"] for h in body["history"]] == ["created"]

    ok = api_client_for(steward).post(
        f"/api/v1/access-requests/{body['id']}/approve", {"comment": "fine"}, format="json"
    )
    assert ok.status_code == 200, ok.content
    detail = ok.json()
    assert detail["status"] == "approved" and detail["decided_by"] == steward.username
    assert detail["approvals"][0]["approver"] == steward.username
    assert detail["approvals"][0]["roles"] == {str(ds.pk): ["steward"]}
    assert [h["action"] for h in detail["history"]] == ["created", "approved"]


def test_restricted_needs_owner_and_a_steward(
    requester, owner, steward, steward2, make_dataset, api_client_for
):
    ds = make_dataset("restricted")
    rid = _request(api_client_for(requester), [ds]).json()["id"]
    url = f"/api/v1/access-requests/{rid}/approve"

    first = api_client_for(steward).post(url, {}, format="json").json()
    assert first["status"] == "pending"
    assert first["history"][-1]["action"] == "approval"

    # The same person twice: refused, nothing written.
    before = _counts()
    again = api_client_for(steward).post(url, {}, format="json")
    assert again.status_code == 409 and "already approved" in again.json()["detail"]
    assert _counts() == before

    # Two stewards are not enough: the owner must be one of them.
    second = api_client_for(steward2).post(url, {}, format="json").json()
    assert second["status"] == "pending"
    third = api_client_for(owner).post(url, {}, format="json").json()
    assert third["status"] == "approved"


def test_request_over_several_datasets_needs_every_requirement(
    requester, owner, steward, make_dataset, api_client_for
):
    conf, restr = make_dataset("confidential"), make_dataset("restricted")
    rid = _request(api_client_for(requester), [conf, restr]).json()["id"]
    assert (
        api_client_for(steward).post(f"/api/v1/access-requests/{rid}/approve").json()["status"] == "pending"
    )
    assert api_client_for(owner).post(f"/api/v1/access-requests/{rid}/approve").json()["status"] == "approved"


def test_permission_trio_on_decisions(requester, owner, steward, outsider, make_dataset, api_client_for):
    ds = make_dataset("confidential")
    rid = _request(api_client_for(requester), [ds]).json()["id"]
    before = _counts()
    for user in (outsider, requester):
        r = api_client_for(user).post(f"/api/v1/access-requests/{rid}/approve", {}, format="json")
        assert r.status_code == 403, (user, r.content)
        assert r.json()["detail"] and r.json()["errors"] == {}
        assert api_client_for(user).post(f"/api/v1/access-requests/{rid}/reject").status_code == 403
    assert _counts() == before
    assert (
        api_client_for(owner)
        .post(f"/api/v1/access-requests/{rid}/reject", {"comment": "no"})
        .json()["status"]
        == "rejected"
    )


def test_nobody_approves_their_own_request_even_as_owner(owner, make_dataset, api_client_for):
    ds = make_dataset("confidential")
    rid = _request(api_client_for(owner), [ds]).json()["id"]
    r = api_client_for(owner).post(f"/api/v1/access-requests/{rid}/approve")
    assert r.status_code == 403 and "own" in r.json()["detail"]
    assert AccessRequest.objects.get(pk=rid).status == "pending"


def test_decider_must_hold_a_role_on_every_dataset(
    requester, steward, make_user, make_dataset, api_client_for
):
    other_steward = make_user("olga_other")
    a = make_dataset("confidential")
    b = make_dataset("confidential", stewards=[other_steward])
    rid = _request(api_client_for(requester), [a, b]).json()["id"]
    r = api_client_for(steward).post(f"/api/v1/access-requests/{rid}/approve")
    assert r.status_code == 403 and b.urn in r.json()["detail"]


def test_transitions_refused_from_wrong_states(requester, owner, steward, make_dataset, api_client_for):
    ds = make_dataset("confidential")
    rid = _request(api_client_for(requester), [ds]).json()["id"]
    # Revoking what is not approved.
    r = api_client_for(owner).post(f"/api/v1/access-requests/{rid}/revoke")
    assert r.status_code == 409 and "pending" in r.json()["detail"]
    api_client_for(steward).post(f"/api/v1/access-requests/{rid}/approve")
    before = _counts()
    # Approving or rejecting what is not pending.
    for verb in ("approve", "reject"):
        r = api_client_for(owner).post(f"/api/v1/access-requests/{rid}/{verb}")
        assert r.status_code == 409 and r.json()["errors"]["status"], verb
    assert _counts() == before
    # The requester may give access up; then it cannot be revoked twice.
    assert (
        api_client_for(requester).post(f"/api/v1/access-requests/{rid}/revoke").json()["status"] == "revoked"
    )
    assert api_client_for(owner).post(f"/api/v1/access-requests/{rid}/revoke").status_code == 409


def test_revoke_permissions(requester, owner, steward, outsider, make_dataset, api_client_for):
    ds = make_dataset("confidential")
    rid = _request(api_client_for(requester), [ds]).json()["id"]
    api_client_for(owner).post(f"/api/v1/access-requests/{rid}/approve")
    assert api_client_for(outsider).post(f"/api/v1/access-requests/{rid}/revoke").status_code == 403
    assert api_client_for(steward).post(f"/api/v1/access-requests/{rid}/revoke").json()["status"] == "revoked"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"datasets": ["dataset:s3://lake:nope"]}, "datasets"),
        ({"datasets": ["not-a-urn"]}, "datasets"),
        ({"datasets": []}, "datasets"),
        ({"purpose": "marketing"}, "purpose"),
        ({"justification": ""}, "justification"),
        ({"expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"expires_at": "tomorrow"}, "expires_at"),
        ({"expires_at": "2030-01-01T00:00:00"}, "expires_at"),  # no time zone (QA G2)
    ],
)
def test_bad_requests_are_400_and_write_nothing(requester, make_dataset, api_client_for, body, field):
    ds = make_dataset("confidential")
    full = {"datasets": [ds.urn], "purpose": "training", "justification": "why", **body}
    before = _counts()
    r = api_client_for(requester).post("/api/v1/access-requests/", full, format="json")
    assert r.status_code == 400, r.content
    assert field in r.json()["errors"] and r.json()["detail"]
    assert _counts() == before


def test_unknown_and_malformed_urns_are_named(requester, make_dataset, api_client_for):
    ds = make_dataset("confidential")
    body = {
        "datasets": [ds.urn, "dataset:s3://lake:ghost", "bogus"],
        "purpose": "training",
        "justification": "x",
    }
    r = api_client_for(requester).post("/api/v1/access-requests/", body, format="json")
    assert r.status_code == 400
    msgs = " ".join(r.json()["errors"]["datasets"])
    assert "dataset:s3://lake:ghost" in msgs and "bogus" in msgs


def test_unauthenticated_is_401(anon_client):
    assert anon_client.get("/api/v1/access-requests/").status_code == 401
    assert anon_client.post("/api/v1/access-requests/1/approve").status_code == 401


def test_list_scoping_and_filters(requester, owner, outsider, make_user, make_dataset, api_client_for):
    a, b = make_dataset("confidential"), make_dataset("restricted")
    _request(api_client_for(requester), [a])
    rid_b = _request(api_client_for(requester), [b]).json()["id"]
    assert api_client_for(requester).get("/api/v1/access-requests/").json()["count"] == 2
    assert api_client_for(owner).get("/api/v1/access-requests/").json()["count"] == 2
    assert api_client_for(outsider).get("/api/v1/access-requests/").json()["count"] == 0
    assert api_client_for(outsider).get(f"/api/v1/access-requests/{rid_b}/").status_code == 404
    by_ds = api_client_for(owner).get("/api/v1/access-requests/", {"dataset": b.urn}).json()
    assert [r["id"] for r in by_ds["results"]] == [rid_b]
    by_id = api_client_for(owner).get("/api/v1/access-requests/", {"dataset": b.pk}).json()
    assert [r["id"] for r in by_id["results"]] == [rid_b]
    assert api_client_for(owner).get("/api/v1/access-requests/", {"status": "approved"}).json()["count"] == 0
    assert api_client_for(owner).get("/api/v1/access-requests/", {"status": "bogus"}).status_code == 400


def test_justification_is_sanitised_when_shown(requester, make_dataset, api_client_for):
    ds = make_dataset("confidential")
    r = _request(api_client_for(requester), [ds], justification="**why** <script>alert(1)</script>")
    assert "<strong>why</strong>" in r.json()["justification_html"]
    assert "<script>" not in r.json()["justification_html"]


def test_policy_caps_approval_lifetime(requester, owner, steward, make_dataset, api_client_for):
    ds = make_dataset("confidential")
    dataset_policies.set_dataset_policy(actor=owner, dataset=ds, max_approval_days=7)
    far = (timezone.now() + timedelta(days=365)).isoformat()
    rid = _request(api_client_for(requester), [ds], expires_at=far).json()["id"]
    approved = api_client_for(steward).post(f"/api/v1/access-requests/{rid}/approve").json()
    req = AccessRequest.objects.get(pk=rid)
    assert req.expires_at <= timezone.now() + timedelta(days=7)
    assert "capped at 7 days" in approved["history"][-1]["comment"]


def test_expiry_sweep(requester, steward, make_dataset, api_client_for):
    ds = make_dataset("confidential")
    soon = (timezone.now() + timedelta(hours=1)).isoformat()
    rid = _request(api_client_for(requester), [ds], expires_at=soon).json()["id"]
    api_client_for(steward).post(f"/api/v1/access-requests/{rid}/approve")
    assert access_requests.expire_due_access_requests() == 0
    later = timezone.now() + timedelta(hours=2)
    assert access_requests.expire_due_access_requests(now=later) == 1
    req = AccessRequest.objects.get(pk=rid)
    assert req.status == "expired"
    assert req.events.last().action == "expired" and req.events.last().via == "system"
    # A second sweep finds nothing; an expired request cannot be revoked.
    assert access_requests.expire_due_access_requests(now=later) == 0
    assert api_client_for(steward).post(f"/api/v1/access-requests/{rid}/revoke").status_code == 409


def test_expire_task_runs_the_sweep(requester, steward, make_dataset, api_client_for):
    from governance.tasks import expire_access_requests

    ds = make_dataset("confidential")
    rid = _request(api_client_for(requester), [ds]).json()["id"]
    api_client_for(steward).post(f"/api/v1/access-requests/{rid}/approve")
    AccessRequest.objects.filter(pk=rid).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert expire_access_requests.delay().get() == 1


def test_policy_api_permission_trio(owner, steward, outsider, make_dataset, api_client_for):
    ds = make_dataset("confidential")
    url = f"/api/v1/datasets/{ds.pk}/policy/"
    assert api_client_for(outsider).get(url).json()["require_quality_pass"] is False
    assert (
        api_client_for(outsider).patch(url, {"require_quality_pass": True}, format="json").status_code == 403
    )
    assert not DatasetPolicy.objects.exists()
    r = api_client_for(steward).patch(
        url, {"require_quality_pass": True, "max_parity_difference": 0.1}, format="json"
    )
    assert r.status_code == 200 and r.json()["max_parity_difference"] == 0.1
    assert r.json()["updated_by"] == steward.username
    r = api_client_for(owner).put(url, {"max_approval_days": 30}, format="json")
    assert r.json()["max_approval_days"] == 30 and r.json()["require_quality_pass"] is True
    bad = api_client_for(owner).patch(url, {"max_parity_difference": 3}, format="json")
    assert bad.status_code == 400 and "max_parity_difference" in bad.json()["errors"]
    rec = AuditRecord.objects.filter(action="policy.changed").order_by("seq")
    assert [r.actor for r in rec] == [steward.username, owner.username]
    assert rec[0].before["require_quality_pass"] is False and rec[0].after["require_quality_pass"] is True


def test_overlong_comment_is_400(requester, steward, make_dataset, api_client_for):
    ds = make_dataset("confidential")
    rid = _request(api_client_for(requester), [ds]).json()["id"]
    r = api_client_for(steward).post(
        f"/api/v1/access-requests/{rid}/approve", {"comment": "x" * 10_001}, format="json"
    )
    assert r.status_code == 400 and "comment" in r.json()["errors"]
    assert AccessRequest.objects.get(pk=rid).status == "pending"


def test_unknown_request_and_dataset_are_404(steward, api_client_for):
    assert api_client_for(steward).post("/api/v1/access-requests/999999/approve").status_code == 404
    assert api_client_for(steward).get("/api/v1/datasets/999999/policy/").status_code == 404


def test_overdue_approval_reads_expired_before_the_sweep(requester, steward, make_dataset, api_client_for):
    """QA F8: once expires_at has passed, readers see "expired" at once, not when the sweep runs."""
    ds = make_dataset("confidential")
    soon = (timezone.now() + timedelta(hours=1)).isoformat()
    rid = _request(api_client_for(requester), [ds], expires_at=soon).json()["id"]
    assert (
        api_client_for(steward).post(f"/api/v1/access-requests/{rid}/approve/", {}, format="json").status_code
        == 200
    )
    AccessRequest.objects.filter(pk=rid).update(expires_at=timezone.now() - timedelta(seconds=1))
    client = api_client_for(requester)
    assert client.get("/api/v1/access-requests/?status=approved").json()["results"] == []
    assert [r["id"] for r in client.get("/api/v1/access-requests/?status=expired").json()["results"]] == [rid]
    body = client.get(f"/api/v1/access-requests/{rid}/").json()
    assert body["status"] == "expired" and body["history"][-1]["action"] == "expired"
    # The sweep finds nothing left to do; revoking the expired grant is refused.
    assert access_requests.expire_due_access_requests() == 0
    r = api_client_for(steward).post(f"/api/v1/access-requests/{rid}/revoke/", {}, format="json")
    assert r.status_code == 409 and "expired" in r.json()["detail"]


def test_request_nobody_could_decide_is_refused(requester, owner, make_user, make_dataset, api_client_for):
    """QA F23: datasets with different owners and no common steward: 400 saying to split by owner."""
    dan = make_user("dan_owner")
    a = make_dataset("confidential")
    b = catalog_services.create_dataset(actor=dan, namespace="s3://mix", name="b", sensitivity="confidential")
    before = _counts()
    r = _request(api_client_for(requester), [a, b])
    assert r.status_code == 400, r.content
    msg = r.json()["errors"]["datasets"][0]
    assert "Split the request by owner" in msg and "dan_owner" in msg and owner.username in msg
    assert _counts() == before
    # Each part on its own goes through.
    assert _request(api_client_for(requester), [a]).status_code == 201
    assert _request(api_client_for(requester), [b]).status_code == 201


def test_restricted_datasets_of_different_owners_cannot_share_a_request(
    requester, owner, steward, make_user, make_dataset, api_client_for
):
    other = make_user("oscar_owner")
    r1 = make_dataset("restricted")
    # Same stewards, different owner: a steward could decide both, but each owner must approve.
    r2 = catalog_services.create_dataset(
        actor=other, namespace="s3://lake", name="r2", sensitivity="restricted", stewards=[steward.username]
    )
    r = _request(api_client_for(requester), [r1, r2])
    assert r.status_code == 400 and "Split the request by owner" in r.json()["detail"]
    # The owner asking for their own restricted dataset could never be approved by the owner either.
    assert _request(api_client_for(owner), [r1]).status_code == 400
    # Confidential datasets with a common steward stay one request.
    c1 = make_dataset("confidential")
    c2 = catalog_services.create_dataset(
        actor=other, namespace="s3://lake", name="c2", sensitivity="confidential", stewards=[steward.username]
    )
    assert _request(api_client_for(requester), [c1, c2]).status_code == 201


def test_requester_withdraws_a_pending_request(requester, steward, outsider, make_dataset, api_client_for):
    ds = make_dataset("confidential")
    rid = _request(api_client_for(requester), [ds]).json()["id"]
    assert api_client_for(steward).post(f"/api/v1/access-requests/{rid}/withdraw/").status_code == 403
    assert api_client_for(outsider).post(f"/api/v1/access-requests/{rid}/withdraw/").status_code == 403
    body = (
        api_client_for(requester)
        .post(f"/api/v1/access-requests/{rid}/withdraw/", {"comment": "not needed"})
        .json()
    )
    assert body["status"] == "withdrawn" and body["history"][-1]["action"] == "withdrawn"
    assert AuditRecord.objects.filter(action="access_request.withdrawn").count() == 1
    # Withdrawn is final: no approval, no second withdrawal.
    assert api_client_for(steward).post(f"/api/v1/access-requests/{rid}/approve/").status_code == 409
    assert api_client_for(requester).post(f"/api/v1/access-requests/{rid}/withdraw/").status_code == 409


def test_a_pending_request_past_its_expiry_is_not_approved(requester, steward, make_dataset, api_client_for):
    """QA G22: it was approved (200), then read expired at once."""
    ds = make_dataset("confidential")
    soon = (timezone.now() + timedelta(hours=1)).isoformat()
    rid = _request(api_client_for(requester), [ds], expires_at=soon).json()["id"]
    AccessRequest.objects.filter(pk=rid).update(expires_at=timezone.now() - timedelta(minutes=1))
    r = api_client_for(steward).post(f"/api/v1/access-requests/{rid}/approve")
    assert r.status_code == 409 and "has passed" in r.json()["detail"]
    assert AccessRequest.objects.get(pk=rid).status == "pending"
    assert not AccessRequest.objects.get(pk=rid).approvals.exists()
