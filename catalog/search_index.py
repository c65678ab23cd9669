"""Keeping the search index current: every catalog write that changes a dataset's searchable text
calls ``index_dataset`` (or, for datasets registered in bulk, ``index_new_datasets``).

- PostgreSQL: a weighted ``tsvector`` in ``Dataset.search_vector``, copied into the narrow search
  table (``DatasetSearch``: the vector without positions for matching, the name/title/tags part for
  ranking, and the values facets count; both vectors GIN-indexed), which catalog.search_table reads.
- SQLite: an FTS5 table ``catalog_dataset_fts`` (rowid = dataset id, porter stemming).
- Both: the vocabulary (``SearchWord``) that misspelt query words are corrected against.

What text is indexed is catalog.search_text.
"""

from django.db import connection
from django.db.models import QuerySet

from catalog.search_text import PARTS, PG_CONFIG, dataset_search_parts, search_parts, vocabulary

# One tsvector from the parts; A: name, B: title and tags, C: columns, D: descriptions.
PG_VECTOR_SQL = (
    f"setweight(to_tsvector('{PG_CONFIG}', %s), 'A') || "
    f"setweight(to_tsvector('{PG_CONFIG}', %s || ' ' || %s), 'B') || "
    f"setweight(to_tsvector('{PG_CONFIG}', %s), 'C') || "
    f"setweight(to_tsvector('{PG_CONFIG}', %s), 'D')"
)
# The SQL below interpolates constants only; every user value is a query parameter.
_PG_UPDATE_SQL = f"UPDATE catalog_dataset SET search_vector = {PG_VECTOR_SQL} WHERE id = %s"  # noqa: S608
# The narrow search table's rows from the catalog rows: one dataset, some or (bulk loads, the
# migration) all of them: index_dataset and every loader run this same statement.
_PG_SEARCH_ROWS_SQL = """
INSERT INTO catalog_datasetsearch
    (dataset_id, owner_id, domain, sensitivity, tag_ids, namespace, name{hidden}, head, document)
SELECT d.id, d.owner_id, d.domain, d.sensitivity,
       ARRAY(SELECT t.tag_id FROM catalog_dataset_tags t WHERE t.dataset_id = d.id ORDER BY t.tag_id),
       d.namespace, d.name{d_hidden}, ts_filter(d.search_vector, '{{a,b}}'), strip(d.search_vector)
FROM catalog_dataset d WHERE d.search_vector IS NOT NULL AND (%s::bigint[] IS NULL OR d.id = ANY(%s::bigint[]))
ON CONFLICT (dataset_id) DO UPDATE SET owner_id = EXCLUDED.owner_id, domain = EXCLUDED.domain,
    sensitivity = EXCLUDED.sensitivity, tag_ids = EXCLUDED.tag_ids, namespace = EXCLUDED.namespace,
    name = EXCLUDED.name{set_hidden}, head = EXCLUDED.head, document = EXCLUDED.document
"""
_PG_SEARCH_ROWS = {
    True: _PG_SEARCH_ROWS_SQL.format(
        hidden=", hidden", d_hidden=", d.hidden", set_hidden=", hidden = EXCLUDED.hidden"
    ),
    False: _PG_SEARCH_ROWS_SQL.format(hidden="", d_hidden="", set_hidden=""),
}
# The narrow table's GIN indexes (made by migration 0004; bulk loaders drop and remake them).
PG_SEARCH_INDEXES = {
    "datasetsearch_document_gin": "CREATE INDEX IF NOT EXISTS {} ON catalog_datasetsearch USING gin (document)",
    "datasetsearch_head_gin": "CREATE INDEX IF NOT EXISTS {} ON catalog_datasetsearch USING gin (head)",
}


def index_dataset(dataset) -> None:
    """Refresh the text a dataset is found by (called by every catalog write that changes it)."""
    if not dataset.pk:
        return
    parts = dataset_search_parts(dataset)
    text = "\n".join([dataset.name, dataset.namespace, *(parts[p] for p in PARTS if parts[p])])
    if text != dataset.search_text:
        type(dataset).objects.filter(pk=dataset.pk).update(search_text=text)
        dataset.search_text = text
    from catalog.models import SearchWord

    SearchWord.objects.bulk_create(
        [SearchWord(word=w) for w in sorted(vocabulary(parts))], ignore_conflicts=True
    )
    values = [parts[p] for p in PARTS]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_PG_UPDATE_SQL, [*values, dataset.pk])
            refresh_search_rows(cursor, [dataset.pk])
        elif connection.vendor == "sqlite":
            cursor.execute("DELETE FROM catalog_dataset_fts WHERE rowid = %s", [dataset.pk])
            cursor.execute(
                "INSERT INTO catalog_dataset_fts (rowid, name, title, tags, columns, description) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                [dataset.pk, *values],
            )


def index_new_datasets(datasets: list) -> None:
    """Search index entries for freshly registered datasets (no title, tags nor columns yet), in bulk:
    the same text ``index_dataset`` would write, a few statements for any number of rows."""
    from catalog.models import Dataset, SearchWord

    words: set[str] = set()
    rows = []
    for d in datasets:
        parts = search_parts(namespace=d.namespace, name=d.name)
        words |= vocabulary(parts)
        rows.append([parts[p] for p in PARTS] + [d.pk])
    SearchWord.objects.bulk_create([SearchWord(word=w) for w in sorted(words)], ignore_conflicts=True)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.executemany(
                f"UPDATE {Dataset._meta.db_table} SET search_vector = {PG_VECTOR_SQL} WHERE id = %s",  # noqa: S608
                rows,
            )
            refresh_search_rows(cursor, [d.pk for d in datasets])
        elif connection.vendor == "sqlite":
            cursor.executemany(
                "INSERT INTO catalog_dataset_fts (name, title, tags, columns, description, rowid) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                rows,
            )


def refresh_search_rows(cursor, ids: list[int] | None, *, hidden: bool = True) -> None:
    """Write the narrow search table's rows of these datasets (all when None) from their catalog
    rows and vectors (PostgreSQL). Facet values (owner, domain, sensitivity, tags) and the hidden
    flag are copied too, so every write that changes them goes through index_dataset.
    ``hidden=False``: for migration 0004, which runs before the flag's columns exist (0011, 0012)."""
    cursor.execute(_PG_SEARCH_ROWS[hidden], [ids, ids])


def unindex_dataset(dataset_id: int) -> None:
    """Forget a dataset (a deleted one's PostgreSQL rows go with it; this also serves tests)."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("DELETE FROM catalog_dataset_fts WHERE rowid = %s", [dataset_id])
        elif connection.vendor == "postgresql":
            cursor.execute("DELETE FROM catalog_datasetsearch WHERE dataset_id = %s", [dataset_id])


def rebuild_index(queryset: QuerySet | None = None, *, batch: int = 500) -> int:
    """Index every dataset again (after a bulk load or a change of the indexed text) → count."""
    from catalog.models import Dataset

    queryset = queryset if queryset is not None else Dataset.objects.all()
    count = 0
    for dataset in queryset.order_by("pk").iterator(chunk_size=batch):
        index_dataset(dataset)
        count += 1
    return count
