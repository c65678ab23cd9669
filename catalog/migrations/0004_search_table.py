"""The narrow search table (PostgreSQL): what a search reads per match, ~100 bytes instead of the
~2 KB catalog row. Existing datasets are copied in by the same statement index_dataset runs.

The GIN index on catalog_dataset.search_vector is dropped: matching now uses the narrow table's
own index, and the catalog row's vector is only read to rank the matches of the lower tier.
"""

import django.contrib.postgres.fields
import django.contrib.postgres.search
import django.db.models.deletion
from django.db import migrations, models


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # The statement and indexes production keeps them with (catalog.search_index), run once for every row.
    from catalog.search_index import PG_SEARCH_INDEXES, refresh_search_rows

    with schema_editor.connection.cursor() as cursor:
        refresh_search_rows(cursor, None, hidden=False)  # the hidden flag comes with 0011 and 0012
    for name, sql in PG_SEARCH_INDEXES.items():
        schema_editor.execute(sql.format(name))
    schema_editor.execute("ANALYZE catalog_datasetsearch")  # plans right from the first search
    schema_editor.execute("DROP INDEX IF EXISTS dataset_search_vector_gin")


def backward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS dataset_search_vector_gin ON catalog_dataset USING gin (search_vector)"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0003_search_words"),
    ]

    operations = [
        migrations.CreateModel(
            name="DatasetSearch",
            fields=[
                (
                    "dataset",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="search_row",
                        serialize=False,
                        to="catalog.dataset",
                    ),
                ),
                ("owner_id", models.BigIntegerField(null=True)),
                ("domain", models.CharField(blank=True, max_length=100)),
                ("sensitivity", models.CharField(max_length=20)),
                (
                    "tag_ids",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.BigIntegerField(), default=list, size=None
                    ),
                ),
                ("namespace", models.CharField(max_length=255)),
                ("name", models.CharField(max_length=255)),
                ("head", django.contrib.postgres.search.SearchVectorField(null=True)),
                ("document", django.contrib.postgres.search.SearchVectorField(null=True)),
            ],
        ),
        migrations.RunPython(forward, backward),
    ]
