"""Search: the same ranking rules on SQLite (FTS5) and PostgreSQL (tsvector + GIN, pg_trgm)."""

import pytest
from django.db import connection

from catalog import columns, services
from catalog.models import Dataset
from catalog.search import search
from catalog.search_text import query_words, split_words

pytestmark = pytest.mark.django_db

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs DATABASE_URL pointing at PostgreSQL"
)


def names(qs) -> list[str]:
    return [d.name for d in qs]


@pytest.fixture
def corpus(owner):
    def make(name, **data):
        return services.create_dataset(actor=owner, namespace="s3://lake", name=name, **data)

    orders = make("dim_customer_orders", title="Orders by customer", tags=["gold"])
    make("fact_revenue_daily", description="Revenue per day. Joins the **customer** table for regions.")
    make("CustomerChurnScores", domain="marketing")
    make("customer", title="The customer master")
    wh = make("warehouse/events.clickstream-v2", tags=["raw"])
    columns.set_columns_from_schema(
        dataset=wh, columns=[{"name": "sessionId", "type": "string"}, {"name": "page_url", "type": "string"}]
    )
    col = wh.columns.get(name="page_url")
    columns.update_column(actor=owner, column=col, description="Landing page of the loyalty campaign")
    return {"orders": orders, "clickstream": wh}


def test_split_words_splits_on_separators_and_case():
    assert split_words("dim_customerOrders.v2") == ["dim", "customer", "orders", "v2"]
    assert split_words("warehouse/events.clickstream-v2") == ["warehouse", "events", "clickstream", "v2"]
    assert split_words("HTTPServerLogs") == ["http", "server", "logs"]


def test_query_words_drop_query_syntax():
    # Quotes, operators and parentheses never reach FTS5 or to_tsquery as syntax.
    assert query_words('cust" OR (x) & !y:*') == ["cust", "or", "x", "y"]
    assert query_words("   ") == []


def test_a_name_part_finds_the_dataset(corpus):
    found = names(search(Dataset.objects.all(), "customer"))
    assert "dim_customer_orders" in found
    assert "CustomerChurnScores" in found  # split on the case change
    assert "fact_revenue_daily" in found  # mentioned in the description


def test_exact_name_first_then_name_above_description(corpus):
    found = names(search(Dataset.objects.all(), "customer"))
    assert found[0] == "customer"
    assert found.index("dim_customer_orders") < found.index("fact_revenue_daily")
    assert found.index("CustomerChurnScores") < found.index("fact_revenue_daily")


def test_all_words_must_match(corpus):
    assert names(search(Dataset.objects.all(), "customer orders")) == ["dim_customer_orders"]


def test_prefix_and_stem(corpus):
    assert "dim_customer_orders" in names(search(Dataset.objects.all(), "order"))
    assert "warehouse/events.clickstream-v2" in names(search(Dataset.objects.all(), "clickstr"))


def test_tags_columns_and_column_descriptions_are_searched(corpus):
    assert names(search(Dataset.objects.all(), "gold")) == ["dim_customer_orders"]
    assert names(search(Dataset.objects.all(), "session")) == ["warehouse/events.clickstream-v2"]
    assert names(search(Dataset.objects.all(), "loyalty")) == ["warehouse/events.clickstream-v2"]


def test_index_follows_updates_and_deletes(corpus, owner):
    ds = corpus["orders"]
    assert names(search(Dataset.objects.all(), "zeppelin")) == []
    services.update_dataset(actor=owner, dataset=ds, description="Shipped by zeppelin")
    assert names(search(Dataset.objects.all(), "zeppelin")) == ["dim_customer_orders"]
    services.update_dataset(actor=owner, dataset=ds, tags=["silver"])
    assert names(search(Dataset.objects.all(), "gold")) == []
    services.delete_dataset(actor=owner, dataset=ds)
    assert names(search(Dataset.objects.all(), "zeppelin")) == []


def test_punctuation_only_query_is_no_filter(corpus):
    assert search(Dataset.objects.all(), "!!! ***").count() == Dataset.objects.count()


def test_search_is_combined_with_other_filters(corpus, api_client_for, owner):
    client = api_client_for(owner)
    r = client.get("/api/v1/datasets/", {"q": "customer", "domain": "marketing"})
    assert r.status_code == 200
    assert [d["name"] for d in r.json()["results"]] == ["CustomerChurnScores"]


def test_api_q_best_match_first(corpus, api_client_for, outsider):
    r = api_client_for(outsider).get("/api/v1/datasets/", {"q": "customer"})
    assert r.status_code == 200
    body = r.json()
    assert body["results"][0]["name"] == "customer"
    assert "facets" not in body


def test_facets_only_when_asked_and_for_the_query(corpus, api_client_for, outsider, owner):
    r = api_client_for(outsider).get("/api/v1/datasets/", {"q": "customer", "facets": "true"})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"count", "next", "previous", "results", "facets"}
    facets = body["facets"]
    assert set(facets) == {"owner", "tag", "domain", "sensitivity"}
    assert facets["owner"] == [{"value": owner.username, "count": body["count"]}]
    assert facets["tag"] == [{"value": "gold", "count": 1}]
    assert facets["domain"] == [{"value": "marketing", "count": 1}]
    assert facets["sensitivity"] == [{"value": "internal", "count": body["count"]}]


def test_facets_without_query_count_everything(corpus, api_client_for, outsider):
    body = api_client_for(outsider).get("/api/v1/datasets/", {"facets": "1"}).json()
    assert sum(f["count"] for f in body["facets"]["sensitivity"]) == Dataset.objects.count() == body["count"]
    tags = {f["value"]: f["count"] for f in body["facets"]["tag"]}
    assert tags == {"gold": 1, "raw": 1}


def test_typos_are_corrected_against_the_vocabulary(corpus):
    found = names(search(Dataset.objects.all(), "custmer"))
    assert found[0] == "customer" and "dim_customer_orders" in found
    assert names(search(Dataset.objects.all(), "custmer ordrs")) == ["dim_customer_orders"]
    assert names(search(Dataset.objects.all(), "loyalti")) == ["warehouse/events.clickstream-v2"]
    assert names(search(Dataset.objects.all(), "sesison")) == ["warehouse/events.clickstream-v2"]  # swapped
    assert names(search(Dataset.objects.all(), "zqxwvy")) == []


def test_vocabulary_follows_the_text(corpus, owner):
    from catalog.models import SearchWord

    assert SearchWord.objects.filter(word__in=["customer", "loyalty", "session", "clickstream"]).count() == 4
    services.update_dataset(actor=owner, dataset=corpus["orders"], description="Zeppelin freight")
    assert SearchWord.objects.filter(word="zeppelin").exists()
    assert names(search(Dataset.objects.all(), "zepelin")) == ["dim_customer_orders"]


@postgres_only
@pytest.mark.postgres
def test_postgres_uses_the_weighted_vector(corpus):
    ds = Dataset.objects.get(name="dim_customer_orders")
    assert ds.search_vector is not None
    assert "'custom':" in ds.search_vector and "A" in ds.search_vector


def test_reindex_command_restores_a_lost_index(corpus, capsys):
    from django.core.management import call_command

    from catalog.search_index import unindex_dataset

    for ds in Dataset.objects.all():
        unindex_dataset(ds.pk)
    Dataset.objects.update(search_vector=None)
    assert names(search(Dataset.objects.all(), "gold")) == []
    call_command("catalog_reindex")
    assert "Indexed 5 datasets" in capsys.readouterr().out
    assert names(search(Dataset.objects.all(), "gold")) == ["dim_customer_orders"]


def test_searched_pages_count_in_the_same_pass(
    corpus, api_client_for, outsider, django_assert_max_num_queries
):
    client = api_client_for(outsider)
    total = client.get("/api/v1/datasets/", {"q": "customer"}).json()["count"]
    assert total == 4
    first = client.get("/api/v1/datasets/", {"q": "customer", "page_size": 3}).json()
    assert first["count"] == 4 and len(first["results"]) == 3 and first["next"] and first["previous"] is None
    second = client.get("/api/v1/datasets/", {"q": "customer", "page_size": 3, "page": 2}).json()
    assert second["count"] == 4 and len(second["results"]) == 1 and second["next"] is None
    seen = [d["name"] for d in first["results"] + second["results"]]
    assert len(set(seen)) == 4 and seen[0] == "customer"
    assert client.get("/api/v1/datasets/", {"q": "customer", "page": 3}).status_code == 404
    assert client.get("/api/v1/datasets/", {"q": "customer", "page": "x"}).status_code == 404
    assert client.get("/api/v1/datasets/", {"q": "customer", "page": "last", "page_size": 3}).json()[
        "results"
    ]
    assert client.get("/api/v1/datasets/", {"q": "nothingmatchesthis"}).json()["count"] == 0
    # With a filter that joins (tag), the plain count is used and stays right.
    tagged = client.get("/api/v1/datasets/", {"q": "customer", "tag": "gold"}).json()
    assert tagged["count"] == 1


def test_last_word_is_a_prefix(corpus):
    assert names(search(Dataset.objects.all(), "dim cust")) == ["dim_customer_orders"]
    assert names(search(Dataset.objects.all(), "customer ord")) == ["dim_customer_orders"]


@pytest.mark.parametrize(
    "q",
    [
        "'",
        "&|!():*",
        "ñandú café",
        "a" * 300,
        "the",
        "the and of",
        "NEAR(a b)",
        '"',
        "x' OR 1=1 --",
        "\x00abc",
        "日本語 データ",
        " ".join(str(i) for i in range(20)),
    ],
)
def test_odd_queries_never_fail(q, api_client_for, owner):
    services.create_dataset(actor=owner, namespace="s3://lake", name="café_ñandú", description="the data")
    r = api_client_for(owner).get("/api/v1/datasets/", {"q": q, "facets": "true"})
    assert r.status_code in (200, 400), r.content


def test_accents_and_stemming(api_client_for, owner):
    services.create_dataset(actor=owner, namespace="s3://lake", name="café_ñandú")
    r = api_client_for(owner).get("/api/v1/datasets/", {"q": "café"})
    assert [d["name"] for d in r.json()["results"]] == ["café_ñandú"]


@pytest.mark.parametrize("page", ["9223372036854775807", "99999999999999999999999", "1000000001"])
def test_a_page_past_any_result_is_a_404_not_an_overflow(page, api_client_for, owner):
    services.create_dataset(actor=owner, namespace="s3://lake", name="orders")
    for params in ({"q": "orders", "page": page}, {"page": page}):
        r = api_client_for(owner).get("/api/v1/datasets/", params)
        assert r.status_code == 404 and "Invalid page" in r.json()["detail"], (params, r.content)


def test_accents_typed_as_combining_marks_find_the_composed_letters(api_client_for, owner):
    services.create_dataset(actor=owner, namespace="s3://lake", name="émissions_co2")
    client = api_client_for(owner)
    for q in ("\u00e9missions", "e\u0301missions", "E\u0301MISSIONS_CO2"):
        assert [d["name"] for d in client.get("/api/v1/datasets/", {"q": q}).json()["results"]] == [
            "émissions_co2"
        ], q


def test_a_pasted_urn_finds_its_dataset_first(api_client_for, owner):
    services.create_dataset(actor=owner, namespace="s3://lake", name="customer")
    services.create_dataset(actor=owner, namespace="s3://lake", name="genome/customer_28")
    services.create_dataset(actor=owner, namespace="s3://other", name="customer_orders")
    client = api_client_for(owner)
    names = [
        d["urn"]
        for d in client.get("/api/v1/datasets/", {"q": "dataset:s3://lake:customer"}).json()["results"]
    ]
    assert names[0] == "dataset:s3://lake:customer" and len(names) == 3
    # An unknown or malformed URN is searched as text: no error.
    assert client.get("/api/v1/datasets/", {"q": "dataset:s3://nowhere:x"}).status_code == 200
    assert client.get("/api/v1/datasets/", {"q": "dataset:"}).status_code == 200
