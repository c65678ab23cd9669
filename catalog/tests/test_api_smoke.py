import pytest

pytestmark = pytest.mark.django_db


def test_create_read_and_upload(owner, steward, outsider, api_client_for, tmp_path):
    client = api_client_for(owner, scheme="Bearer")
    r = client.post(
        "/api/v1/datasets/",
        {
            "namespace": "postgres://db.internal:5432",
            "name": "public.dim_customer_orders",
            "stewards": [steward.username],
            "tags": ["Gold"],
            "sensitivity": "confidential",
        },
        format="json",
    )
    assert r.status_code == 201, r.content
    ds = r.json()
    assert ds["urn"] == "dataset:postgres://db.internal:5432:public.dim_customer_orders"
    assert ds["owner"] == owner.username and ds["tags"] == ["gold"] and ds["latest_version"] is None

    dup = client.post("/api/v1/datasets/", {"namespace": ds["namespace"], "name": ds["name"]}, format="json")
    assert dup.status_code == 409 and "detail" in dup.json()

    f = tmp_path / "orders.csv"
    f.write_text("id,amount\n1,2.5\n2,3.0\n")
    with f.open("rb") as fh:
        up = api_client_for(steward).post(
            f"/api/v1/datasets/{ds['id']}/versions/", {"file": fh}, format="multipart"
        )
    assert up.status_code == 201, up.content
    assert (
        up.json()["number"] == 1 and up.json()["format"] == "csv" and up.json()["profile_status"] == "pending"
    )

    with f.open("rb") as fh:
        denied = api_client_for(outsider).post(
            f"/api/v1/datasets/{ds['id']}/versions/", {"file": fh}, format="multipart"
        )
    assert denied.status_code == 403

    found = client.get("/api/v1/datasets/", {"q": "customer"}).json()
    assert found["count"] == 1 and found["results"][0]["latest_version"] == 1


def test_unauthenticated_is_401(anon_client):
    assert anon_client.get("/api/v1/datasets/").status_code == 401
