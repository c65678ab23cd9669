"""Every public function of the catalog's read modules only reads: each runs under ``no_writes()``
over a catalog with owners, stewards, tags, columns, versions and a deleted dataset, and each table
below must name every public function of its module, so a new read cannot slip by untested.

The narrow search table's reads (catalog.search_table) run on PostgreSQL only; elsewhere those rows
are skipped, but their names are still required in the table.
"""

from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import RequestFactory

from catalog import (
    columns,
    permissions,
    search,
    search_page,
    search_table,
    search_text,
    selectors,
    services,
    source_selectors,
    versions,
)
from catalog.models import Dataset, Source, SourceScan
from tests.read_only import no_writes, public_functions

pytestmark = pytest.mark.django_db

POSTGRESQL_ONLY = {"search_table.narrow_counts", "search_table.search_page"}
# Reads that work on their arguments alone and send no statement.
NO_DATABASE = {
    "pg_terms",
    "pg_match",
    "split_words",
    "query_words",
    "check_query",
    "exact_text",
    "search_parts",
    "searched_words",
    "facet_list",
    "is_owner",
    "can_delete_dataset",
    "can_delete_source",
    "forget_groups",
}


@pytest.fixture
def catalog(owner, steward, outsider, media_root):
    """Three datasets (one with columns and a version, one restricted), and one deleted."""
    orders = services.create_dataset(
        actor=owner,
        namespace="s3://lake",
        name="sales/customer_orders",
        title="Customer orders",
        stewards=[steward.username],
        tags=["gold", "sales"],
        domain="sales",
    )
    columns.set_columns_from_schema(
        dataset=orders, columns=[{"name": "customerId", "type": "int"}, {"name": "email", "type": "string"}]
    )
    version, _ = versions.add_version_from_upload(
        actor=owner, dataset=orders, upload=SimpleUploadedFile("o.csv", b"customerId,email\n1,a@b.c\n")
    )
    payroll = services.create_dataset(
        actor=owner, namespace="pg://hr", name="payroll", sensitivity="restricted", tags=["pii"]
    )
    services.create_dataset(actor=steward, namespace="s3://lake", name="web/sessions", domain="web")
    gone = services.create_dataset(
        actor=owner, namespace="pg://crm", name="raw.gone", sensitivity="confidential"
    )
    services.delete_dataset(actor=owner, dataset=gone)
    # A source keeping the orders, scanned once (rows written directly: reads are what is tested).
    lake = Source.objects.create(name="lake", kind="folder", uri="file:///lake/", owner=owner)
    lake.stewards.add(steward)
    scan = SourceScan.objects.create(
        source=lake,
        status="partial",
        found=1,
        registered=1,
        errors=[{"name": "gone.csv", "error": "unreadable"}],
    )
    Dataset.objects.filter(pk=orders.pk).update(source=lake)
    yield SimpleNamespace(
        source=lake,
        scan=scan,
        orders=Dataset.objects.get(pk=orders.pk),
        payroll=payroll,
        version=version,
        owner=owner,
        steward=steward,
        outsider=outsider,
    )
    cache.clear()  # the search page's facet counts, kept for paging, must not reach another test


def _get(user, path: str = "/datasets/", **params):
    request = RequestFactory().get(path, params)
    request.user = user
    return request


def _selector_calls(c) -> dict:
    orders_urn, payroll_urn = c.orders.urn, c.payroll.urn
    return {
        "dataset_list": lambda: list(selectors.dataset_list(user=c.outsider)),
        "dataset_facets": lambda: selectors.dataset_facets(selectors.dataset_list(user=c.owner)),
        "dataset_detail": lambda: list(selectors.dataset_detail(user=c.owner, pk=c.orders.pk).columns.all()),
        "dataset_by_urn": lambda: selectors.dataset_by_urn(orders_urn),
        "datasets_by_urns": lambda: selectors.datasets_by_urns([orders_urn, payroll_urn, "dataset:x:nope"]),
        "resolve_dataset_ref": lambda: (
            selectors.resolve_dataset_ref(c.orders.pk),
            selectors.resolve_dataset_ref(payroll_urn),
        ),
        "version_of": lambda: (selectors.version_of(c.orders, None), selectors.version_of(c.orders, 1)),
        "versions_of": lambda: selectors.versions_of([(c.orders, None), (c.orders, 1), (c.payroll, 7)]),
        "version_by_checksum": lambda: selectors.version_by_checksum(c.orders, c.version.checksum.upper()),
        "datasets_by_ids": lambda: selectors.datasets_by_ids([c.orders.pk, c.payroll.pk]),
        "may_change_dataset": lambda: (
            selectors.may_change_dataset(c.steward, c.orders),
            selectors.may_change_dataset(c.outsider, c.orders),
        ),
        "dataset_has_versions": lambda: selectors.dataset_has_versions(c.orders),
        "retired_sensitivities": lambda: selectors.retired_sensitivities(["dataset:pg://crm:raw.gone"]),
        "dataset_refs_by_urns": lambda: selectors.dataset_refs_by_urns([orders_urn, payroll_urn]),
        "answerable_people": lambda: selectors.answerable_people([c.orders, c.payroll]),
        "versions_at_uri": lambda: selectors.versions_at_uri("file:///nowhere/orders.csv"),
        "versions_with_checksum": lambda: selectors.versions_with_checksum(c.version.checksum[:36]),
        "version_current_at": lambda: selectors.version_current_at(c.orders, c.version.created_at),
    }


def _search_calls(c) -> dict:
    visible = Dataset.objects.visible_to(c.owner)
    found = search.search(visible, "custmer ordrs")  # misspelt: the vocabulary corrects it
    return {
        "urn_as_name": lambda: search.urn_as_name(c.orders.urn),
        "pg_terms": lambda: search.pg_terms(["customer", "ord"]),
        "pg_match": lambda: search.pg_match(["customer", "ord"]),
        "correct_words": lambda: search.correct_words(["custmer", "ordrs"]),
        "search": lambda: (
            list(search.search(visible, "customer")),
            list(search.search(visible, c.orders.urn)),
        ),
        "searched_words": lambda: search.searched_words(found),
        "ranked_page": lambda: search.ranked_page(search.search(visible, "customer"), offset=0, limit=10),
    }


def _search_text_calls(c) -> dict:
    return {
        "split_words": lambda: search_text.split_words("dim_customerOrders.v2"),
        "query_words": lambda: search_text.query_words("Customer orders!"),
        "check_query": lambda: search_text.check_query("Customer orders!"),
        "exact_text": lambda: search_text.exact_text(" Sales/Customer_Orders "),
        "search_parts": lambda: search_text.search_parts(namespace="s3://lake", name="a_b", tags=["x"]),
        "dataset_search_parts": lambda: search_text.dataset_search_parts(c.orders),
        "vocabulary": lambda: search_text.vocabulary(search_text.dataset_search_parts(c.orders)),
        "build_search_text": lambda: search_text.build_search_text(c.orders),
    }


def _search_table_calls(c) -> dict:
    return {
        "named_counts": lambda: search_table.named_counts(
            {"owner": [(str(c.owner.pk), 2)], "tag": [], "domain": [("sales", 1)], "sensitivity": []}, 8
        ),
        "narrow_counts": lambda: (
            search_table.narrow_counts(),
            search_table.narrow_counts(where={"domain": "sales"}),
        ),
        "search_page": lambda: search_table.search_page("customer", offset=0, limit=10, facets=True),
    }


def _search_page_calls(c) -> dict:
    def results(**params):
        request = _get(c.owner, **params)
        sr = search_page.search_request(request)
        counts, page, ids = search_page.search_results(request, sr, all_facets=False)
        return search_page.facet_list(counts, sr.active), page, ids

    def sidebar():
        request = _get(c.outsider, "/datasets/facets/", q="customer", domain="sales")
        return search_page.sidebar_counts(request, search_page.search_request(request))

    return {
        "search_request": lambda: list(
            search_page.search_request(_get(c.owner, q="orders", tag="gold", page="2")).matches
        ),
        "search_results": lambda: (results(q="customer", tag="gold"), results(), results(q="custmer")),
        "sidebar_counts": sidebar,
        "facet_list": lambda: search_page.facet_list(
            {"owner": [], "tag": [], "domain": [], "sensitivity": []}, {"domain": "sales"}
        ),
    }


def _permission_calls(c) -> dict:
    return {
        "is_owner": lambda: permissions.is_owner(c.owner, c.orders),
        "is_steward": lambda: permissions.is_steward(c.steward, c.orders),
        "can_change_dataset": lambda: permissions.can_change_dataset(c.outsider, c.orders),
        "can_delete_dataset": lambda: permissions.can_delete_dataset(c.steward, c.orders),
        "can_add_source": lambda: permissions.can_add_source(c.outsider),
        "can_manage_source": lambda: permissions.can_manage_source(c.steward, c.source),
        "can_delete_source": lambda: permissions.can_delete_source(c.steward, c.source),
        "group_ids": lambda: permissions.group_ids(type(c.steward).objects.get(pk=c.steward.pk)),
        "forget_groups": lambda: permissions.forget_groups(c.steward),
        "acting_groups": lambda: permissions.acting_groups(c.outsider, c.orders),
    }


def _source_selector_calls(c) -> dict:
    return {
        "source_list": lambda: list(source_selectors.source_list()),
        "source_detail": lambda: list(source_selectors.source_detail(pk=c.source.pk).stewards.all()),
        "source_by_pk": lambda: source_selectors.source_by_pk(pk=c.source.pk),
        "scan_of": lambda: source_selectors.scan_of(source=c.source, scan_id=c.scan.pk),
        "current_scan": lambda: source_selectors.current_scan(source=c.source),
        "scan_history": lambda: source_selectors.scan_history(source=c.source),
        "scan_count": lambda: source_selectors.scan_count(source=c.source),
        "source_datasets": lambda: list(source_selectors.source_datasets(user=c.outsider, source=c.source)),
        "dataset_origin": lambda: source_selectors.dataset_origin(dataset=c.orders),
        "without_hidden_errors": lambda: source_selectors.without_hidden_errors(
            [c.scan], user=c.outsider, source_id=c.source.pk
        ),
    }


def _queryset_calls(c) -> dict:
    # DatasetQuerySet's methods (catalog.querysets defines no module-level function).
    return {
        "visible_to": lambda: list(Dataset.objects.visible_to(c.outsider)),
        "editable_by": lambda: list(Dataset.objects.editable_by(c.steward)),
        "managed_by": lambda: list(Dataset.objects.managed_by(c.steward)),
        "owned_by": lambda: list(Dataset.objects.owned_by(c.owner)),
        "with_urn": lambda: list(Dataset.objects.with_urn(c.orders.urn)),
    }


READ_MODULES = {
    selectors: _selector_calls,
    search: _search_calls,
    search_text: _search_text_calls,
    search_table: _search_table_calls,
    search_page: _search_page_calls,
    permissions: _permission_calls,
    source_selectors: _source_selector_calls,
}


@pytest.mark.parametrize("module", list(READ_MODULES), ids=lambda m: m.__name__)
def test_every_public_read_is_in_the_table(module, catalog):
    assert set(READ_MODULES[module](catalog)) == public_functions(module)


@pytest.mark.parametrize("module", list(READ_MODULES), ids=lambda m: m.__name__)
def test_reads_only_read(module, catalog):
    short = module.__name__.split(".")[-1]
    for name, call in READ_MODULES[module](catalog).items():
        if f"{short}.{name}" in POSTGRESQL_ONLY and connection.vendor != "postgresql":
            continue
        with no_writes() as seen:
            call()
        # A read that sent no statement was not exercised by this data (unless it never reads).
        assert seen or name in NO_DATABASE, f"{short}.{name} sent no query"


def test_queryset_methods_only_read(catalog):
    for name, call in _queryset_calls(catalog).items():
        with no_writes() as seen:
            call()
        assert seen, name
