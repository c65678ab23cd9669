from django.db import migrations, models


def queue_deferred_events(apps, schema_editor):
    """Events deferred before the fold existed were applied by one task each, which may have given
    up (five retries): mark them pending so the folder applies them (applying twice is harmless)."""
    LineageEvent = apps.get_model("lineage", "LineageEvent")
    LineageEvent.objects.filter(deferred=True).update(state="pending")


class Migration(migrations.Migration):
    dependencies = [
        ("lineage", "0002_event_deferred"),
    ]

    operations = [
        migrations.AddField(
            model_name="lineageevent",
            name="error",
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name="lineageevent",
            name="state",
            field=models.CharField(
                choices=[("applied", "Applied"), ("pending", "Pending"), ("failed", "Failed")],
                default="applied",
                max_length=8,
            ),
        ),
        migrations.AddIndex(
            model_name="lineageevent",
            index=models.Index(
                condition=models.Q(("state", "applied"), _negated=True),
                fields=["state", "id"],
                name="lineage_event_unapplied",
            ),
        ),
        migrations.RunPython(queue_deferred_events, migrations.RunPython.noop),
    ]
