"""The narrow search table (PostgreSQL): kept by every write, backfilled by its migration, and read
by ``search_page`` in the same order as ``search()``."""

import pytest
from django.db import connection

from catalog import columns, ownership, services
from catalog.models import Dataset, DatasetSearch, Tag
from catalog.search import search
from catalog.search_table import search_page

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs DATABASE_URL pointing at PostgreSQL"),
]


def facet_values(row: DatasetSearch) -> tuple:
    return (row.owner_id, row.domain, row.sensitivity, row.tag_ids)


def make(owner, name, **data):
    return services.create_dataset(actor=owner, namespace="s3://lake", name=name, **data)


@pytest.mark.django_db
def test_rows_follow_every_write(owner, steward):
    ds = make(owner, "dim_customer_orders", title="Orders", domain="sales", tags=["gold"])
    row = DatasetSearch.objects.get(dataset=ds)
    gold = Tag.objects.get(name="gold")
    assert facet_values(row) == (owner.pk, "sales", "internal", [gold.pk])
    assert "'custom'" in row.head and "'custom'" in row.document
    services.update_dataset(
        actor=owner, dataset=ds, owner=steward.username, sensitivity="restricted", tags=["silver"], domain=""
    )
    ownership.accept_ownership(actor=steward, dataset=ds)  # handing over is an offer until accepted
    row.refresh_from_db()
    silver = Tag.objects.get(name="silver")
    assert facet_values(row) == (steward.pk, "", "restricted", [silver.pk])
    # Column words are matched but are not part of the first tier's vector.
    columns.set_columns_from_schema(dataset=ds, columns=[{"name": "loyaltyPoints", "type": "int"}])
    row.refresh_from_db()
    assert "'loyalti'" in row.document and "'loyalti'" not in row.head
    services.delete_dataset(actor=steward, dataset=Dataset.objects.get(pk=ds.pk))
    assert not DatasetSearch.objects.exists()


@pytest.mark.django_db
def test_datasets_found_through_lineage_are_indexed_too(owner):
    services.ensure_datasets([("s3://lake", "raw/zeppelin_flights")])
    assert search_page("zeppelin", offset=0, limit=10).total == 1


@pytest.fixture
def tiers(owner):
    """One word in every part of the text, with ties, so pages cross from one tier to the next."""
    make(owner, "orders")  # the exact name
    for i in range(3):
        make(owner, f"fact_orders_{i}")  # name (A)
    make(owner, "revenue_daily", title="Orders of the day")  # title (B)
    make(owner, "tagged", tags=["orders"])  # tag (B)
    with_column = make(owner, "wide_table")
    columns.set_columns_from_schema(dataset=with_column, columns=[{"name": "orders_count", "type": "int"}])
    for i in range(3):
        make(
            owner, f"notes_{i}", description="Mentions orders once." + " Orders again." * i
        )  # description (D)
    make(owner, "unrelated", description="Nothing to see.")
    return [d.name for d in search(Dataset.objects.all(), "orders")]


@pytest.mark.django_db
@pytest.mark.parametrize("limit", [1, 2, 3, 20])
def test_pages_follow_the_order_of_search(tiers, limit):
    assert tiers[0] == "orders"
    assert tiers.index("fact_orders_0") < tiers.index("revenue_daily") < tiers.index("wide_table")
    assert tiers.index("tagged") < tiers.index("wide_table") < tiers.index("notes_0")
    assert tiers.index("notes_2") < tiers.index("notes_0")  # more mentions rank higher in a tier
    ids = []
    for offset in range(0, len(tiers), limit):
        page = search_page("orders", offset=offset, limit=limit)
        assert page.total == len(tiers) == 10
        ids += page.ids
    assert [Dataset.objects.get(pk=pk).name for pk in ids] == tiers


@pytest.mark.django_db
def test_facets_count_every_match_and_filters_narrow(tiers, owner):
    page = search_page("orders", offset=0, limit=2, facets=True)
    assert page.total == 10 and len(page.ids) == 2
    assert dict(page.counts["sensitivity"]) == {"internal": 10}
    assert dict(page.counts["owner"]) == {str(owner.pk): 10}
    orders_tag = Tag.objects.get(name="orders")
    assert dict(page.counts["tag"]) == {str(orders_tag.pk): 1}
    assert search_page("orders", offset=0, limit=5, where={"tag_id": orders_tag.pk}).total == 1
    within = Dataset.objects.filter(name__startswith="notes_")
    narrowed = search_page("orders", offset=0, limit=5, within=within)
    assert narrowed.total == 3
    assert [Dataset.objects.get(pk=pk).name for pk in narrowed.ids] == ["notes_2", "notes_1", "notes_0"]
    assert search_page("ordres", offset=0, limit=5).total == 10  # corrected as search() does
    assert search_page("!!!", offset=0, limit=5) is None


@pytest.mark.django_db(transaction=True)
def test_migration_backfills_existing_datasets(owner):
    """0004 copies every dataset indexed before it into the narrow table, with its facet values."""
    from django.db.migrations.executor import MigrationExecutor

    from catalog.search_index import PG_VECTOR_SQL
    from catalog.search_text import PARTS, search_parts

    executor = MigrationExecutor(connection)
    executor.migrate([("catalog", "0003_search_words")])
    try:
        old = executor.loader.project_state([("catalog", "0003_search_words")]).apps
        OldDataset, OldTag = old.get_model("catalog", "Dataset"), old.get_model("catalog", "Tag")
        ds = OldDataset.objects.create(
            namespace="s3://lake", name="dim_customer_orders", domain="sales", sensitivity="restricted",
            owner_id=owner.pk,
        )  # fmt: skip
        tag = OldTag.objects.create(name="gold")
        ds.tags.add(tag)
        never_indexed = OldDataset.objects.create(namespace="s3://lake", name="raw_dump")
        parts = search_parts(namespace=ds.namespace, name=ds.name, tags=["gold"])
        with connection.cursor() as cursor:  # the vector as index_dataset wrote it before 0004
            cursor.execute(
                f"UPDATE catalog_dataset SET search_vector = {PG_VECTOR_SQL} WHERE id = %s",
                [*(parts[p] for p in PARTS), ds.pk],
            )
        executor = MigrationExecutor(connection)
        executor.migrate([("catalog", "0004_search_table")])
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    row = DatasetSearch.objects.get(dataset_id=ds.pk)
    assert facet_values(row) == (owner.pk, "sales", "restricted", [tag.pk])
    assert not DatasetSearch.objects.filter(dataset_id=never_indexed.pk).exists()
    assert [d.name for d in search(Dataset.objects.all(), "gold")] == ["dim_customer_orders"]
    assert search_page("customer", offset=0, limit=10).ids == [ds.pk]
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'catalog_datasetsearch'")
        indexes = {r[0] for r in cursor.fetchall()}
    assert {"datasetsearch_document_gin", "datasetsearch_head_gin"} <= indexes


def _counted_by_triggers():
    from catalog.search_table import narrow_counts

    return {k: sorted(v) for k, v in narrow_counts().counts.items()}, narrow_counts().total


def _counted_by_scan():
    from catalog.search_table import narrow_counts

    page = narrow_counts(within=Dataset.objects.filter(pk__gt=0))
    return {k: sorted(v) for k, v in page.counts.items()}, page.total


@pytest.mark.django_db
def test_catalog_wide_counts_follow_every_write(owner, steward):
    assert _counted_by_triggers() == ({"owner": [], "tag": [], "domain": [], "sensitivity": []}, 0)
    ds = make(owner, "dim_customer_orders", domain="sales", tags=["gold", "pii"])
    make(owner, "fact_sales", domain="sales", sensitivity="public")
    services.ensure_datasets([("s3://lake", f"raw/found_{i}") for i in range(5)])
    counted, total = _counted_by_triggers()
    assert total == 7 and dict(counted["domain"]) == {"sales": 2}
    assert (counted, total) == _counted_by_scan()
    services.update_dataset(
        actor=owner, dataset=ds, sensitivity="restricted", tags=["gold"], owner=steward.username
    )
    ownership.accept_ownership(actor=steward, dataset=ds)
    services.update_dataset(actor=steward, dataset=Dataset.objects.get(pk=ds.pk), description="Only the text")
    assert _counted_by_triggers() == _counted_by_scan()
    services.delete_dataset(actor=steward, dataset=Dataset.objects.get(pk=ds.pk))
    counted, total = _counted_by_triggers()
    assert total == 6 and dict(counted["domain"]) == {"sales": 1} and counted["tag"] == []
    assert (counted, total) == _counted_by_scan()


@pytest.mark.django_db
def test_api_pages_come_from_the_narrow_table_with_typos_corrected(tiers, api_client_for, outsider):
    client = api_client_for(outsider)
    body = client.get("/api/v1/datasets/", {"q": "ordres", "page_size": 4, "page": 2}).json()
    assert body["count"] == 10
    assert [d["name"] for d in body["results"]] == tiers[4:8]


@pytest.mark.django_db
def test_api_filters_narrow_the_searched_page(tiers, api_client_for, owner):
    services.update_dataset(
        actor=owner, dataset=Dataset.objects.get(name="notes_1"), sensitivity="restricted"
    )
    client = api_client_for(owner)
    body = client.get("/api/v1/datasets/", {"q": "orders", "sensitivity": "restricted"}).json()
    assert (body["count"], [d["name"] for d in body["results"]]) == (1, ["notes_1"])
    body = client.get(
        "/api/v1/datasets/", {"q": "orders", "sensitivity": "internal", "name": "notes_1"}
    ).json()
    assert body["count"] == 0
    body = client.get("/api/v1/datasets/", {"q": "orders", "domain": "", "namespace": "s3://lake"}).json()
    assert body["count"] == 10


@pytest.mark.django_db
def test_api_facets_from_the_narrow_table_equal_the_generic_ones(tiers, api_client_for, owner, steward):
    from catalog import selectors

    # Two owners with equal counts (a tie broken by name), several tags, one dataset outside the filter.
    for name in ("notes_0", "notes_1", "fact_orders_0"):
        services.update_dataset(
            actor=owner,
            dataset=Dataset.objects.get(name=name),
            owner=steward.username,
            tags=["zeta", "alpha"],
        )
        ownership.accept_ownership(actor=steward, dataset=Dataset.objects.get(name=name))
    services.update_dataset(actor=owner, dataset=Dataset.objects.get(name="notes_2"), domain="sales")
    client = api_client_for(owner)
    for params in ({"q": "orders"}, {"q": "orders", "tag": "alpha"}, {"q": "ordres", "domain": "sales"}):
        body = client.get("/api/v1/datasets/", {**params, "facets": "true"}).json()
        matches = Dataset.objects.all()
        if "tag" in params:
            matches = matches.filter(tags__name=params["tag"])
        if "domain" in params:
            matches = matches.filter(domain=params["domain"])
        expected = selectors.dataset_facets(search(matches, params["q"]))
        assert body["facets"] == expected, params
        assert body["count"] == sum(f["count"] for f in expected["sensitivity"])
    assert [
        f["value"]
        for f in client.get("/api/v1/datasets/", {"q": "orders", "facets": "1"}).json()["facets"]["tag"]
    ] == ["alpha", "zeta", "orders"]


@pytest.mark.django_db
def test_api_searched_page_refuses_bad_filters_and_pages(tiers, api_client_for, owner):
    client = api_client_for(owner)
    r = client.get("/api/v1/datasets/", {"q": "orders", "sensitivity": "secret"})
    assert r.status_code == 400 and "sensitivity" in r.json()["errors"]
    assert client.get("/api/v1/datasets/", {"q": "orders", "page": "x"}).status_code == 404
    assert client.get("/api/v1/datasets/", {"q": "orders", "page": 99}).status_code == 404
    last = client.get("/api/v1/datasets/", {"q": "orders", "page_size": 4, "page": "last"}).json()
    assert [d["name"] for d in last["results"]] == tiers[8:]
    body = client.get("/api/v1/datasets/", {"q": "orders", "page_size": 4, "page": 2}).json()
    assert "page=3" in body["next"] and "page_size=4" in body["next"]
    assert "page_size=4" in body["previous"]
