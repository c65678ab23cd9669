"""On PostgreSQL, refuse TRUNCATE on the audit tables too (UPDATE and DELETE are refused by 0002).

A session that sets ``gouvernail.allow_audit_truncate = 'on'`` may truncate: the test suite's
flush between tests does (config/test_settings.py). That setting, like dropping the trigger, is
open to whoever controls the database session: the guard stops mistakes and naive tampering, and
the anchor outside the database (governance/audit_anchor.py) is what shows a determined one.
"""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION governance_audit_no_truncate() RETURNS trigger AS $$
BEGIN
    IF coalesce(current_setting('gouvernail.allow_audit_truncate', true), '') = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'audit records are append-only: TRUNCATE on % refused', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""

TABLES = ["governance_auditrecord", "governance_auditsubject"]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION, params=None)
    for table in TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION governance_audit_no_truncate();"
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};")
    schema_editor.execute("DROP FUNCTION IF EXISTS governance_audit_no_truncate();")


class Migration(migrations.Migration):
    dependencies = [("governance", "0003_access_request_withdrawn")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
