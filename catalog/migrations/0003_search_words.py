"""The search vocabulary (typo correction), with a trigram index on PostgreSQL.

Existing datasets' words are added by ``manage.py catalog_reindex``.
"""

from django.db import migrations, models

PG_FORWARD = [
    "CREATE INDEX IF NOT EXISTS searchword_word_trgm_gin ON catalog_searchword USING gin (word gin_trgm_ops)"
]
PG_BACKWARD = ["DROP INDEX IF EXISTS searchword_word_trgm_gin"]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for sql in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0002_search_index"),
    ]

    operations = [
        migrations.CreateModel(
            name="SearchWord",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("word", models.CharField(max_length=64, unique=True)),
            ],
        ),
        migrations.RunPython(_run({"postgresql": PG_FORWARD}), _run({"postgresql": PG_BACKWARD})),
    ]
