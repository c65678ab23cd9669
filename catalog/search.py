"""Catalog search: what text a dataset is found by, and the query that finds it.

One entry point, ``search(queryset, q)``, with the same ranking rules on both databases:

1. an exact (case-insensitive) name match comes first;
2. then full-text relevance, weighted name > title and tags > columns > descriptions;
3. then namespace and name, so that equal ranks page stably.

Names are split on ``_ . - / :`` and case changes before indexing (``dim_customerOrders`` is
indexed as ``dim customer orders``), so ``customer`` finds ``dim_customer_orders``. Every query word
is stemmed (English) and the last one is a prefix too (people type the last word partly), so
``order`` finds ``orders`` and ``dim cust`` finds ``dim_customer``. Earlier words are whole words:
expanding every word as a prefix makes multi-word queries several times slower on large catalogs.

- PostgreSQL: a weighted ``tsvector`` in ``Dataset.search_vector``, copied into a narrow table
  (``DatasetSearch``: the vector without positions for matching, the name/title/tags part for
  ranking, and the values facets count; both vectors GIN-indexed) so that a search reads ~100 bytes
  per match instead of the ~2 KB catalog row. Ranking is tiered: the matches whose every word is in
  the name, title or tags come first, ranked by ``ts_rank`` of that part alone; the other matches
  follow, ranked by ``ts_rank`` of the whole weighted vector, and are only ranked when a page
  reaches past the first tier (``search_page``).
- SQLite: an FTS5 table ``catalog_dataset_fts`` (rowid = dataset id, porter stemming) ranked with
  ``bm25`` and per-column weights.
- Typos, on both: when nothing matches as written, each word that no dataset holds is replaced by
  the closest word of the vocabulary (``SearchWord``: every word of every dataset's text) and the
  search runs again (``custmer`` → ``customer``). Closest is pg_trgm similarity through a trigram
  index on PostgreSQL, difflib among words of the same first letter and similar length elsewhere.

``index_dataset`` keeps the index and the vocabulary up to date; every catalog service that changes searchable text calls it.
"""

import difflib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import connection
from django.db.models import Case, F, FloatField, IntegerField, Q, QuerySet, Value, When
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, Length, Lower

_SPLIT = re.compile(r"[_.\-/:\s]+|(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_WORD = re.compile(r"\w+")
MAX_QUERY_WORDS = 12

# The four weighted parts of a dataset's searchable text, in tsvector weight order A..D.
PARTS = ("name", "title", "tags", "columns", "description")
PG_CONFIG = "english"
# One tsvector from the parts; A: name, B: title and tags, C: columns, D: descriptions.
PG_VECTOR_SQL = (
    f"setweight(to_tsvector('{PG_CONFIG}', %s), 'A') || "
    f"setweight(to_tsvector('{PG_CONFIG}', %s || ' ' || %s), 'B') || "
    f"setweight(to_tsvector('{PG_CONFIG}', %s), 'C') || "
    f"setweight(to_tsvector('{PG_CONFIG}', %s), 'D')"
)
# ts_rank weights for {D, C, B, A}.
PG_WEIGHTS = [0.05, 0.2, 0.5, 1.0]
# bm25 weights in the FTS5 table's column order: name, title, tags, columns, description.
FTS_WEIGHTS = (10.0, 5.0, 5.0, 2.0, 1.0)
# The SQL below interpolates constants only; every user value is a query parameter.
_PG_UPDATE_SQL = f"UPDATE catalog_dataset SET search_vector = {PG_VECTOR_SQL} WHERE id = %s"  # noqa: S608
# The narrow search table's rows from the catalog rows: one dataset, some or (bulk loads, the
# migration) all of them: index_dataset and every loader run this same statement.
_PG_SEARCH_ROWS_SQL = """
INSERT INTO catalog_datasetsearch
    (dataset_id, owner_id, domain, sensitivity, tag_ids, namespace, name, head, document)
SELECT d.id, d.owner_id, d.domain, d.sensitivity,
       ARRAY(SELECT t.tag_id FROM catalog_dataset_tags t WHERE t.dataset_id = d.id ORDER BY t.tag_id),
       d.namespace, d.name, ts_filter(d.search_vector, '{a,b}'), strip(d.search_vector)
FROM catalog_dataset d WHERE d.search_vector IS NOT NULL AND (%s::bigint[] IS NULL OR d.id = ANY(%s::bigint[]))
ON CONFLICT (dataset_id) DO UPDATE SET owner_id = EXCLUDED.owner_id, domain = EXCLUDED.domain,
    sensitivity = EXCLUDED.sensitivity, tag_ids = EXCLUDED.tag_ids, namespace = EXCLUDED.namespace,
    name = EXCLUDED.name, head = EXCLUDED.head, document = EXCLUDED.document
"""
_PG_CLOSEST_SQL = (
    "SELECT word FROM catalog_searchword WHERE word %% %s ORDER BY similarity(word, %s) DESC, word LIMIT 1"
)
_TSQUERY = f"to_tsquery('{PG_CONFIG}', %s)"
# Constants only; the query words are parameters.
_PG_HITS_SQL = (
    f"SELECT dataset_id FROM catalog_datasetsearch WHERE document @@ to_tsquery('{PG_CONFIG}', %s) "  # noqa: S608
    "UNION SELECT id FROM catalog_dataset WHERE lower(name) = %s"
)
_FTS_HITS_SQL = "SELECT rowid FROM catalog_dataset_fts WHERE catalog_dataset_fts MATCH %s"
# bm25() is lower for better matches; negated so that higher is better on both databases.
_FTS_RANK_SQL = (
    f"(SELECT -bm25(catalog_dataset_fts, {', '.join(str(w) for w in FTS_WEIGHTS)}) "  # noqa: S608
    "FROM catalog_dataset_fts WHERE catalog_dataset_fts MATCH %s AND catalog_dataset_fts.rowid = catalog_dataset.id)"
)
# The narrow table's GIN indexes (made by migration 0004; bulk loaders drop and remake them).
PG_SEARCH_INDEXES = {
    "datasetsearch_document_gin": "CREATE INDEX IF NOT EXISTS {} ON catalog_datasetsearch USING gin (document)",
    "datasetsearch_head_gin": "CREATE INDEX IF NOT EXISTS {} ON catalog_datasetsearch USING gin (head)",
}
# How alike (difflib ratio) a vocabulary word must be to correct a query word, off PostgreSQL.
TYPO_CUTOFF = 0.75
# Words shorter or longer than these are not kept in the vocabulary.
VOCABULARY_LENGTHS = (3, 64)


def split_words(text: str) -> list[str]:
    """``dim_customerOrders.v2`` → ``["dim", "customer", "orders", "v2"]``."""
    return [w.lower() for w in _SPLIT.split(text or "") if w]


def query_words(q: str) -> list[str]:
    """The words of a query as both indexes see them: split like names, punctuation dropped, accents
    composed (NFC: an "e" typed with a combining accent finds "é")."""
    words = [w for part in split_words(unicodedata.normalize("NFC", q)) for w in _WORD.findall(part)]
    return list(dict.fromkeys(words))[:MAX_QUERY_WORDS]


def urn_as_name(q: str) -> str:
    """A query that is a known dataset's URN (``dataset:s3://lake:sales/orders``, as copied from a
    page or an API answer) → that dataset's name, which the search then finds first, as an exact
    name; any other query as it is."""
    text = q.strip()
    if not text.lower().startswith("dataset:"):
        return q
    from django.core.exceptions import ValidationError

    from catalog.selectors import dataset_by_urn

    try:
        found = dataset_by_urn(text)
    except ValidationError:
        return q
    return found.name if found is not None else q


def exact_text(q: str) -> str:
    """The query as an exact (case-insensitive) name: what ``lower(name)`` is compared with."""
    return unicodedata.normalize("NFC", q.strip()).lower()


def search_parts(
    *,
    namespace: str,
    name: str,
    title: str = "",
    description: str = "",
    tags: Iterable[str] = (),
    columns: Iterable[tuple[str, str, Iterable[str]]] = (),
) -> dict[str, str]:
    """The text of each weighted part, from plain values (so bulk loaders can use it without rows).

    ``columns`` holds (name, description, tags) triples.
    """
    col_names: list[str] = []
    col_descriptions: list[str] = []
    for col_name, col_description, col_tags in columns:
        col_names += [" ".join(split_words(col_name)), *col_tags]
        if col_description:
            col_descriptions.append(col_description)
    tags = list(tags)
    return {
        "name": " ".join(split_words(name)),
        "title": title or "",
        "tags": " ".join([*tags, *(w for t in tags for w in split_words(t))]),
        "columns": " ".join(col_names),
        # The namespace is findable, but weakest: every dataset of a lake shares it.
        "description": "\n".join([description or "", *col_descriptions, " ".join(split_words(namespace))]),
    }


def dataset_search_parts(dataset) -> dict[str, str]:
    tags: list[str] = []
    columns: list[tuple[str, str, list[str]]] = []
    if dataset.pk:
        tags = list(dataset.tags.values_list("name", flat=True))
        columns = [(n, d, t or []) for n, d, t in dataset.columns.values_list("name", "description", "tags")]
    return search_parts(
        namespace=dataset.namespace,
        name=dataset.name,
        title=dataset.title,
        description=dataset.description,
        tags=tags,
        columns=columns,
    )


def vocabulary(parts: dict[str, str]) -> set[str]:
    """The words of a dataset's searchable text, as query words are split (for typo correction)."""
    low, high = VOCABULARY_LENGTHS
    return {
        w
        for text in parts.values()
        for part in split_words(text)
        for w in _WORD.findall(part)
        if low <= len(w) <= high and not w.isdigit()
    }


def build_search_text(dataset) -> str:
    """The whole searchable text in one string (kept in ``Dataset.search_text`` for admin and LIKE)."""
    parts = dataset_search_parts(dataset)
    return "\n".join([dataset.name, dataset.namespace, *(parts[p] for p in PARTS if parts[p])])


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


def refresh_search_rows(cursor, ids: list[int] | None) -> None:
    """Write the narrow search table's rows of these datasets (all when None) from their catalog
    rows and vectors (PostgreSQL). Facet values (owner, domain, sensitivity, tags) are copied
    too, so every write that changes them goes through index_dataset."""
    cursor.execute(_PG_SEARCH_ROWS_SQL, [ids, ids])


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


# ---------------------------------------------------------------------------------------------
# Querying


def _exact_name(queryset: QuerySet, q: str) -> tuple[QuerySet, Q, Case]:
    # lower(name) uses the dataset_name_lower_idx expression index.
    queryset = queryset.alias(search_name_lower=Lower("name"))
    cond = Q(search_name_lower=exact_text(q))
    tier = Case(When(cond, then=Value(1)), default=Value(0), output_field=IntegerField())
    return queryset, cond, tier


def _pg_terms(words: list[str]) -> str:
    return " & ".join([*words[:-1], f"{words[-1]}:*"])


def _fts_postgresql(queryset: QuerySet, q: str, words: list[str]) -> QuerySet:
    # The same order as search_page: exact name, then the first tier (every word in the name,
    # title or tags) by the rank of that part, then the rest by the rank of the whole vector.
    tsquery = SearchQuery(_pg_terms(words), search_type="raw", config=PG_CONFIG)
    queryset, exact, tier = _exact_name(queryset, q)
    first = exact | Q(search_row__head=tsquery)
    rank = Case(
        When(first, then=SearchRank(F("search_row__head"), tsquery, weights=PG_WEIGHTS)),
        default=SearchRank(F("search_vector"), tsquery, weights=PG_WEIGHTS),
        output_field=FloatField(),
    )
    # One id list (matches, then exact names) that PostgreSQL reads through both indexes; an OR of
    # conditions on two tables would be checked row by row over the whole catalog instead.
    hits = RawSQL(_PG_HITS_SQL, [_pg_terms(words), exact_text(q)])  # noqa: S611 -- constant SQL
    return (
        queryset.filter(pk__in=hits)
        .annotate(
            search_exact=tier,
            search_first=Case(When(first, then=Value(1)), default=Value(0), output_field=IntegerField()),
            search_rank=Coalesce(rank, Value(0.0), output_field=FloatField()),
        )
        .order_by("-search_exact", "-search_first", "-search_rank", "namespace", "name")
    )


def _fts_sqlite(queryset: QuerySet, q: str, words: list[str]) -> QuerySet:
    # Each word quoted (no FTS5 syntax gets through), the last one a prefix; all words must occur.
    match = " AND ".join([*(f'"{w}"' for w in words[:-1]), f'"{words[-1]}"*'])
    queryset, exact, tier = _exact_name(queryset, q)
    hits = RawSQL(_FTS_HITS_SQL, [match])  # noqa: S611 -- constant SQL; the query is a parameter
    rank = RawSQL(_FTS_RANK_SQL, [match], output_field=FloatField())  # noqa: S611
    return (
        queryset.filter(Q(pk__in=hits) | exact)
        .annotate(search_exact=tier, search_rank=Coalesce(rank, Value(0.0), output_field=FloatField()))
        .order_by("-search_exact", "-search_rank", "namespace", "name")
    )


def _fts_other(queryset: QuerySet, q: str, words: list[str]) -> QuerySet:
    # Any other database: every word somewhere in the denormalised text.
    cond = Q()
    for w in words:
        cond &= Q(search_text__icontains=w)
    queryset, exact, tier = _exact_name(queryset, q)
    return (
        queryset.filter(cond | exact)
        .annotate(search_exact=tier, search_rank=Value(0.0, output_field=FloatField()))
        .order_by("-search_exact", "namespace", "name")
    )


def _closest_word(word: str) -> str | None:
    """The vocabulary word most like ``word`` (a misspelling of it), or None."""
    from catalog.models import SearchWord

    if connection.vendor == "postgresql":
        # pg_trgm similarity above its threshold (0.3), through the trigram index on the vocabulary.
        with connection.cursor() as cursor:
            cursor.execute(_PG_CLOSEST_SQL, [word, word])
            row = cursor.fetchone()
        if row:
            return row[0]
        # Trigrams miss swapped letters in short words (loovka/lovoka share 3 of 11): go on below.
    # Words of a similar length with the same first letter, compared in Python.
    candidates = (
        SearchWord.objects.annotate(length=Length("word"))
        .filter(word__startswith=word[0], length__gte=len(word) - 2, length__lte=len(word) + 2)
        .values_list("word", flat=True)[:20_000]
    )
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=TYPO_CUTOFF)
    return close[0] if close else None


def correct_words(words: list[str]) -> list[str]:
    """Each word that no dataset holds replaced by the closest word that some dataset holds."""
    from catalog.models import SearchWord

    known = set(SearchWord.objects.filter(word__in=words).values_list("word", flat=True))
    return [w if w in known or len(w) < 3 or w.isdigit() else (_closest_word(w) or w) for w in words]


def _pg_any_match(queryset: QuerySet, q: str, words: list[str]) -> bool:
    """Whether ``_fts_postgresql`` finds anything, asked of each index alone (exact name, the
    small vector, the whole text): the one query over all of them would gather every match before
    answering, and a common word is most often found in the small vector's short lists."""
    named, is_exact, _ = _exact_name(queryset, q)
    if named.filter(is_exact).exists():
        return True
    match, params = _pg_match(words)
    extra, extra_params = "", []
    if queryset.query.where:
        within, within_params = queryset.order_by().values("pk").query.sql_with_params()
        extra, extra_params = f" AND s.dataset_id IN ({within})", list(within_params)
    with connection.cursor() as cursor:
        for cond, cond_params in ((f"s.head @@ {_TSQUERY}", [_pg_terms(words)]), (match, params)):
            # A CTE is planned for all of its rows (the GIN bitmap): LIMIT 1 cannot turn it into a
            # scan of the whole table that "will soon find one" (a misspelt word finds none).
            cursor.execute(
                f"WITH h AS MATERIALIZED (SELECT s.dataset_id FROM catalog_datasetsearch s "  # noqa: S608
                f"WHERE {cond}{extra}) SELECT 1 FROM h LIMIT 1",
                [*cond_params, *extra_params],
            )
            if cursor.fetchone() is not None:
                return True
    return False


def search(queryset: QuerySet, q: str, *, words: list[str] | None = None) -> QuerySet:
    """Datasets of ``queryset`` that match ``q``, best match first (see the module docstring).

    When nothing matches as written, misspelt words are corrected against the vocabulary of
    every dataset's text (``custmer`` → ``customer``) and the search runs once more.

    The result is annotated with ``search_exact`` (1 for an exact name match) and ``search_rank``
    (higher is better; comparable within one query only). ``words``: the words a ``search_page``
    of the same question searched for, which skips the check for typos.
    """
    fts = {"postgresql": _fts_postgresql, "sqlite": _fts_sqlite}.get(connection.vendor, _fts_other)
    q = urn_as_name(q or "")
    if words:  # already corrected (SearchPage.words): no need to ask whether anything matches
        return fts(queryset, q, words)
    words = query_words(q)
    if not words:
        return queryset
    found = fts(queryset, q, words)
    if not (_pg_any_match(queryset, q, words) if connection.vendor == "postgresql" else found.exists()):
        corrected = correct_words(words)
        if corrected != words:
            found, words = fts(queryset, q, corrected), corrected
            found.query.search_corrected = True
    # Kept on the query (Django copies it to every clone): search_page(words=...) of the same
    # question then neither checks nor corrects the words again.
    found.query.search_words = words
    return found


def searched_words(queryset: QuerySet) -> list[str] | None:
    """The words a ``search()`` result searched for (typos corrected), or None."""
    return getattr(queryset.query, "search_words", None)


def ranked_page(queryset: QuerySet, *, offset: int, limit: int) -> tuple[list[int], int | None]:
    """(ids of one page of a ``search()`` result in rank order, total matches) in one pass.

    Every match is visited to rank it anyway; counting them in the same pass (``COUNT(*) OVER
    ()``) saves a second visit for the page's count. The total is None when the page is empty.

    On PostgreSQL the ranking runs in a subquery that is not flattened (``OFFSET 0``), so that the
    window counts narrow rows (id, rank, names) instead of carrying every match's tsvector through
    the window, which spilled to disk for common words.
    """
    from django.db.models import Count, Window

    if connection.vendor != "postgresql":
        rows = list(
            queryset.annotate(search_total=Window(Count("pk"))).values_list("pk", "search_total")[
                offset : offset + limit
            ]
        )
        return [pk for pk, _ in rows], (rows[0][1] if rows else None)
    # values_list() aliases every column by its name ("id", "namespace", ...), which the outer query uses.
    inner = queryset.order_by().values_list(
        "id", "namespace", "name", "search_exact", "search_first", "search_rank"
    )
    sql, params = inner.query.sql_with_params()
    outer = (
        f"SELECT s.id, COUNT(*) OVER () FROM ({sql} OFFSET 0) s "  # noqa: S608 -- Django's own SQL
        "ORDER BY s.search_exact DESC, s.search_first DESC, s.search_rank DESC, s.namespace, s.name "
        "LIMIT %s OFFSET %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(outer, [*params, limit, offset])
        rows = cursor.fetchall()
    return [pk for pk, _ in rows], (rows[0][1] if rows else None)


# ---------------------------------------------------------------------------------------------
# One page of a search, its count and its facets from the narrow table (PostgreSQL)


@dataclass
class SearchPage:
    """One page of matches in rank order, how many there are, and (when asked) the facet counts
    over all of them: ``{"owner": [(owner id, n)], "domain": [...], "sensitivity": [...],
    "tag": [(tag id, n)]}``, unsorted."""

    ids: list[int]
    total: int
    counts: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    # The words searched for (typos corrected): search(..., words=page.words) gives the same matches.
    words: list[str] = field(default_factory=list)
    # Whether those are not the words typed (nothing matched them as written).
    corrected: bool = False


# Narrow-table filters a caller may pass as ``where`` (a tag is matched among the dataset's tags).
NARROW_FILTERS = ("owner_id", "domain", "sensitivity", "tag_id")
# Every facet in one pass over the rows of ``scope``: one group per (owner, domain, sensitivity)
# and one per set of tags, added up per value afterwards (a few hundred groups, not every row).
_FACETS_SQL = """
    WITH g AS (
        SELECT s.owner_id, s.domain, s.sensitivity, s.tag_ids, GROUPING(s.tag_ids) AS untagged, COUNT(*) AS n
        -- untagged: 1 on the (owner, domain, sensitivity) groups, 0 on the groups by set of tags
        FROM catalog_datasetsearch s WHERE {scope}
        GROUP BY GROUPING SETS ((s.owner_id, s.domain, s.sensitivity), (s.tag_ids)))
    SELECT 'total', '', COALESCE(SUM(n), 0)::bigint FROM g WHERE untagged = 1
    UNION ALL SELECT 'owner', CAST(owner_id AS TEXT), SUM(n)::bigint FROM g
        WHERE untagged = 1 AND owner_id IS NOT NULL GROUP BY owner_id
    UNION ALL SELECT 'domain', domain, SUM(n)::bigint FROM g WHERE untagged = 1 AND domain <> '' GROUP BY domain
    UNION ALL SELECT 'sensitivity', sensitivity, SUM(n)::bigint FROM g WHERE untagged = 1 GROUP BY sensitivity
    UNION ALL SELECT 'tag', CAST(t AS TEXT), SUM(n)::bigint FROM g CROSS JOIN LATERAL unnest(g.tag_ids) t
        WHERE untagged = 0 GROUP BY t
"""


def _narrow_conditions(where: dict | None, within: QuerySet | None) -> tuple[list[str], list]:
    conds, params = [], []
    for key, value in (where or {}).items():
        if key not in NARROW_FILTERS:
            raise ValueError(f"Not a narrow search filter: {key}")
        conds.append("%s = ANY(s.tag_ids)" if key == "tag_id" else f"s.{key} = %s")
        params.append(value)
    if within is not None and within.query.where:
        sql, within_params = within.order_by().values("pk").query.sql_with_params()
        conds.append(f"s.dataset_id IN ({sql})")
        params += within_params
    return conds, params


def _rows_to_page(rows, ids: list[int]) -> SearchPage:
    counts: dict[str, list[tuple[str, int]]] = {"owner": [], "tag": [], "domain": [], "sensitivity": []}
    total = 0
    for kind, value, n in rows:
        if kind == "total":
            total = n
        elif kind in counts:
            counts[kind].append((value, n))
    return SearchPage(ids=ids, total=total, counts=counts)


def named_counts(raw: dict[str, list[tuple[str, int]]], limit: int) -> dict[str, list[dict]]:
    """``SearchPage.counts`` → ``{facet: [{"value", "count"}]}``: the ``limit`` largest values of each
    facet, largest first, then by value; owners and tags (counted by id) by name. An owner or tag
    deleted since its datasets were indexed is left out rather than shown by its id."""
    from django.contrib.auth import get_user_model

    from catalog.models import Tag

    def candidates(values: list[tuple[str, int]]) -> list[tuple[str, int]]:
        # Every value counted at least as often as the limit-th largest: ties are cut after naming.
        if len(values) <= limit:
            return values
        floor = sorted((n for _, n in values), reverse=True)[limit - 1]
        return [(v, n) for v, n in values if n >= floor]

    named = {facet: candidates(values) for facet, values in raw.items()}
    for facet, model, name_field in (("owner", get_user_model(), "username"), ("tag", Tag, "name")):
        ids = [int(v) for v, _ in named.get(facet, [])]
        names = dict(model.objects.filter(pk__in=ids).values_list("pk", name_field)) if ids else {}
        named[facet] = [(names[int(v)], n) for v, n in named.get(facet, []) if int(v) in names]
    return {
        facet: [{"value": v, "count": n} for v, n in sorted(values, key=lambda vn: (-vn[1], vn[0]))[:limit]]
        for facet, values in named.items()
    }


def narrow_counts(*, where: dict | None = None, within: QuerySet | None = None) -> SearchPage:
    """The number of datasets and the facet counts over all of them (no query text), from the
    narrow table. With no filter, the catalog-wide counts that triggers on that table keep
    (``SearchFacetCount``, migration 0005): current after every write, so no cache is needed."""
    from catalog.models import SearchFacetCount

    conds, params = _narrow_conditions(where, within)
    if not conds:
        return _rows_to_page(SearchFacetCount.objects.filter(n__gt=0).values_list("facet", "value", "n"), [])
    with connection.cursor() as cursor:
        cursor.execute(_FACETS_SQL.format(scope=" AND ".join(conds)), params)
        return _rows_to_page(cursor.fetchall(), [])


def search_page(
    q: str,
    *,
    offset: int,
    limit: int,
    where: dict | None = None,
    within: QuerySet | None = None,
    facets: bool = False,
    words: list[str] | None = None,
) -> SearchPage | None:
    """One page of ``search()``'s answer (same matches, same order), its total and optionally its
    facet counts, reading the narrow table only (PostgreSQL); None when ``q`` holds no word.

    ``where`` narrows by the narrow table's own columns (see NARROW_FILTERS); ``within`` by any
    other condition, as a queryset of datasets (only when it has one).

    Tiers: the matches in the name, title or tags (and exact names) are ranked first, by the rank
    of that part; the count and the facets still count every match. Only a page that reaches past
    that tier ranks the other matches, by the whole weighted vector (read from the catalog row).

    ``words``: those a ``search()`` of the same question settled on (``searched_words``), which
    are used as they are.
    """
    q = urn_as_name(q or "")
    if words:
        page = _search_page(q, words, offset, limit, where, within, facets)
        page.words = words
        return page
    words = query_words(q)
    if not words:
        return None
    page = _search_page(q, words, offset, limit, where, within, facets)
    if page.total == 0:
        corrected = correct_words(words)
        if corrected != words:
            page = _search_page(q, corrected, offset, limit, where, within, facets)
            words = corrected
            page.corrected = True
    page.words = words
    return page


def _pg_match(words: list[str]) -> tuple[str, list]:
    """SQL (on the narrow table, alias ``s``) true for the datasets that hold every word."""
    return f"s.document @@ {_TSQUERY}", [_pg_terms(words)]


_EXACT = "ARRAY(SELECT d0.id FROM catalog_dataset d0 WHERE lower(d0.name) = %s)"


def _search_page(q, words, offset, limit, where, within, facets) -> SearchPage:
    terms = _pg_terms(words)
    # The datasets named exactly q, found inside each statement (an init plan through the
    # lower(name) index) rather than asked for beforehand: one round trip less per search.
    exact = exact_text(q)
    conds, cond_params = _narrow_conditions(where, within)
    extra = "".join(f" AND {c}" for c in conds)
    match, match_params = _pg_match(words)
    scope = f"({match} OR s.dataset_id = ANY({_EXACT})){extra}"
    scope_params = [*match_params, exact, *cond_params]
    # Every match is counted (and grouped for the facets) from the narrow rows alone.
    if facets:
        counted = _FACETS_SQL.format(scope=scope)
    else:
        counted = f"SELECT 'total', '', COUNT(*) FROM catalog_datasetsearch s WHERE {scope}"  # noqa: S608
    # The first tier (exact names, then every word in the name, title or tags) through the small
    # vector's own index, ranked by that vector: only its best offset + limit rows are kept.
    first_sql = f"""
        SELECT s.dataset_id FROM catalog_datasetsearch s
        WHERE (s.dataset_id = ANY({_EXACT}) OR s.head @@ {_TSQUERY}){extra}
        ORDER BY s.dataset_id = ANY({_EXACT}) DESC, ts_rank(%s::real[], s.head, {_TSQUERY}) DESC,
                 s.namespace, s.name
        LIMIT %s
    """  # noqa: S608 -- constant SQL; values are parameters
    first_params = [exact, terms, *cond_params, exact, PG_WEIGHTS, terms, offset + limit]
    with connection.cursor() as cursor:
        cursor.execute(counted, scope_params)
        page = _rows_to_page(cursor.fetchall(), [])
        if not page.total or not limit:  # limit=0: the count (and facets) only
            return page
        cursor.execute(first_sql, first_params)
        first = [r[0] for r in cursor.fetchall()]
    page.ids = first[offset:]
    # Fewer rows than asked for: that was the whole first tier.
    n_first = len(first) if len(first) < offset + limit else None
    if n_first is not None and len(page.ids) < limit and page.total > n_first:
        # The page reaches past the first tier: rank the other matches by the whole vector.
        start = max(0, offset - n_first)
        rest_sql = f"""
            SELECT s.dataset_id FROM catalog_datasetsearch s JOIN catalog_dataset d ON d.id = s.dataset_id
            WHERE {match} AND NOT s.dataset_id = ANY({_EXACT})
              AND NOT COALESCE(s.head @@ {_TSQUERY}, FALSE){extra}
            ORDER BY ts_rank(%s::real[], d.search_vector, {_TSQUERY}) DESC, s.namespace, s.name
            LIMIT %s OFFSET %s
        """  # noqa: S608 -- constant SQL; values are parameters
        rest_params = [
            *match_params,
            exact,
            terms,
            *cond_params,
            PG_WEIGHTS,
            terms,
            limit - len(page.ids),
            start,
        ]
        with connection.cursor() as cursor:
            cursor.execute(rest_sql, rest_params)
            page.ids += [r[0] for r in cursor.fetchall()]
    return page
