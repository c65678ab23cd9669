"""Jobs remember who recorded them (lineage.permissions): existing jobs from their first event."""

from django.db import migrations, models


def backfill(apps, schema_editor):
    Node = apps.get_model("lineage", "Node")
    LineageEvent = apps.get_model("lineage", "LineageEvent")
    first: dict[str, str] = {}
    rows = (
        LineageEvent.objects.exclude(job_key="")
        .exclude(received_by="")
        .order_by("id")
        .values_list("job_key", "received_by")
    )
    for key, user in rows.iterator(chunk_size=2000):
        first.setdefault(key, user)
    for node in (
        Node.objects.filter(kind="JOB", key__in=list(first)).only("pk", "key").iterator(chunk_size=2000)
    ):
        Node.objects.filter(pk=node.pk).update(recorded_by=first[node.key])


class Migration(migrations.Migration):
    dependencies = [
        ("lineage", "0003_event_state"),
    ]

    operations = [
        migrations.AddField(
            model_name="node",
            name="recorded_by",
            field=models.CharField(blank=True, max_length=150),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
