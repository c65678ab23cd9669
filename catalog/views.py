"""The catalog's web pages: search, a dataset's page, registering and curating datasets.

Thin, like the API views: catalog.services write (and refuse what a user may not do),
catalog.selectors read. Panels that other apps own (profile, lineage, access) are loaded by URL
into the dataset page, so the catalog imports none of them.
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from catalog import selectors, services
from catalog.files import HashingUploadHandler
from catalog.forms import (
    ColumnForm,
    DatasetCreateForm,
    DatasetMetadataForm,
    VersionUploadForm,
    add_service_errors,
    join_list,
)
from catalog.markdown import render_markdown
from catalog.models import Column, Dataset, Tag
from catalog.permissions import can_change_dataset, is_owner
from catalog.search import (
    named_counts,
    narrow_counts,
    ranked_page,
    search,
    search_page,
    searched_words,
)
from config.errors import Conflict, NotAllowed

PAGE_SIZE = 20
FACET_SIZE = 8
# The facets a search can be narrowed by: (query parameter, field it filters, heading).
FACETS = [
    ("owner", "owner__username", "Owner"),
    ("tag", "tags__name", "Tag"),
    ("domain", "domain", "Domain"),
    ("sensitivity", "sensitivity", "Sensitivity"),
]


@dataclass(frozen=True)
class SearchFacet:
    """A facet that an app built on the catalog adds to the search page (e.g. profiling's quality
    status): the catalog imports none of them, they register here, as with catalog.signals."""

    param: str
    label: str
    counts: Callable[[QuerySet], list[dict]]  # matches -> [{"value", "count"}], largest first
    apply: Callable[[QuerySet, str], QuerySet]  # (matches, chosen value) -> narrowed matches


EXTRA_FACETS: dict[str, SearchFacet] = {}


def register_search_facet(facet: SearchFacet) -> None:
    EXTRA_FACETS[facet.param] = facet


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


FACET_CACHE_SECONDS = 30


def _facet_cache_key(key_parts: tuple) -> str:
    return "ui-facets:" + hashlib.sha256(repr(key_parts).encode()).hexdigest()


def _cached_facets_and_count(matches, key_parts: tuple) -> tuple[dict[str, list[dict]], int]:
    """_facets_and_count, remembered for a short while per question, so that paging through the
    results of one search does not count them again (counts may lag a change by these seconds)."""
    key = _facet_cache_key(key_parts)
    found = cache.get(key)
    if found is not None:
        return found
    counts, total = _facets_and_count(matches)
    for facet in EXTRA_FACETS.values():
        counts[facet.param] = facet.counts(matches)[:FACET_SIZE]
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


def _dataset_or_404(user, pk: int) -> Dataset:
    try:
        return selectors.dataset_detail(user=user, pk=pk)
    except Dataset.DoesNotExist as exc:
        raise Http404("No such dataset.") from exc


# A search matching more datasets than this shows its results without waiting for the facet counts:
# counting every match by owner, tag, domain and sensitivity costs about a microsecond a match on
# PostgreSQL (over 100 ms for a word found in the whole catalog of 100,000), so the sidebar then
# loads its counts on its own (search_facets_view, through htmx; a link without JavaScript).
FACETS_INLINE_MAX = 20_000


@dataclass
class SearchRequest:
    """What a search page (or its facet sidebar) was asked: the text, the chosen facets, the page."""

    q: str
    matches: QuerySet  # visible datasets narrowed by the chosen facets (not by the text)
    active: dict[str, str]
    number: int
    user_pk: int | None

    @property
    def start(self) -> int:
        return (self.number - 1) * PAGE_SIZE

    @property
    def key_parts(self) -> tuple:
        # Per user: today every signed-in user sees every dataset, but counts must not outlive that rule.
        return (self.user_pk, self.q, sorted(self.active.items()))

    @property
    def cache_key(self) -> str:
        return _facet_cache_key(self.key_parts)


def _param(request: HttpRequest, name: str) -> str:
    # No database text holds a NUL (PostgreSQL refuses one in a query): such a character finds nothing.
    return request.GET.get(name, "").replace("\x00", "").strip()


def _search_request(request: HttpRequest) -> SearchRequest:
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
            matches = facet.apply(matches, value)
    return SearchRequest(
        q=_param(request, "q")[:200],
        matches=matches,
        active=active,
        number=_page_number(request.GET.get("page")),
        user_pk=request.user.pk,
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
    within = Dataset.objects.visible_to(request.user)
    for facet in EXTRA_FACETS.values():
        if facet.param in active:
            within = facet.apply(within, active[facet.param])
    return where, within


def _narrow_facets(
    sr: SearchRequest, where: dict, within: QuerySet, words: list[str] | None
) -> tuple[dict, int]:
    """(facet counts, number of matches) over every match, from the narrow table, cached
    FACET_CACHE_SECONDS for paging; ``words``: those the page's search settled on, when it ran."""
    found = search_page(sr.q, offset=0, limit=0, where=where, within=within, facets=True, words=words)
    if found is not None:
        searched = search(sr.matches, sr.q, words=found.words)
    else:  # no word in it: every dataset, as with no query
        found = narrow_counts(where=where, within=within)
        # Counted in the catalog's own table (an index-only scan): a dataset written without the
        # services (so not indexed) is still counted, as it is listed.
        found.total = sr.matches.count()
        searched = sr.matches
    counts = named_counts(found.counts, FACET_SIZE)
    for facet in EXTRA_FACETS.values():
        counts[facet.param] = facet.counts(searched)[:FACET_SIZE]
    cache.set(sr.cache_key, (counts, found.total), FACET_CACHE_SECONDS)
    return counts, found.total


def _narrow_results(request: HttpRequest, sr: SearchRequest, *, all_facets: bool):
    """(facet counts or None, page, ids) from the narrow search table (PostgreSQL). The counts are
    None when the search matches over FACETS_INLINE_MAX datasets (unless ``all_facets``) and they are
    not cached: the sidebar fetches them."""
    where, within = _narrow_scope(request, sr.active)
    cached = cache.get(sr.cache_key)
    found = search_page(sr.q, offset=sr.start, limit=PAGE_SIZE, where=where, within=within) if sr.q else None
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


def _queryset_results(matches, q: str, start: int, number: int, key_parts: tuple):
    """(facet counts, page, ids) from the catalog's own tables (SQLite and other databases)."""
    if q:
        ranked = search(matches, q)
        # Facets count the rows the text matches, through the same search as the results.
        matches = ranked
    else:
        ranked = matches.order_by("-pk")
    counts, total = _cached_facets_and_count(matches, key_parts)
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


def _facet_list(counts: dict, active: dict) -> list[dict]:
    return [
        {"param": param, "label": label, "active": active.get(param), "values": counts[param]}
        for param, _, label in FACETS
    ] + [
        {"param": f.param, "label": f.label, "active": active.get(f.param), "values": counts.get(f.param, [])}
        for f in EXTRA_FACETS.values()
    ]


@login_required
@require_GET
def search_view(request: HttpRequest) -> HttpResponse:
    """Search datasets by text, narrowed by facets; best match first, paged."""
    sr = _search_request(request)
    if connection.vendor == "postgresql":
        counts, page, ids = _narrow_results(request, sr, all_facets=request.GET.get("facets") == "all")
    else:
        counts, page, ids = _queryset_results(sr.matches, sr.q, sr.start, sr.number, sr.key_parts)
    rows = {d.pk: d for d in selectors.dataset_list(user=request.user).filter(pk__in=ids)}
    results = [rows[i] for i in ids if i in rows]
    return render(
        request,
        "catalog/search.html",
        {
            "q": sr.q,
            "page": page,
            "results": results,
            "facets": None if counts is None else _facet_list(counts, sr.active),
            "active": sr.active,
        },
    )


@login_required
@require_GET
def search_facets_view(request: HttpRequest) -> HttpResponse:
    """The search page's facet sidebar on its own, for a search with too many matches to count
    within the page (FACETS_INLINE_MAX): the page fetches it once its results are shown."""
    sr = _search_request(request)
    if connection.vendor == "postgresql":
        cached = cache.get(sr.cache_key)
        if cached is None:
            cached = _narrow_facets(sr, *_narrow_scope(request, sr.active), None)
        counts = cached[0]
    else:
        searched = search(sr.matches, sr.q) if sr.q else sr.matches
        counts, _ = _cached_facets_and_count(searched, sr.key_parts)
    return render(
        request,
        "catalog/_facets.html",
        {"facets": _facet_list(counts, sr.active), "announce": request.headers.get("HX-Request") == "true"},
    )


@login_required
@require_GET
def dataset_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = _dataset_or_404(request.user, pk)
    can_edit = can_change_dataset(request.user, dataset)
    return render(
        request,
        "catalog/dataset_detail.html",
        {
            "dataset": dataset,
            "can_edit": can_edit,
            "columns": list(dataset.columns.all()),
            "versions": list(dataset.versions.select_related("created_by").order_by("-number")[:20]),
            "upload_form": VersionUploadForm() if can_edit else None,
        },
    )


@login_required
@require_GET
def versions_partial(request: HttpRequest, pk: int) -> HttpResponse:
    """The versions table alone, refreshed after an upload or when profiling finishes."""
    dataset = _dataset_or_404(request.user, pk)
    versions = list(dataset.versions.select_related("created_by").order_by("-number")[:20])
    return render(request, "catalog/_versions.html", {"dataset": dataset, "versions": versions})


@login_required
@require_GET
def columns_partial(request: HttpRequest, pk: int) -> HttpResponse:
    """The columns table alone, refreshed when profiling has found types and PII."""
    dataset = _dataset_or_404(request.user, pk)
    return render(
        request,
        "catalog/_columns.html",
        {
            "dataset": dataset,
            "columns": list(dataset.columns.all()),
            "can_edit": can_change_dataset(request.user, dataset),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def dataset_create_view(request: HttpRequest) -> HttpResponse:
    """Register a dataset by hand; the signed-in user becomes its owner."""
    form = DatasetCreateForm(request.POST or None)
    preview = None
    if request.method == "POST" and form.is_valid():
        if "preview" in request.POST:
            preview = render_markdown(form.cleaned_data["description"])
        else:
            data = form.service_data()
            namespace, name = data.pop("namespace"), data.pop("name")
            try:
                dataset = services.create_dataset(
                    actor=request.user, namespace=namespace, name=name, via="ui", **data
                )
            except Conflict as exc:
                form.add_error("name", str(exc))
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, f"Registered {dataset.urn}. Upload a first version below.")
                return redirect("catalog:dataset", pk=dataset.pk)
    return render(
        request,
        "catalog/dataset_form.html",
        {"form": form, "preview": preview, "creating": True},
        status=400 if request.method == "POST" and form.errors else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def dataset_edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Edit a dataset's description, tags, stewards, sensitivity and label settings."""
    dataset = _dataset_or_404(request.user, pk)
    if not can_change_dataset(request.user, dataset):
        raise PermissionDenied("Only the dataset's owner, a steward or staff may change it.")
    form = DatasetMetadataForm(request.POST or None, initial=DatasetMetadataForm.initial_for(dataset))
    if not (request.user.is_staff or is_owner(request.user, dataset)):
        form.limit_sensitivity(dataset.sensitivity)
    preview = None
    if request.method == "POST" and form.is_valid():
        if "preview" in request.POST:
            preview = render_markdown(form.cleaned_data["description"])
        else:
            try:
                services.update_dataset(actor=request.user, dataset=dataset, via="ui", **form.service_data())
            except NotAllowed as exc:
                raise PermissionDenied(str(exc)) from exc
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, "Saved.")
                return redirect("catalog:dataset", pk=dataset.pk)
    return render(
        request,
        "catalog/dataset_form.html",
        {"form": form, "preview": preview, "dataset": dataset, "creating": False},
        status=400 if request.method == "POST" and form.errors else 200,
    )


@login_required
@require_POST
def markdown_preview_view(request: HttpRequest) -> HttpResponse:
    """The sanitised HTML of Markdown being written (htmx swaps it under the text area)."""
    html = render_markdown(request.POST.get("description", "")[:100_000])
    return HttpResponse(html or '<p class="muted">Nothing to preview yet.</p>')


def _column(request: HttpRequest, pk: int, column_pk: int) -> Column:
    dataset = get_object_or_404(Dataset.objects.visible_to(request.user), pk=pk)
    return get_object_or_404(Column.objects.select_related("dataset"), pk=column_pk, dataset=dataset)


@login_required
@require_http_methods(["GET", "POST"])
def column_edit_view(request: HttpRequest, pk: int, column_pk: int) -> HttpResponse:
    """Document one column in place (htmx swaps the table row) or on its own page without JS."""
    column = _column(request, pk, column_pk)
    if not can_change_dataset(request.user, column.dataset):
        raise PermissionDenied("Only the dataset's owner, a steward or staff may document its columns.")
    initial = {"description": column.description, "tags": join_list(column.tags), "is_pii": column.is_pii}
    form = ColumnForm(request.POST or None, initial=initial, prefix=f"col{column.pk}")
    if request.method == "POST" and form.is_valid():
        try:
            column = services.update_column(
                actor=request.user, column=column, via="ui", **form.service_data()
            )
        except NotAllowed as exc:
            raise PermissionDenied(str(exc)) from exc
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            if request.htmx:
                return render(
                    request,
                    "catalog/_column_row.html",
                    {"column": column, "can_edit": True, "dataset": column.dataset},
                )
            messages.success(request, f"Column {column.name} saved.")
            return redirect(reverse("catalog:dataset", args=[pk]) + f"#col-{column.pk}")
    template = "catalog/_column_form_row.html" if request.htmx else "catalog/column_form.html"
    return render(
        request,
        template,
        {"column": column, "form": form, "dataset": column.dataset},
        status=400 if request.method == "POST" and form.errors else 200,
    )


@login_required
@require_GET
def column_row_view(request: HttpRequest, pk: int, column_pk: int) -> HttpResponse:
    """One column's row as shown (Cancel in the in-place editor)."""
    column = _column(request, pk, column_pk)
    return render(
        request,
        "catalog/_column_row.html",
        {
            "column": column,
            "dataset": column.dataset,
            "can_edit": can_change_dataset(request.user, column.dataset),
        },
    )


@csrf_exempt
def version_upload_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Upload a new version from a plain form (the page's script posts to the API instead, with a
    progress bar). Uploads are hashed while they stream to disk; the handler must be set before
    the body is read, so CSRF is checked inside, after it is in place (as Django's docs show)."""
    if request.method == "POST":
        request.upload_handlers = [HashingUploadHandler(request)]
    return _version_upload(request, pk)


@csrf_protect
@login_required
@require_POST
def _version_upload(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = _dataset_or_404(request.user, pk)
    handler = request.upload_handlers[0]
    form = VersionUploadForm(request.POST, request.FILES)
    if getattr(handler, "too_large", False):
        messages.error(request, "The file is larger than the upload limit.")
        return redirect("catalog:dataset", pk=pk)
    if not form.is_valid():
        messages.error(request, "Choose a file to upload.")
        return redirect("catalog:dataset", pk=pk)
    try:
        version, created = services.add_version_from_upload(
            actor=request.user, dataset=dataset, upload=form.cleaned_data["file"], via="ui"
        )
    except NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc
    except ValidationError as exc:
        messages.error(request, "The file was refused: " + " ".join(exc.messages))
        return redirect("catalog:dataset", pk=pk)
    if created:
        messages.success(request, f"Stored as version {version.number}; profiling has started.")
    else:
        messages.info(
            request, f"These are the same bytes as version {version.number}; nothing new was stored."
        )
    return redirect("catalog:dataset", pk=pk)
