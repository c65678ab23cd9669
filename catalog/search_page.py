"""The search page's machinery: what a request asks, the matches with their facet counts, one page
of results. catalog.views renders it; the search itself is catalog.search (and, on PostgreSQL,
catalog.search_table, which reads the narrow search table alone).

Two paths give the same answer: on PostgreSQL the narrow search table pages and counts the matches;
on other databases the catalog's own tables do, with every facet counted in one statement.
Facet counts are cached for FACET_CACHE_SECONDS per question, so paging does not count again.
"""

import hashlib
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection
from django.db.models import QuerySet
from django.http import HttpRequest

from catalog.models import Dataset, Tag
from catalog.search import ranked_page, search, searched_words
from catalog.search_facets import EXTRA_FACETS, FACETS
from catalog.search_table import named_counts, narrow_counts, search_page
from catalog.search_text import check_query
from catalog.visibility import hidden_ids_visible_to

PAGE_SIZE = 20
FACET_SIZE = 8
FACET_CACHE_SECONDS = 30
# A search matching more datasets than this shows its results without waiting for the facet counts:
# counting every match by owner, tag, domain and sensitivity on PostgreSQL takes time in proportion
# to the matches, so for a word found nearly everywhere the sidebar then loads its counts on its
# own (search_facets_view, through htmx; a link without JavaScript).
FACETS_INLINE_MAX = 20_000


def _facets_and_count(matches) -> tuple[dict[str, list[dict]], int]:
    """({facet: [{"value", "count"}]}, number of matches) in ONE query that runs the search once
    (off PostgreSQL; there the narrow search table counts them).

    The matching rows go into a materialised CTE that the total and every facet then group, so a
    common word's full-text match (tens of thousands of rows) is evaluated once instead of five
    times (count + four facets). owner, domain and sensitivity hold one value per dataset and a
    dataset has a tag once, so COUNT(*) is exact.
    """
    inner, params = (
        matches.order_by().values("pk", "owner_id", "domain", "sensitivity").query.sql_with_params()
    )
    through = Dataset.tags.through._meta.db_table
    sql = f"""
        WITH m (id, owner_id, domain, sensitivity) AS MATERIALIZED ({inner})
        SELECT 'total', '', COUNT(*) FROM m
        UNION ALL SELECT 'owner', CAST(owner_id AS TEXT), COUNT(*) FROM m WHERE owner_id IS NOT NULL GROUP BY owner_id
        UNION ALL SELECT 'domain', domain, COUNT(*) FROM m WHERE domain <> '' GROUP BY domain
        UNION ALL SELECT 'sensitivity', sensitivity, COUNT(*) FROM m GROUP BY sensitivity
        UNION ALL SELECT 'tag', CAST(t.tag_id AS TEXT), COUNT(*) FROM {through} t JOIN m ON m.id = t.dataset_id
            GROUP BY t.tag_id
    """  # noqa: S608 -- table names from models, values as parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    total = next((n for facet, _, n in rows if facet == "total"), 0)
    raw: dict[str, list[tuple[str, int]]] = {"owner": [], "tag": [], "domain": [], "sensitivity": []}
    for facet, value, n in rows:
        if facet in raw:
            raw[facet].append((value, n))
    return named_counts(raw, FACET_SIZE), total


def _facet_cache_key(key_parts: tuple) -> str:
    return "ui-facets:" + hashlib.sha256(repr(key_parts).encode()).hexdigest()


def _cached_facets_and_count(matches, key_parts: tuple, user) -> tuple[dict[str, list[dict]], int]:
    """_facets_and_count, remembered for a short while per question, so that paging through the
    results of one search does not count them again (counts may lag a change by these seconds)."""
    key = _facet_cache_key(key_parts)
    found = cache.get(key)
    if found is not None:
        return found
    counts, total = _facets_and_count(matches)
    for facet in EXTRA_FACETS.values():
        counts[facet.param] = facet.counts(matches, user)[:FACET_SIZE]
    cache.set(key, (counts, total), FACET_CACHE_SECONDS)
    return counts, total


@dataclass
class ResultPage:
    """One page of search results. The page's ids are always fetched fresh (LIMIT/OFFSET on the
    ranked ids); only the total, used for "N datasets" and the page links, may be up to
    FACET_CACHE_SECONDS old, so a stale count can never hide a result."""

    number: int
    count: int
    has_next: bool
    # The words searched for when they are not those typed (typos corrected: "custmer" -> "customer").
    corrected: str = ""

    @property
    def paginator(self) -> "ResultPage":
        return self

    @property
    def num_pages(self) -> int:
        return max(1, -(-self.count // PAGE_SIZE), self.number + (1 if self.has_next else 0))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    def has_other_pages(self) -> bool:
        return self.has_previous or self.has_next

    @property
    def previous_page_number(self) -> int:
        return self.number - 1

    @property
    def next_page_number(self) -> int:
        return self.number + 1


def _page_number(raw: str | None) -> int:
    try:
        return max(1, min(int(raw or 1), 100_000))
    except ValueError:
        return 1


@dataclass
class SearchRequest:
    """What a search page (or its facet sidebar) was asked: the text, the chosen facets, the page."""

    q: str
    matches: QuerySet  # visible datasets narrowed by the chosen facets (not by the text)
    active: dict[str, str]
    number: int
    user: Any  # who asks: the facets of other apps may count for them alone (their cache is theirs)
    # The hidden datasets the user may see (catalog.visibility; None: all, for staff).
    hidden_seen: list[int] | None = ()

    @property
    def start(self) -> int:
        return (self.number - 1) * PAGE_SIZE

    @property
    def key_parts(self) -> tuple:
        # Per user: hidden datasets are counted only for those who may see them.
        return (self.user.pk, self.q, sorted(self.active.items()))

    @property
    def cache_key(self) -> str:
        return _facet_cache_key(self.key_parts)


def _param(request: HttpRequest, name: str) -> str:
    # No database text holds a NUL (PostgreSQL refuses one in a query): such a character finds nothing.
    return request.GET.get(name, "").replace("\x00", "").strip()


def search_request(request: HttpRequest) -> SearchRequest:
    """What the search page (or its sidebar) was asked: ``?q=``, the facets chosen, ``?page=``.
    Raises ValidationError for a query past the search limits (``check_query``)."""
    check_query(_param(request, "q"))
    matches = Dataset.objects.visible_to(request.user)
    active = {}
    for param, field, _ in FACETS:
        value = _param(request, param)
        if value:
            active[param] = value
            matches = matches.filter(**{field: value})
    for facet in EXTRA_FACETS.values():
        value = _param(request, facet.param)
        if value:
            active[facet.param] = value
            matches = facet.apply(matches, value, request.user)
    return SearchRequest(
        q=_param(request, "q"),
        matches=matches,
        active=active,
        number=_page_number(request.GET.get("page")),
        user=request.user,
        hidden_seen=hidden_ids_visible_to(request.user),
    )


def _narrow_scope(request: HttpRequest, active: dict) -> tuple[dict, QuerySet]:
    """(where, within) for the narrow search table (PostgreSQL): the facets the table holds filter it
    directly, the others (registered by other apps) as a queryset of datasets."""
    where: dict = {}
    if "owner" in active:
        owner = get_user_model().objects.filter(username=active["owner"]).values_list("pk", flat=True).first()
        where["owner_id"] = owner or 0
    if "tag" in active:
        where["tag_id"] = Tag.objects.filter(name=active["tag"]).values_list("pk", flat=True).first() or 0
    for param in ("domain", "sensitivity"):
        if param in active:
            where[param] = active[param]
    # Hidden datasets are the narrow table's own condition (SearchRequest.hidden_seen), not a
    # subquery of the catalog table here.
    within = Dataset.objects.all()
    for facet in EXTRA_FACETS.values():
        if facet.param in active:
            within = facet.apply(within, active[facet.param], request.user)
    return where, within


def _narrow_facets(
    sr: SearchRequest, where: dict, within: QuerySet, words: list[str] | None
) -> tuple[dict, int]:
    """(facet counts, number of matches) over every match, from the narrow table, cached
    FACET_CACHE_SECONDS for paging; ``words``: those the page's search settled on, when it ran."""
    found = search_page(
        sr.q,
        offset=0,
        limit=0,
        where=where,
        within=within,
        facets=True,
        words=words,
        hidden_seen=sr.hidden_seen,
    )
    if found is not None:
        searched = search(sr.matches, sr.q, words=found.words)
    else:  # no word in it: every dataset, as with no query
        found = narrow_counts(where=where, within=within, hidden_seen=sr.hidden_seen)
        # Counted in the catalog's own table (an index-only scan): a dataset written without the
        # services (so not indexed) is still counted, as it is listed.
        found.total = sr.matches.count()
        searched = sr.matches
    counts = named_counts(found.counts, FACET_SIZE)
    for facet in EXTRA_FACETS.values():
        counts[facet.param] = facet.counts(searched, sr.user)[:FACET_SIZE]
    cache.set(sr.cache_key, (counts, found.total), FACET_CACHE_SECONDS)
    return counts, found.total


def _narrow_results(request: HttpRequest, sr: SearchRequest, *, all_facets: bool):
    """(facet counts or None, page, ids) from the narrow search table (PostgreSQL). The counts are
    None when the search matches over FACETS_INLINE_MAX datasets (unless ``all_facets``) and they are
    not cached: the sidebar fetches them."""
    where, within = _narrow_scope(request, sr.active)
    cached = cache.get(sr.cache_key)
    found = (
        search_page(
            sr.q, offset=sr.start, limit=PAGE_SIZE, where=where, within=within, hidden_seen=sr.hidden_seen
        )
        if sr.q
        else None
    )
    if found is not None:
        ids, total = found.ids, found.total
        has_next = sr.start + len(ids) < total
        if cached is not None:
            counts = cached[0]
        elif total <= FACETS_INLINE_MAX or all_facets:
            counts, _ = _narrow_facets(sr, where, within, found.words)
        else:
            counts = None
    else:
        # No word in it: every dataset, newest registered first (the primary key's index answers it
        # without sorting every row).
        ids = list(
            sr.matches.order_by("-pk").values_list("pk", flat=True)[sr.start : sr.start + PAGE_SIZE + 1]
        )
        has_next = len(ids) > PAGE_SIZE
        ids = ids[:PAGE_SIZE]
        counts, total = cached if cached is not None else _narrow_facets(sr, where, within, None)
    corrected = " ".join(found.words) if found is not None and found.corrected else ""
    page = ResultPage(number=sr.number, count=total, has_next=has_next, corrected=corrected)
    return counts, page, ids


def _queryset_results(matches, q: str, start: int, number: int, key_parts: tuple, user):
    """(facet counts, page, ids) from the catalog's own tables (SQLite and other databases)."""
    if q:
        ranked = search(matches, q)
        # Facets count the rows the text matches, through the same search as the results.
        matches = ranked
    else:
        ranked = matches.order_by("-pk")
    counts, total = _cached_facets_and_count(matches, key_parts, user)
    if q:
        # Rank and count the page in one pass, as the API (the count may come from the cache).
        ids, ranked_total = ranked_page(ranked, offset=start, limit=PAGE_SIZE)
        total = ranked_total if ranked_total is not None else total
        page = ResultPage(number=number, count=total, has_next=start + len(ids) < total)
    else:
        ids = list(ranked.values_list("pk", flat=True)[start : start + PAGE_SIZE + 1])  # one more: a next?
        page = ResultPage(number=number, count=total, has_next=len(ids) > PAGE_SIZE)
        ids = ids[:PAGE_SIZE]
    if q and getattr(ranked.query, "search_corrected", False):
        page.corrected = " ".join(searched_words(ranked))
    return counts, page, ids


def facet_list(counts: dict, active: dict) -> list[dict]:
    """The sidebar's facets, the catalog's own first, each with its counts and its chosen value."""
    return [
        {"param": param, "label": label, "active": active.get(param), "values": counts[param]}
        for param, _, label in FACETS
    ] + [
        {"param": f.param, "label": f.label, "active": active.get(f.param), "values": counts.get(f.param, [])}
        for f in EXTRA_FACETS.values()
    ]


def search_results(request: HttpRequest, sr: SearchRequest, *, all_facets: bool):
    """(facet counts or None, page, ids of the page's datasets in rank order). The counts are None
    when the sidebar is to fetch them itself (PostgreSQL, over FACETS_INLINE_MAX matches, unless
    ``all_facets``)."""
    if connection.vendor == "postgresql":
        return _narrow_results(request, sr, all_facets=all_facets)
    return _queryset_results(sr.matches, sr.q, sr.start, sr.number, sr.key_parts, sr.user)


def sidebar_counts(request: HttpRequest, sr: SearchRequest) -> dict:
    """The facet counts of the sidebar on its own: cached by the page's request when it counted them."""
    if connection.vendor == "postgresql":
        cached = cache.get(sr.cache_key)
        if cached is None:
            cached = _narrow_facets(sr, *_narrow_scope(request, sr.active), None)
        return cached[0]
    searched = search(sr.matches, sr.q) if sr.q else sr.matches
    counts, _ = _cached_facets_and_count(searched, sr.key_parts, sr.user)
    return counts
