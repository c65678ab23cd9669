"""/api/v1/datasets/ and its columns: authentication, the owner/steward/outsider/staff matrix for
every write, and the bad-input list (a clear 4xx and nothing stored)."""

import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from catalog import columns, services
from catalog.models import Dataset, Tag

pytestmark = pytest.mark.django_db

URL = "/api/v1/datasets/"


@pytest.fixture
def dataset(owner, steward):
    ds = services.create_dataset(
        actor=owner,
        namespace="postgres://db.internal:5432",
        name="public.dim_customer_orders",
        stewards=[steward.username],
        description="Orders <script>alert(1)</script> **bold**",
    )
    columns.set_columns_from_schema(
        dataset=ds, columns=[{"name": "id", "type": "integer"}, {"name": "email", "type": "string"}]
    )
    return ds


# ---------------------------------------------------------------------------------------------
# Authentication


@pytest.mark.parametrize("scheme", ["Token", "Bearer"])
def test_token_and_bearer(scheme, api_client_for, outsider, dataset):
    r = api_client_for(outsider, scheme=scheme).get(URL)
    assert r.status_code == 200 and r.json()["count"] == 1


def test_no_credentials_401(anon_client, dataset):
    for method, url in [
        ("get", URL),
        ("post", URL),
        ("get", f"{URL}{dataset.pk}/"),
        ("delete", f"{URL}{dataset.pk}/"),
    ]:
        r = getattr(anon_client, method)(url)
        assert r.status_code == 401, (method, url)
        assert r.json()["detail"] and r["WWW-Authenticate"]
    assert Dataset.objects.count() == 1


def test_wrong_token_401(dataset):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-real-key")
    assert client.get(URL).status_code == 401


def test_drf_create_token_command(outsider, capsys):
    call_command("drf_create_token", outsider.username)
    key = Token.objects.get(user=outsider).key
    assert key in capsys.readouterr().out
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get(URL).status_code == 200


def test_schema_documents_facets_and_is_public(anon_client):
    r = anon_client.get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    assert r.status_code == 200
    list_op = r.json()["paths"]["/api/v1/datasets/"]["get"]
    assert "facets" in [p["name"] for p in list_op["parameters"]]


# ---------------------------------------------------------------------------------------------
# Create


def test_create_defaults_owner_to_caller(api_client_for, outsider):
    r = api_client_for(outsider).post(
        URL, {"namespace": "s3://lake", "name": "raw/events.json"}, format="json"
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["owner"] == outsider.username and body["sensitivity"] == "internal"
    assert body["urn"] == "dataset:s3://lake:raw/events.json" and body["latest_version"] is None
    for key in ("id", "created_at", "updated_at", "stewards", "tags", "sensitive_columns", "label_column"):
        assert key in body


def test_create_with_every_field(api_client_for, owner, steward):
    r = api_client_for(owner).post(
        URL,
        {
            "namespace": "s3://lake",
            "name": "loans",
            "title": "Loans",
            "description": "# Loans",
            "owner": steward.username,
            "stewards": [owner.username],
            "domain": "credit",
            "tags": ["Gold", "pii", "gold"],
            "sensitivity": "restricted",
            "sensitive_columns": ["gender", "age"],
            "label_column": "defaulted",
            "positive_label": 1,
        },
        format="json",
    )
    assert r.status_code == 201, r.content
    body = r.json()
    # Naming someone else as owner is an offer they accept (catalog/tests/test_ownership.py).
    assert body["owner"] == owner.username and body["pending_owner"] == steward.username
    assert body["stewards"] == [owner.username]
    assert body["tags"] == ["gold", "pii"] and body["sensitivity"] == "restricted"
    assert body["sensitive_columns"] == ["gender", "age"] and body["positive_label"] == 1


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"namespace": "", "name": "x"}, "namespace"),
        ({"namespace": "s3://lake", "name": ""}, "name"),
        ({"namespace": "   ", "name": "x"}, "namespace"),
        ({"name": "x"}, "namespace"),
        ({"namespace": "s3://lake"}, "name"),
        ({"namespace": "s3://lake", "name": "x" * 256}, "name"),
        ({"namespace": "n" * 256, "name": "x"}, "namespace"),
        ({"namespace": "s3://lake", "name": "bad\nname"}, "name"),
        ({"namespace": "s3://lake", "name": "tab\there"}, "name"),
        ({"namespace": "s3://la\x07ke", "name": "x"}, "namespace"),
        ({"namespace": "s3://lake", "name": "nul\x00"}, "name"),
        ({"namespace": "s3://lake", "name": " padded "}, "name"),
        ({"namespace": "s3://lake", "name": "x", "owner": "nobody_by_that_name"}, "owner"),
        ({"namespace": "s3://lake", "name": "x", "stewards": ["ghost"]}, "stewards"),
        ({"namespace": "s3://lake", "name": "x", "sensitivity": "secret"}, "sensitivity"),
        ({"namespace": "s3://lake", "name": "x", "tags": "gold"}, "tags"),
        ({"namespace": "s3://lake", "name": "x", "sensitive_columns": "age"}, "sensitive_columns"),
        ({"namespace": "s3://lake", "name": "x", "origin": "lineage", "title": "t" * 300}, "title"),
    ],
)
def test_create_bad_input_400_nothing_stored(payload, field, api_client_for, owner):
    tags_before = Tag.objects.count()
    r = api_client_for(owner).post(URL, payload, format="json")
    assert r.status_code == 400, r.content
    body = r.json()
    assert body["detail"] and field in body["errors"], body
    assert Dataset.objects.count() == 0
    assert Tag.objects.count() == tags_before


def test_unknown_steward_leaves_no_tag_behind(api_client_for, owner):
    r = api_client_for(owner).post(
        URL,
        {"namespace": "s3://lake", "name": "x", "tags": ["brand-new"], "stewards": ["ghost"]},
        format="json",
    )
    assert r.status_code == 400
    assert not Tag.objects.filter(name="brand-new").exists()


def test_duplicate_409(api_client_for, outsider, dataset):
    r = api_client_for(outsider).post(
        URL, {"namespace": dataset.namespace, "name": dataset.name}, format="json"
    )
    assert r.status_code == 409
    assert r.json()["detail"] and "name" in r.json()["errors"]
    assert Dataset.objects.count() == 1


def test_same_name_other_namespace_is_fine(api_client_for, outsider, dataset):
    r = api_client_for(outsider).post(URL, {"namespace": "s3://other", "name": dataset.name}, format="json")
    assert r.status_code == 201


# ---------------------------------------------------------------------------------------------
# Read


def test_anyone_signed_in_reads_detail_with_columns_and_safe_html(api_client_for, outsider, dataset):
    r = api_client_for(outsider).get(f"{URL}{dataset.pk}/")
    assert r.status_code == 200
    body = r.json()
    assert [c["name"] for c in body["columns"]] == ["id", "email"]
    assert "<script>" not in body["description_html"] and "<strong>bold</strong>" in body["description_html"]
    assert body["description"].startswith("Orders <script>")  # stored as written, sanitised when shown


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"namespace": "postgres://db.internal:5432"}, 1),
        ({"name": "public.dim_customer_orders"}, 1),
        ({"owner": "olivia_owner"}, 1),
        ({"steward": "sam_steward"}, 1),
        ({"steward": "oscar_outsider"}, 0),
        ({"tag": "gold"}, 0),
        ({"sensitivity": "internal"}, 1),
        ({"domain": "finance"}, 0),
    ],
)
def test_list_filters(params, expected, api_client_for, outsider, dataset):
    r = api_client_for(outsider).get(URL, params)
    assert r.status_code == 200 and r.json()["count"] == expected


def test_bad_filter_value_400(api_client_for, outsider):
    r = api_client_for(outsider).get(URL, {"sensitivity": "secret"})
    assert r.status_code == 400 and "sensitivity" in r.json()["errors"]


def test_page_size_capped(api_client_for, outsider, dataset):
    r = api_client_for(outsider).get(URL, {"page_size": 100000})
    assert r.status_code == 200 and r.json()["count"] == 1


# ---------------------------------------------------------------------------------------------
# Change, delete, document a column: owner / steward / outsider / staff


@pytest.mark.parametrize(
    ("role", "allowed"), [("owner", True), ("steward", True), ("staff", True), ("outsider", False)]
)
def test_patch_matrix(role, allowed, request, api_client_for, dataset):
    user = request.getfixturevalue(role)
    r = api_client_for(user).patch(
        f"{URL}{dataset.pk}/", {"title": "New title", "tags": ["x"]}, format="json"
    )
    dataset.refresh_from_db()
    if allowed:
        assert r.status_code == 200, r.content
        assert r.json()["title"] == "New title" and r.json()["tags"] == ["x"]
        assert dataset.title == "New title"
    else:
        assert r.status_code == 403 and r.json()["detail"]
        assert dataset.title == "" and list(dataset.tags.all()) == []


@pytest.mark.parametrize(
    ("role", "allowed"), [("owner", True), ("staff", True), ("steward", False), ("outsider", False)]
)
def test_delete_matrix(role, allowed, request, api_client_for, dataset):
    user = request.getfixturevalue(role)
    r = api_client_for(user).delete(f"{URL}{dataset.pk}/")
    if allowed:
        assert r.status_code == 204
        assert not Dataset.objects.exists()
    else:
        assert r.status_code == 403
        assert Dataset.objects.filter(pk=dataset.pk).exists()


@pytest.mark.parametrize(
    ("role", "allowed"), [("owner", True), ("steward", True), ("staff", True), ("outsider", False)]
)
def test_document_column_matrix(role, allowed, request, api_client_for, dataset):
    user = request.getfixturevalue(role)
    r = api_client_for(user).patch(
        f"{URL}{dataset.pk}/columns/email/",
        {"description": "Contact e-mail", "is_pii": True, "tags": ["Contact"]},
        format="json",
    )
    col = dataset.columns.get(name="email")
    if allowed:
        assert r.status_code == 200, r.content
        assert (col.description, col.is_pii, col.tags) == ("Contact e-mail", True, ["contact"])
    else:
        assert r.status_code == 403
        assert (col.description, col.is_pii) == ("", False)


def test_patch_cannot_rename_or_set_unknown_people(api_client_for, owner, dataset):
    client = api_client_for(owner)
    r = client.patch(f"{URL}{dataset.pk}/", {"name": "renamed"}, format="json")
    assert r.status_code == 200 and r.json()["name"] == dataset.name  # read-only, ignored
    r = client.patch(f"{URL}{dataset.pk}/", {"owner": "ghost"}, format="json")
    assert r.status_code == 400 and "owner" in r.json()["errors"]
    r = client.patch(f"{URL}{dataset.pk}/", {"sensitivity": "top-secret"}, format="json")
    assert r.status_code == 400
    dataset.refresh_from_db()
    assert dataset.owner == owner and dataset.sensitivity == "internal"


def test_owner_hands_over_and_loses_rights(api_client_for, owner, outsider, dataset):
    client = api_client_for(owner)
    assert client.patch(f"{URL}{dataset.pk}/", {"owner": outsider.username}, format="json").status_code == 200
    accepted = api_client_for(outsider).post(f"{URL}{dataset.pk}/ownership/accept/", {}, format="json")
    assert accepted.status_code == 200 and accepted.json()["owner"] == outsider.username
    assert client.patch(f"{URL}{dataset.pk}/", {"title": "mine again?"}, format="json").status_code == 403
    assert api_client_for(outsider).delete(f"{URL}{dataset.pk}/").status_code == 204


def test_unknown_column_404(api_client_for, owner, dataset):
    assert (
        api_client_for(owner)
        .patch(f"{URL}{dataset.pk}/columns/nope/", {"description": "x"}, format="json")
        .status_code
        == 404
    )


def test_columns_listed_for_anyone(api_client_for, outsider, dataset):
    r = api_client_for(outsider).get(f"{URL}{dataset.pk}/columns/")
    assert r.status_code == 200 and [c["name"] for c in r.json()] == ["id", "email"]


@pytest.mark.parametrize("name", ["Delta 15 N (o/oo)", "a/b/c", "名前 (x/y)"])
def test_a_column_whose_name_holds_a_slash_is_read_and_documented(api_client_for, owner, dataset, name):
    """QA G14: palmerpenguins' own columns ("Delta 15 N (o/oo)") were a 404."""
    from urllib.parse import quote

    columns.set_columns_from_schema(dataset=dataset, columns=[{"name": name, "type": "float"}])
    url = f"{URL}{dataset.pk}/columns/{quote(name, safe='')}/"
    client = api_client_for(owner)
    assert client.get(url).json()["name"] == name
    r = client.patch(url, {"description": "per mille"}, format="json")
    assert r.status_code == 200, r.content
    assert dataset.columns.get(name=name).description == "per mille"
    assert client.get(f"{URL}{dataset.pk}/columns/").status_code == 200


def test_the_list_rows_are_what_the_dataset_serializer_says(owner, steward, dataset, api_client_for):
    """The list builds its rows from plain queries (catalog.api.serializers.dataset_list_rows); they
    must stay exactly DatasetSerializer's, field by field and in order."""
    from catalog.api.serializers import DatasetSerializer, dataset_list_rows
    from catalog.selectors import dataset_list

    other = services.create_dataset(
        actor=owner,
        namespace="s3://lake",
        name="credit/applications",
        title="Credit",
        tags=["Gold", "pii"],
        stewards=[steward.username, owner.username],
        sensitivity="confidential",
        sensitive_columns=["gender"],
        label_column="approved",
        positive_label=1,
        domain="risk",
    )
    services.update_dataset(actor=owner, dataset=other, owner=None)
    from catalog.models import DatasetVersion

    for number in (1, 3, 2):  # the latest is the highest number, whatever the order of creation
        DatasetVersion.objects.create(
            dataset=other, number=number, checksum=f"{number:064d}", size_bytes=1, format="csv"
        )
    ids = [other.pk, dataset.pk]
    expected = DatasetSerializer(
        sorted(dataset_list(user=owner).filter(pk__in=ids), key=lambda d: ids.index(d.pk)), many=True
    ).data
    rows = dataset_list_rows(dataset_list(user=owner), ids)
    assert rows[0]["latest_version"] == 3 and rows[0]["tags"] == ["gold", "pii"]
    assert rows == [dict(r) for r in expected]
    assert [list(r) for r in rows] == [list(r) for r in expected]
    listed = api_client_for(owner).get(URL, {"ordering": "name"}).json()["results"]
    assert {r["id"]: r for r in listed}[other.pk] == dict(expected[0])
