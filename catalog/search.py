"""Catalog search: the query that finds datasets, with the same ranking rules on both databases.

One entry point, ``search(queryset, q)``:

1. an exact (case-insensitive) name match comes first;
2. then full-text relevance, weighted name > title and tags > columns > descriptions;
3. then namespace and name, so that equal ranks page stably.

Every query word is stemmed (English) and the last one is a prefix too (people type the last word
partly), so ``order`` finds ``orders`` and ``dim cust`` finds ``dim_customer``. Earlier words are
whole words: expanding every word as a prefix makes multi-word queries several times slower on
large catalogs.

- PostgreSQL: matching reads the narrow search table (``DatasetSearch``, about 100 bytes per match
  instead of the ~2 KB catalog row). Ranking is tiered: the matches whose every word is in the name,
  title or tags come first, ranked by ``ts_rank`` of that part alone; the other matches follow,
  ranked by ``ts_rank`` of the whole weighted vector, and are only ranked when a page reaches past
  the first tier (``catalog.search_table.search_page``, which pages and counts from that table alone).
- SQLite: the FTS5 table ``catalog_dataset_fts`` ranked with ``bm25`` and per-column weights.
- Typos, on both: when nothing matches as written, each word that no dataset holds is replaced by
  the closest word of the vocabulary (``SearchWord``: every word of every dataset's text) and the
  search runs again (``custmer`` → ``customer``). Closest is pg_trgm similarity through a trigram
  index on PostgreSQL, difflib among words of the same first letter and similar length elsewhere.

How text is split into words is catalog.search_text; keeping the index current is
catalog.search_index.
"""

import difflib

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import connection
from django.db.models import Case, F, FloatField, IntegerField, Q, QuerySet, Value, When
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, Length, Lower

from catalog.search_text import PG_CONFIG, VOCABULARY_LENGTHS, exact_text, query_words

# ts_rank weights for {D, C, B, A}.
PG_WEIGHTS = [0.05, 0.2, 0.5, 1.0]
# bm25 weights in the FTS5 table's column order: name, title, tags, columns, description.
FTS_WEIGHTS = (10.0, 5.0, 5.0, 2.0, 1.0)

_PG_CLOSEST_SQL = (
    "SELECT word FROM catalog_searchword WHERE word %% %s ORDER BY similarity(word, %s) DESC, word LIMIT 1"
)
# A query of words on PostgreSQL (its parameter: pg_terms of the words).
PG_TSQUERY = f"to_tsquery('{PG_CONFIG}', %s)"
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
# How alike (difflib ratio) a vocabulary word must be to correct a query word, off PostgreSQL.
TYPO_CUTOFF = 0.75


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
    return found.name if found is not None and not found.hidden else q


def _exact_name(queryset: QuerySet, q: str) -> tuple[QuerySet, Q, Case]:
    # lower(name) uses the dataset_name_lower_idx expression index.
    queryset = queryset.alias(search_name_lower=Lower("name"))
    cond = Q(search_name_lower=exact_text(q))
    tier = Case(When(cond, then=Value(1)), default=Value(0), output_field=IntegerField())
    return queryset, cond, tier


def pg_terms(words: list[str]) -> str:
    """The words as a raw tsquery: all of them, the last one a prefix (``dim & cust:*``)."""
    return " & ".join([*words[:-1], f"{words[-1]}:*"])


def pg_match(words: list[str]) -> tuple[str, list]:
    """SQL (on the narrow table, alias ``s``) true for the datasets that hold every word."""
    return f"s.document @@ {PG_TSQUERY}", [pg_terms(words)]


def _fts_postgresql(queryset: QuerySet, q: str, words: list[str]) -> QuerySet:
    # The same order as search_page: exact name, then the first tier (every word in the name,
    # title or tags) by the rank of that part, then the rest by the rank of the whole vector.
    tsquery = SearchQuery(pg_terms(words), search_type="raw", config=PG_CONFIG)
    queryset, exact, tier = _exact_name(queryset, q)
    first = exact | Q(search_row__head=tsquery)
    rank = Case(
        When(first, then=SearchRank(F("search_row__head"), tsquery, weights=PG_WEIGHTS)),
        default=SearchRank(F("search_vector"), tsquery, weights=PG_WEIGHTS),
        output_field=FloatField(),
    )
    # One id list (matches, then exact names) that PostgreSQL reads through both indexes; an OR of
    # conditions on two tables would be checked row by row over the whole catalog instead.
    hits = RawSQL(_PG_HITS_SQL, [pg_terms(words), exact_text(q)])  # noqa: S611 -- constant SQL
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
    """Each word that no dataset holds replaced by the closest word that some dataset holds.

    Only words of the vocabulary's lengths are corrected: no longer word can be a misspelling of
    one it holds, and comparing a long one (its trigrams) with every word costs the most."""
    from catalog.models import SearchWord

    low, high = VOCABULARY_LENGTHS
    known = set(SearchWord.objects.filter(word__in=words).values_list("word", flat=True))
    return [
        w if w in known or not low <= len(w) <= high or w.isdigit() else (_closest_word(w) or w)
        for w in words
    ]


def _pg_any_match(queryset: QuerySet, q: str, words: list[str]) -> bool:
    """Whether ``_fts_postgresql`` finds anything, asked of each index alone (exact name, the
    small vector, the whole text): the one query over all of them would gather every match before
    answering, and a common word is most often found in the small vector's short lists."""
    named, is_exact, _ = _exact_name(queryset, q)
    if named.filter(is_exact).exists():
        return True
    match, params = pg_match(words)
    extra, extra_params = "", []
    if queryset.query.where:
        within, within_params = queryset.order_by().values("pk").query.sql_with_params()
        extra, extra_params = f" AND s.dataset_id IN ({within})", list(within_params)
    with connection.cursor() as cursor:
        for cond, cond_params in ((f"s.head @@ {PG_TSQUERY}", [pg_terms(words)]), (match, params)):
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
