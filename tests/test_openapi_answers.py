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
