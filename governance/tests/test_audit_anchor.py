"""The audit chain's anchor outside the database: truncation, removal of the newest records, a
rewritten chain and a tampered subject index are all found by verify_audit."""

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from governance import audit, audit_anchor, tasks
from governance.models import AuditRecord, AuditSubject
from governance.tests.test_audit import _chain, _tamper

pytestmark = pytest.mark.django_db


def test_an_emptied_chain_no_longer_verifies(owner, capsys):
    _chain(owner, 3)
    call_command("audit_anchor")
    _tamper("DELETE FROM governance_auditsubject", [])
    _tamper("DELETE FROM governance_auditrecord", [])
    with pytest.raises(CommandError, match="no longer holds"):
        call_command("verify_audit")


def test_removing_the_newest_records_is_found(owner):
    _chain(owner, 4)
    audit_anchor.write_anchor()
    newest = AuditRecord.objects.get(seq=4)
    _tamper("DELETE FROM governance_auditsubject WHERE record_id = %s", [newest.pk])
    _tamper("DELETE FROM governance_auditrecord WHERE id = %s", [newest.pk])
    assert audit.first_break() is None  # the shorter chain is consistent in itself...
    with pytest.raises(CommandError, match="seq=4"):  # ...but not with its anchor
        call_command("verify_audit")


def test_a_rewritten_head_with_a_recomputed_hash_is_found(owner):
    _chain(owner, 3)
    audit_anchor.write_anchor()
    head = AuditRecord.objects.get(seq=3)
    head.after = {"n": 999}
    forged = audit.compute_hash(head, head.prev_hash)
    _tamper(
        "UPDATE governance_auditrecord SET after = %s, hash = %s WHERE id = %s",
        ['{"n": 999}', forged, head.pk],
    )
    assert audit.first_break() is None
    with pytest.raises(CommandError, match="rewritten"):
        call_command("verify_audit")


def test_a_forged_anchor_line_is_refused(owner):
    _chain(owner, 2)
    audit_anchor.write_anchor()
    with audit_anchor.anchor_path().open("a") as fh:
        fh.write(
            json.dumps({"seq": 1, "hash": "0" * 64, "at": "2026-01-01T00:00:00+00:00", "hmac": "ab" * 32})
            + "\n"
        )
    with pytest.raises(CommandError, match="signature"):
        call_command("verify_audit")


def test_the_subject_index_is_checked_against_the_hashed_fields(owner):
    _chain(owner, 3)
    second = AuditRecord.objects.get(seq=2)
    _tamper("DELETE FROM governance_auditsubject WHERE record_id = %s", [second.pk])
    with pytest.raises(CommandError, match="subject index"):
        call_command("verify_audit")
    _tamper(
        "INSERT INTO governance_auditsubject (record_id, key) VALUES (%s, %s), (%s, %s)",
        [second.pk, "thing:1", second.pk, "dataset:s3://lake:elsewhere"],
    )
    with pytest.raises(CommandError, match="subject index"):
        call_command("verify_audit")


def test_without_an_anchor_verify_says_what_it_cannot_see(owner, capsys):
    _chain(owner, 2)
    call_command("verify_audit")
    captured = capsys.readouterr()
    assert "no audit anchor" in captured.err
    assert "2 record(s) verified, no anchor" in captured.out


def test_beat_writes_the_anchor(owner, settings):
    assert (
        settings.CELERY_BEAT_SCHEDULE["governance-audit-anchor"]["task"]
        == "governance.tasks.write_audit_anchor"
    )
    assert tasks.write_audit_anchor() is None  # an empty chain: nothing to anchor
    _chain(owner, 2)
    assert tasks.write_audit_anchor() == 2
    assert audit_anchor.latest_anchor().seq == 2


def test_the_anchor_key_comes_from_outside_the_database(owner, settings):
    _chain(owner, 1)
    audit_anchor.write_anchor()
    settings.AUDIT_ANCHOR_KEY = "another key"
    with pytest.raises(audit_anchor.AnchorError, match="signature"):
        audit_anchor.latest_anchor()


@pytest.mark.postgres
def test_postgres_refuses_truncate(owner):
    _chain(owner, 2)
    for table in ("governance_auditrecord", "governance_auditsubject"):
        with pytest.raises(DatabaseError, match="TRUNCATE"), transaction.atomic(), connection.cursor() as cur:
            cur.execute("SET LOCAL gouvernail.allow_audit_truncate = 'off'")
            cur.execute(f"TRUNCATE {table} CASCADE")
    assert AuditRecord.objects.count() == 2 and AuditSubject.objects.count() == 4
