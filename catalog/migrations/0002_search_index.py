"""Full-text search indexes: a weighted tsvector with GIN + pg_trgm on PostgreSQL, FTS5 on SQLite.

Each database gets only its own half; the other half is a no-op, so the same migration runs on
both. Existing rows are indexed by ``manage.py catalog_reindex`` (the skeleton had no data).
"""

import django.contrib.postgres.search
from django.db import migrations

PG_FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS dataset_search_vector_gin ON catalog_dataset USING gin (search_vector)",
    # Typo tolerance: word similarity of the query against names (pg_trgm lower-cases by itself).
    "CREATE INDEX IF NOT EXISTS dataset_name_trgm_gin ON catalog_dataset USING gin (name gin_trgm_ops)",
]
PG_BACKWARD = [
    "DROP INDEX IF EXISTS dataset_name_trgm_gin",
    "DROP INDEX IF EXISTS dataset_search_vector_gin",
]
# rowid is the dataset id. Column order fixes the bm25() weights in catalog.search.
SQLITE_FORWARD = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS catalog_dataset_fts USING fts5("
    "name, title, tags, columns, description, "
    "tokenize = 'porter unicode61 remove_diacritics 2', prefix = '2 3')"
]
SQLITE_BACKWARD = ["DROP TABLE IF EXISTS catalog_dataset_fts"]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for sql in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="dataset",
            name="search_vector",
            field=django.contrib.postgres.search.SearchVectorField(editable=False, null=True),
        ),
        migrations.RunPython(
            _run({"postgresql": PG_FORWARD, "sqlite": SQLITE_FORWARD}),
            _run({"postgresql": PG_BACKWARD, "sqlite": SQLITE_BACKWARD}),
        ),
    ]
