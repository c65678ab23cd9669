"""The clearance generation's row exists from the start, so that answers are cached before the first
change is ever made (a database loaded in bulk, or restored, may see questions long before one)."""

import time

from django.db import migrations


def create_row(apps, schema_editor):
    generation = apps.get_model("governance", "ClearanceGeneration")
    generation.objects.get_or_create(pk=1, defaults={"value": time.time_ns()})


class Migration(migrations.Migration):
    dependencies = [("governance", "0005_clearance_generation")]

    operations = [migrations.RunPython(create_row, migrations.RunPython.noop)]
