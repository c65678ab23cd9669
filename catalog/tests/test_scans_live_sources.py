"""Scans of live sources through the API: a PostgreSQL database the test fills, and a bucket on a
real S3 endpoint (moto in server mode). Datasets are named as OpenLineage names them, so an event
about the same table lands on the dataset the scan registered."""

import io

import pandas as pd
import pytest

from catalog.models import Dataset, ScanStatus

pytestmark = pytest.mark.django_db(transaction=True)


def scan(client, source_id: int) -> dict:
    started = client.post(f"/api/v1/sources/{source_id}/scans")
    assert started.status_code == 202, started.content
    return client.get(f"/api/v1/sources/{source_id}/scans/{started.json()['id']}").json()


@pytest.mark.postgres
def test_a_postgres_source_is_catalogued_with_openlineage_names(
    scratch_source_db, staff, api_client_for, settings
):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    client = api_client_for(staff)
    made = client.post(
        "/api/v1/sources/",
        {"name": "warehouse", "kind": "postgres", "uri": scratch_source_db.uri, "profile": False},
        format="json",
    )
    assert made.status_code == 201, made.content
    first = scan(client, made.json()["id"])
    assert first["status"] in ("succeeded", "partial"), first["errors"]
    assert first["registered"] == len(scratch_source_db.datasets) - sum(
        1 for e in first["errors"] if e.get("name")
    )
    host_port = scratch_source_db.uri.split("//")[1].split("/")[0]
    namespace = f"postgres://{host_port}"
    registered = Dataset.objects.filter(source_id=made.json()["id"])
    assert registered and all(d.namespace == namespace for d in registered)
    assert all(d.name.startswith(scratch_source_db.name + ".") for d in registered)
    table = registered.filter(versions__format="table").first()
    assert table.columns.exists()
    again = scan(client, made.json()["id"])
    assert again["unchanged"] == first["registered"] and again["changed"] == 0


def test_an_s3_prefix_is_catalogued_in_place(s3_endpoint, staff, api_client_for, monkeypatch, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    frame = pd.DataFrame({"id": range(100), "score": [i / 7 for i in range(100)]})
    parquet = io.BytesIO()
    frame.to_parquet(parquet, index=False)
    bucket = s3_endpoint.make_bucket(
        {
            "raw/clicks/date=2026-12-01/part-0.parquet": parquet.getvalue(),
            "raw/clicks/date=2026-12-02/part-0.parquet": parquet.getvalue(),
            "raw/users.csv": b"id,email\n1,a@example.org\n",
            "raw/readme.txt": b"not data",
        }
    )
    secret = s3_endpoint.source_env(monkeypatch)
    client = api_client_for(staff)
    made = client.post(
        "/api/v1/sources/",
        {
            "name": "lake",
            "kind": "s3",
            "uri": f"s3://{bucket}/raw/",
            "endpoint_url": s3_endpoint.url,
            "secret": secret,
        },
        format="json",
    )
    assert made.status_code == 201, made.content
    tested = client.post(f"/api/v1/sources/{made.json()['id']}/test").json()
    assert tested["ok"] and sorted(tested["would_register"]) == ["raw/clicks", "raw/users.csv"]
    result = scan(client, made.json()["id"])
    assert result["status"] == ScanStatus.SUCCEEDED and result["registered"] == 2, result
    clicks = Dataset.objects.get(namespace=f"s3://{bucket}", name="raw/clicks")
    version = clicks.versions.get()
    assert version.source_uri == f"s3://{bucket}/raw/clicks/" and not version.file
    assert [c.name for c in clicks.columns.order_by("position")][:2] == ["id", "score"]
    s3_endpoint.put(bucket, {"raw/clicks/date=2026-12-03/part-0.parquet": parquet.getvalue()})
    result = scan(client, made.json()["id"])
    assert (result["changed"], result["unchanged"]) == (1, 1)
    assert clicks.versions.count() == 2
