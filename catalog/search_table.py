"""One page of a search, its count and its facet counts, read from the narrow search table alone
(PostgreSQL): the API's and the search page's searches there, and the counts of a page with no query.

The same matches in the same order as ``catalog.search.search``; see that module for the ranking.
"""

from dataclasses import dataclass, field

from django.db import connection
from django.db.models import QuerySet

from catalog.search import PG_TSQUERY, PG_WEIGHTS, correct_words, pg_match, pg_terms, urn_as_name
from catalog.search_text import exact_text, query_words


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


def _hidden_condition(hidden_seen: list[int] | None) -> tuple[list[str], list]:
    """The narrow table's condition for hidden datasets (catalog.visibility): ``hidden_seen`` the ids
    of those the user may see, None when they see all (staff)."""
    if hidden_seen is None:
        return [], []
    if not hidden_seen:
        return ["NOT s.hidden"], []
    return ["(NOT s.hidden OR s.dataset_id = ANY(%s))"], [list(hidden_seen)]


def _narrow_conditions(
    where: dict | None, within: QuerySet | None, hidden_seen: list[int] | None = ()
) -> tuple[list[str], list]:
    conds, params = _hidden_condition(hidden_seen)
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
    # A value may come in more than one row (the catalog-wide counts plus the hidden datasets a
    # user may see): added up.
    summed: dict[str, dict[str, int]] = {"owner": {}, "tag": {}, "domain": {}, "sensitivity": {}}
    total = 0
    for kind, value, n in rows:
        if kind == "total":
            total += n
        elif kind in summed:
            summed[kind][value] = summed[kind].get(value, 0) + n
    counts = {kind: list(values.items()) for kind, values in summed.items()}
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


def narrow_counts(
    *, where: dict | None = None, within: QuerySet | None = None, hidden_seen: list[int] | None = ()
) -> SearchPage:
    """The number of datasets and the facet counts over all of them (no query text), from the
    narrow table. With no filter, the catalog-wide counts that triggers on that table keep
    (``SearchFacetCount``, migrations 0005 and 0012: hidden datasets left out), current after every
    write, so no cache is needed, plus the counts of the hidden datasets ``hidden_seen`` names (all
    when None) counted on the spot: few rows."""
    from catalog.models import SearchFacetCount

    conds, params = _narrow_conditions(where, within, None)
    if not conds:
        rows = list(SearchFacetCount.objects.filter(n__gt=0).values_list("facet", "value", "n"))
        if hidden_seen is None or hidden_seen:
            scope, scope_params = "s.hidden", []
            if hidden_seen:
                scope, scope_params = "s.hidden AND s.dataset_id = ANY(%s)", [list(hidden_seen)]
            with connection.cursor() as cursor:
                cursor.execute(_FACETS_SQL.format(scope=scope), scope_params)
                rows += cursor.fetchall()
        return _rows_to_page(rows, [])
    seen, seen_params = _hidden_condition(hidden_seen)
    conds, params = [*seen, *conds], [*seen_params, *params]
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
    hidden_seen: list[int] | None = (),
) -> SearchPage | None:
    """One page of ``search()``'s answer (same matches, same order), its total and optionally its
    facet counts, reading the narrow table only (PostgreSQL); None when ``q`` holds no word.

    ``where`` narrows by the narrow table's own columns (see NARROW_FILTERS); ``within`` by any
    other condition, as a queryset of datasets (only when it has one).

    Tiers: the matches in the name, title or tags (and exact names) are ranked first, by the rank
    of that part; the count and the facets still count every match. Only a page that reaches past
    that tier ranks the other matches, by the whole weighted vector (read from the catalog row).

    ``words``: those a ``search()`` of the same question settled on (``searched_words``), which
    are used as they are. ``hidden_seen``: the hidden datasets the user may see
    (catalog.visibility.hidden_ids_visible_to; None: all of them); others are never matched.
    """
    q = urn_as_name(q or "")
    if words:
        page = _search_page(q, words, offset, limit, where, within, facets, hidden_seen)
        page.words = words
        return page
    words = query_words(q)
    if not words:
        return None
    page = _search_page(q, words, offset, limit, where, within, facets, hidden_seen)
    if page.total == 0:
        corrected = correct_words(words)
        if corrected != words:
            page = _search_page(q, corrected, offset, limit, where, within, facets, hidden_seen)
            words = corrected
            page.corrected = True
    page.words = words
    return page


_EXACT = "ARRAY(SELECT d0.id FROM catalog_dataset d0 WHERE lower(d0.name) = %s)"


def _search_page(q, words, offset, limit, where, within, facets, hidden_seen) -> SearchPage:
    terms = pg_terms(words)
    # The datasets named exactly q, found inside each statement (an init plan through the
    # lower(name) index) rather than asked for beforehand: one round trip less per search.
    exact = exact_text(q)
    conds, cond_params = _narrow_conditions(where, within, hidden_seen)
    extra = "".join(f" AND {c}" for c in conds)
    match, match_params = pg_match(words)
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
        WHERE (s.dataset_id = ANY({_EXACT}) OR s.head @@ {PG_TSQUERY}){extra}
        ORDER BY s.dataset_id = ANY({_EXACT}) DESC, ts_rank(%s::real[], s.head, {PG_TSQUERY}) DESC,
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
              AND NOT COALESCE(s.head @@ {PG_TSQUERY}, FALSE){extra}
            ORDER BY ts_rank(%s::real[], d.search_vector, {PG_TSQUERY}) DESC, s.namespace, s.name
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
