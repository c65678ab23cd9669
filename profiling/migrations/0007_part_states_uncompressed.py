"""The parts' states are stored uncompressed on PostgreSQL (STORAGE EXTERNAL): TOAST's pglz took
0.6 s of the database's CPU to store a 14 MiB state of the 10M-row reference file (0.15 s
uncompressed), CPU taken from the workers on the same machine, and a state lives only until its
run's merge. SQLite stores bytes as they come."""

from django.db import migrations

COLUMNS = ("state", "quality_state")


def storage(kind: str):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        table = schema_editor.quote_name(apps.get_model("profiling", "ProfilePart")._meta.db_table)
        for column in COLUMNS:
            schema_editor.execute(
                f"ALTER TABLE {table} ALTER COLUMN {schema_editor.quote_name(column)} SET STORAGE {kind}"
            )

    return apply


class Migration(migrations.Migration):
    dependencies = [
        ("profiling", "0006_part_quality_state"),
    ]

    operations = [
        migrations.RunPython(storage("EXTERNAL"), storage("EXTENDED")),
    ]
