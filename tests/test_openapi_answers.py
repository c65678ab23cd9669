"""Answers match the served OpenAPI schema exactly: the Schemathesis run in CI checks every operation
on PostgreSQL; these check, in the ordinary suite, the answers that once violated the schema."""

import pytest
import requests
import schemathesis
from schemathesis.core.transport import Response as SchemaResponse

from catalog import services as catalog_services

pytestmark = pytest.mark.django_db


@pytest.fixture
def served_schema(anon_client):
    response = anon_client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    return schemathesis.openapi.from_dict(response.json())


def assert_conforms(schema, path: str, method: str, response) -> None:
    """Schemathesis's own check that ``response`` (a Django test response) is one the schema documents
    for ``method path``: its status code listed, its body valid against that status's schema."""
    request = requests.Request(method, f"http://testserver{response.request['PATH_INFO']}").prepare()
    answer = SchemaResponse(
        status_code=response.status_code,
        headers={k: [v] for k, v in response.headers.items()},
        content=response.content,
        request=request,
        elapsed=0.0,
        verify=False,
    )
    schema[path][method].validate_response(answer)


def test_a_policy_never_set_answers_as_the_schema_says(served_schema, owner, api_client_for):
    """A dataset whose policy nobody set has no policy row: ``updated_at`` (and ``updated_by``) are
    null, which the schema must declare."""
    ds = catalog_services.create_dataset(actor=owner, namespace="s3://lake", name="no-policy-yet")
    client = api_client_for(owner)
    path = "/api/v1/datasets/{dataset_pk}/policy/"
    unset = client.get(f"/api/v1/datasets/{ds.pk}/policy/")
    assert unset.status_code == 200 and unset.json()["updated_at"] is None
    assert_conforms(served_schema, path, "GET", unset)
    put = client.put(f"/api/v1/datasets/{ds.pk}/policy/", {"require_quality_pass": True}, format="json")
    assert put.status_code == 200 and put.json()["updated_at"] is not None
    assert_conforms(served_schema, path, "PUT", put)
    assert_conforms(served_schema, path, "GET", client.get(f"/api/v1/datasets/{ds.pk}/policy/"))


def test_a_deleted_datasets_name_refused_answers_as_the_schema_says(
    served_schema, owner, outsider, api_client_for
):
    ds = catalog_services.create_dataset(actor=owner, namespace="s3://lake", name="gone")
    catalog_services.delete_dataset(actor=owner, dataset=ds)
    refused = api_client_for(outsider).post(
        "/api/v1/datasets/", {"namespace": "s3://lake", "name": "gone"}, format="json"
    )
    assert refused.status_code == 409
    assert_conforms(served_schema, "/api/v1/datasets/", "POST", refused)
    offered = api_client_for(owner).post(
        "/api/v1/datasets/",
        {"namespace": "s3://lake", "name": "offered", "owner": outsider.username},
        format="json",
    )
    assert offered.status_code == 201 and offered.json()["pending_owner"] == outsider.username
    assert_conforms(served_schema, "/api/v1/datasets/", "POST", offered)
    path = "/api/v1/datasets/{id}/ownership/accept/"
    accepted = api_client_for(outsider).post(f"/api/v1/datasets/{offered.json()['id']}/ownership/accept/")
    assert accepted.status_code == 200
    assert_conforms(served_schema, path, "POST", accepted)
    again = api_client_for(outsider).post(f"/api/v1/datasets/{offered.json()['id']}/ownership/accept/")
    assert again.status_code == 409
    assert_conforms(served_schema, path, "POST", again)


def test_monitor_and_alert_answers_are_as_the_schema_says(
    served_schema, owner, outsider, api_client_for, data_root
):
    from catalog import versions as catalog_versions
    from profiling.models import ProfileRun

    ds = catalog_services.create_dataset(
        actor=owner,
        namespace="s3://lake",
        name="watched",
        sensitivity="confidential",
        sensitive_columns=["g"],
    )
    path = data_root / "w.csv"
    path.write_text("id,g\n1,a\n")
    version, _ = catalog_versions.add_version_from_uri(actor=owner, dataset=ds, uri=path.as_uri())
    ProfileRun.objects.create(
        version=version,
        dataset=ds,
        version_number=1,
        status="succeeded",
        bias={"attributes": {"g": {"groups": {"a": {"share": 1.0}}}}},
    )
    client = api_client_for(owner)
    monitor = "/api/v1/datasets/{dataset_pk}/monitor/"
    assert_conforms(served_schema, monitor, "GET", client.get(f"/api/v1/datasets/{ds.pk}/monitor"))
    rules = [{"metric": "group_share", "column": "g", "threshold": 0.5, "op": ">"}, {"metric": "psi"}]
    put = client.put(
        f"/api/v1/datasets/{ds.pk}/monitor", {"schedule": "0 1 * * *", "rules": rules}, format="json"
    )
    assert put.status_code == 200 and put.json()["rules"][0]["alert"]
    assert_conforms(served_schema, monitor, "PUT", put)
    bad = client.put(
        f"/api/v1/datasets/{ds.pk}/monitor", {"rules": [{"metric": "psi", "threshold": "x"}]}, format="json"
    )
    assert_conforms(served_schema, monitor, "PUT", bad)

    listed = api_client_for(outsider).get("/api/v1/alerts/", {"dataset": ds.pk})
    assert listed.json()["results"][0]["rule"]["group"] is None  # hidden groups: none was named
    assert_conforms(served_schema, "/api/v1/alerts/", "GET", listed)
    alert_id = listed.json()["results"][0]["id"]
    assert_conforms(served_schema, "/api/v1/alerts/{id}/", "GET", client.get(f"/api/v1/alerts/{alert_id}"))
    ack = client.post(f"/api/v1/alerts/{alert_id}/acknowledge", {"comment": "x"}, format="json")
    assert_conforms(served_schema, "/api/v1/alerts/{id}/acknowledge/", "POST", ack)
    resolved = client.post(f"/api/v1/alerts/{alert_id}/resolve", {}, format="json")
    assert_conforms(served_schema, "/api/v1/alerts/{id}/resolve/", "POST", resolved)
    again = client.post(f"/api/v1/alerts/{alert_id}/resolve", {}, format="json")
    assert again.status_code == 409
    assert_conforms(served_schema, "/api/v1/alerts/{id}/resolve/", "POST", again)
