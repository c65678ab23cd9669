"""Catalog-wide facet counts for the search page with no query, kept by statement triggers on the
narrow search table (PostgreSQL), and filled once from it here.

A statement trigger sees every row the statement wrote (transition tables), so one dataset, a
bulk load of 100,000 and a delete (cascades included) all move the counts by the same SQL, in the
writer's transaction. Values whose count a statement leaves unchanged are not written, so the
common write (new text, same owner/domain/sensitivity/tags) locks no count row; rows are
written in (facet, value) order so that two writers never lock them in opposite orders.
"""

from django.db import migrations, models

PG_FORWARD = [
    # The facet values one narrow row counts under.
    """
    CREATE OR REPLACE FUNCTION catalog_search_facet_values(
        owner_id bigint, domain text, sensitivity text, tag_ids bigint[]
    ) RETURNS TABLE (facet text, value text) LANGUAGE sql IMMUTABLE AS $$
        SELECT 'total', ''
        UNION ALL SELECT 'owner', owner_id::text WHERE owner_id IS NOT NULL
        UNION ALL SELECT 'domain', domain WHERE domain <> ''
        UNION ALL SELECT 'sensitivity', sensitivity
        UNION ALL SELECT 'tag', t::text FROM unnest(tag_ids) t
    $$
    """,
    # The statement adding up the facet values of rows (d = +1 or -1 each), given as SQL, into the
    # counts. Run by the trigger itself: only its own statements see the transition tables.
    """
    CREATE OR REPLACE FUNCTION catalog_searchfacetcount_sql(rows_sql text) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
        SELECT format($q$
            INSERT INTO catalog_searchfacetcount (facet, value, n)
            SELECT v.facet, v.value, SUM(c.d) FROM (%s) c
            CROSS JOIN LATERAL catalog_search_facet_values(c.owner_id, c.domain, c.sensitivity, c.tag_ids) v
            GROUP BY v.facet, v.value HAVING SUM(c.d) <> 0
            ORDER BY v.facet, v.value
            ON CONFLICT (facet, value) DO UPDATE SET n = catalog_searchfacetcount.n + EXCLUDED.n
        $q$, rows_sql)
    $$
    """,
    """
    CREATE OR REPLACE FUNCTION catalog_searchfacetcount_trigger() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE
        cols text := 'owner_id, domain, sensitivity, tag_ids';
    BEGIN
        IF TG_OP = 'TRUNCATE' THEN
            DELETE FROM catalog_searchfacetcount;
        ELSIF TG_OP = 'INSERT' THEN
            EXECUTE catalog_searchfacetcount_sql(format('SELECT 1 AS d, %s FROM new_rows', cols));
        ELSIF TG_OP = 'DELETE' THEN
            EXECUTE catalog_searchfacetcount_sql(format('SELECT -1 AS d, %s FROM old_rows', cols));
        ELSE
            EXECUTE catalog_searchfacetcount_sql(format(
                'SELECT 1 AS d, %s FROM new_rows UNION ALL SELECT -1, %s FROM old_rows', cols, cols));
        END IF;
        RETURN NULL;
    END $$
    """,
    """CREATE TRIGGER datasetsearch_counts_insert AFTER INSERT ON catalog_datasetsearch
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION catalog_searchfacetcount_trigger()""",
    """CREATE TRIGGER datasetsearch_counts_update AFTER UPDATE ON catalog_datasetsearch
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_searchfacetcount_trigger()""",
    """CREATE TRIGGER datasetsearch_counts_delete AFTER DELETE ON catalog_datasetsearch
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION catalog_searchfacetcount_trigger()""",
    """CREATE TRIGGER datasetsearch_counts_truncate AFTER TRUNCATE ON catalog_datasetsearch
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_searchfacetcount_trigger()""",
    # The datasets indexed so far.
    "DO $$ BEGIN EXECUTE catalog_searchfacetcount_sql("
    "'SELECT 1 AS d, owner_id, domain, sensitivity, tag_ids FROM catalog_datasetsearch'); END $$",
]
PG_BACKWARD = [
    "DROP TRIGGER IF EXISTS datasetsearch_counts_insert ON catalog_datasetsearch",
    "DROP TRIGGER IF EXISTS datasetsearch_counts_update ON catalog_datasetsearch",
    "DROP TRIGGER IF EXISTS datasetsearch_counts_delete ON catalog_datasetsearch",
    "DROP TRIGGER IF EXISTS datasetsearch_counts_truncate ON catalog_datasetsearch",
    "DROP FUNCTION IF EXISTS catalog_searchfacetcount_trigger()",
    "DROP FUNCTION IF EXISTS catalog_searchfacetcount_sql(text)",
    "DROP FUNCTION IF EXISTS catalog_search_facet_values(bigint, text, text, bigint[])",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        # A cursor without parameters: the functions' format() strings hold literal %s.
        with schema_editor.connection.cursor() as cursor:
            for sql in statements_by_vendor.get(schema_editor.connection.vendor, []):
                cursor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0004_search_table"),
    ]

    operations = [
        migrations.CreateModel(
            name="SearchFacetCount",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("facet", models.CharField(max_length=20)),
                ("value", models.CharField(max_length=255)),
                ("n", models.BigIntegerField(default=0)),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("facet", "value"), name="searchfacetcount_unique")
                ],
            },
        ),
        migrations.RunPython(_run({"postgresql": PG_FORWARD}), _run({"postgresql": PG_BACKWARD})),
    ]
