"""The audit chain: what is recorded, append-only everywhere, tamper evidence, and its API."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from catalog import services as catalog_services
from governance import access_requests, audit, dataset_policies
from governance.models import AppendOnlyError, AuditRecord, AuditSubject

pytestmark = pytest.mark.django_db


def _chain(actor, n=3):
    for i in range(n):
        audit.record(
            actor=actor,
            via="api",
            action="test.step",
            object_type="thing",
            object_id=i,
            object_urns=[f"dataset:s3://lake:t{i}"],
            before={"n": i},
            after={"n": i + 1, "f": 0.1},
        )


def test_records_chain_by_hash(owner):
    _chain(owner)
    recs = list(AuditRecord.objects.order_by("seq"))
    assert [r.seq for r in recs] == [1, 2, 3]
    assert recs[0].prev_hash == audit.GENESIS
    assert all(b.prev_hash == a.hash for a, b in zip(recs, recs[1:]))
    assert all(audit.compute_hash(r, r.prev_hash) == r.hash for r in recs)
    assert recs[0].actor == owner.username and recs[0].actor_id == owner.pk
    assert audit.first_break() is None


def test_records_appended_together_chain_as_one_by_one(owner):
    _chain(owner, n=2)
    entries = [
        audit.Entry(
            owner, "mlflow", "test.batch", "thing", i, [f"dataset:s3://lake:b{i}", ""], None, {"i": i}
        )
        for i in range(3)
    ] + [audit.Entry(None, "nonsense", "test.batch", "thing", 9)]
    recs = audit.record_many(entries)
    assert [r.seq for r in recs] == [3, 4, 5, 6]
    assert recs[0].prev_hash == AuditRecord.objects.get(seq=2).hash
    assert all(b.prev_hash == a.hash for a, b in zip(recs, recs[1:]))
    assert recs[0].object_urns == ["dataset:s3://lake:b0"] and recs[3].via == "system" and recs[3].actor == ""
    assert set(AuditSubject.objects.filter(record=recs[1]).values_list("key", flat=True)) == {
        "thing:1",
        "dataset:s3://lake:b1",
    }
    assert audit.first_break() is None
    assert audit.record_many([]) == []


def test_orm_cannot_update_or_delete(owner):
    _chain(owner, 1)
    rec = AuditRecord.objects.get()
    rec.action = "forged"
    with pytest.raises(AppendOnlyError):
        rec.save()
    with pytest.raises(AppendOnlyError):
        rec.delete()
    with pytest.raises(AppendOnlyError):
        AuditRecord.objects.filter(pk=rec.pk).update(action="forged")
    with pytest.raises(AppendOnlyError):
        AuditRecord.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        AuditSubject.objects.all().delete()
    assert AuditRecord.objects.get().action == "test.step"


def _tamper(sql: str, params: list) -> None:
    """What someone with direct database access does; on PostgreSQL a superuser who bypasses triggers."""
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("SET session_replication_role = replica")
        try:
            cur.execute(sql, params)
        finally:
            if connection.vendor == "postgresql":
                cur.execute("SET session_replication_role = DEFAULT")


def test_verify_audit_finds_the_first_altered_record(owner, capsys):
    _chain(owner, 4)
    call_command("verify_audit")
    assert "4 record(s) verified" in capsys.readouterr().out
    second = AuditRecord.objects.get(seq=2)
    _tamper("UPDATE governance_auditrecord SET after = %s WHERE id = %s", ['{"n": 99}', second.pk])
    with pytest.raises(CommandError, match="seq=2"):
        call_command("verify_audit")


def test_verify_audit_finds_a_removed_record(owner):
    _chain(owner, 3)
    second = AuditRecord.objects.get(seq=2)
    _tamper("DELETE FROM governance_auditsubject WHERE record_id = %s", [second.pk])
    _tamper("DELETE FROM governance_auditrecord WHERE id = %s", [second.pk])
    with pytest.raises(CommandError, match="seq=3"):
        call_command("verify_audit")


@pytest.mark.postgres
def test_postgres_trigger_refuses_raw_sql(owner):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL=postgres://...)")
    from django.db import DatabaseError

    _chain(owner, 2)
    pk = AuditRecord.objects.get(seq=1).pk
    for sql in (
        "UPDATE governance_auditrecord SET action = 'x' WHERE id = %s",
        "DELETE FROM governance_auditrecord WHERE id = %s",
        "DELETE FROM governance_auditsubject WHERE record_id = %s",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cur,
        ):
            cur.execute(sql, [pk])
    call_command("verify_audit")


def test_catalog_changes_are_audited(owner, steward, outsider, staff, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        ds = catalog_services.create_dataset(
            actor=owner, namespace="s3://lake", name="audited", sensitivity="confidential", via="ui"
        )
    with django_capture_on_commit_callbacks(execute=True):
        catalog_services.update_dataset(
            actor=owner,
            dataset=ds,
            stewards=[steward.username],
            sensitivity="restricted",
            title="not audited",
        )
    with django_capture_on_commit_callbacks(execute=True):
        catalog_services.update_dataset(actor=owner, dataset=ds, title="only a title")
    with django_capture_on_commit_callbacks(execute=True):
        # Through the admin, as staff: handed over at once (an owner's hand-over is an offer).
        catalog_services.update_dataset(actor=staff, dataset=ds, owner=outsider.username, via="admin")
    recs = list(AuditRecord.objects.filter(object_type="dataset").order_by("seq"))
    assert [r.action for r in recs] == ["dataset.created", "dataset.changed", "dataset.changed"]
    assert recs[0].via == "ui" and recs[0].after["sensitivity"] == "confidential"
    assert recs[1].before == {"stewards": [], "sensitivity": "confidential"}
    assert recs[1].after == {"stewards": [steward.username], "sensitivity": "restricted"}
    assert recs[2].via == "admin" and recs[2].after == {"owner": outsider.username}
    assert all(r.object_urns == [ds.urn] for r in recs)
    with django_capture_on_commit_callbacks(execute=True):
        ds.refresh_from_db()
        catalog_services.delete_dataset(actor=outsider, dataset=ds)
    assert AuditRecord.objects.order_by("-seq").first().action == "dataset.deleted"


def test_audit_api_lists_request_events_under_each_dataset(
    requester, owner, steward, make_dataset, api_client_for
):
    a, b = make_dataset("confidential"), make_dataset("confidential")
    req = access_requests.create_access_request(
        actor=requester, datasets=[a.urn, b.urn], purpose="training", justification="x"
    )
    access_requests.approve_access_request(actor=steward, request=req)
    client = api_client_for(requester)
    for ref in (a.urn, str(a.pk), b.urn, f"access_request:{req.pk}"):
        body = client.get("/api/v1/audit/", {"object": ref}).json()
        actions = [r["action"] for r in body["results"]]
        assert actions[:2] == ["access_request.approved", "access_request.created"], (ref, actions)
        seqs = [r["seq"] for r in body["results"]]
        assert seqs == sorted(seqs, reverse=True)
    assert client.get("/api/v1/audit/", {"object": "dataset:s3://lake:none"}).json()["count"] == 0
    rec = body["results"][0]
    detail = client.get(f"/api/v1/audit/{rec['id']}/").json()
    assert detail["hash"] == rec["hash"] and detail["actor"] == steward.username and detail["via"] == "api"
    assert detail["before"]["status"] == "pending" and detail["after"]["status"] == "approved"


def test_audit_api_refuses_changes(owner, staff, api_client_for, anon_client):
    _chain(owner, 1)
    pk = AuditRecord.objects.get().pk
    client = api_client_for(staff)
    assert client.put(f"/api/v1/audit/{pk}/", {"action": "x"}, format="json").status_code == 405
    assert client.patch(f"/api/v1/audit/{pk}/", {"action": "x"}, format="json").status_code == 405
    assert client.delete(f"/api/v1/audit/{pk}/").status_code == 405
    assert client.post("/api/v1/audit/", {"action": "x"}, format="json").status_code == 405
    assert anon_client.get("/api/v1/audit/").status_code == 401
    assert AuditRecord.objects.get().action == "test.step"


def test_verify_audit_all_lists_every_break(owner):
    _chain(owner, 3)
    for seq in (1, 3):
        rec = AuditRecord.objects.get(seq=seq)
        _tamper("UPDATE governance_auditrecord SET actor = %s WHERE id = %s", ["mallory", rec.pk])
    breaks = list(audit.iter_breaks())
    assert [b.seq for b in breaks] == [1, 3]
    with pytest.raises(CommandError, match="seq=1"):
        call_command("verify_audit", "--all")


def test_quality_suite_changes_are_audited(owner, make_dataset, django_capture_on_commit_callbacks):
    from profiling import suites as profiling_services

    ds = make_dataset("internal")
    with django_capture_on_commit_callbacks(execute=True):
        profiling_services.save_suite(
            actor=owner,
            dataset=ds,
            expectations=[{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}}],
        )
    rec = AuditRecord.objects.get(action="quality_suite.changed")
    assert rec.actor == owner.username and rec.object_urns == [ds.urn]
    assert rec.after["expectations"] == 1 and rec.after["expectation_suite.version"] == 1


def test_audit_api_shows_request_records_only_to_those_who_see_the_request(
    requester, owner, steward, outsider, staff, make_dataset, api_client_for
):
    """QA F7: request records reach the requester, the deciders and staff; dataset records everyone."""
    ds = make_dataset("restricted")
    req = access_requests.create_access_request(
        actor=requester, datasets=[ds.urn], purpose="training", justification="secret project"
    )
    access_requests.approve_access_request(actor=steward, request=req)

    def actions(user, **params):
        body = api_client_for(user).get("/api/v1/audit/", params).json()
        return [r["action"] for r in body["results"]]

    for user in (requester, owner, steward, staff):
        for params in ({}, {"object": ds.urn}, {"object": f"access_request:{req.pk}"}):
            assert "access_request.created" in actions(user, **params), (user, params)
    assert [a for a in actions(outsider) if a.startswith("access_request.")] == []
    assert actions(outsider, object=f"access_request:{req.pk}") == []
    # The dataset's own history stays readable to every signed-in user.
    dataset_policies.set_dataset_policy(actor=owner, dataset=ds, max_approval_days=30)
    assert actions(outsider, object=ds.urn) == ["policy.changed"]
    rec = AuditRecord.objects.filter(object_type="access_request").first()
    assert api_client_for(outsider).get(f"/api/v1/audit/{rec.pk}/").status_code == 404
    assert api_client_for(requester).get(f"/api/v1/audit/{rec.pk}/").status_code == 200
