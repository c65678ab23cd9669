"""A URN names exactly one dataset, even though colons may stand in namespaces and names."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("file:///tmp", "a:b:c"), ("file:///tmp:a", "b:c")),
        (("postgres://h:5432", "db.t"), ("postgres://h", "5432:db.t")),
    ],
)
def test_second_spelling_of_a_urn_is_refused(owner, api_client_for, first, second):
    client = api_client_for(owner)
    r1 = client.post("/api/v1/datasets/", {"namespace": first[0], "name": first[1]}, format="json")
    assert r1.status_code == 201
    r2 = client.post(
        "/api/v1/datasets/",
        {"namespace": second[0], "name": second[1], "sensitivity": "restricted"},
        format="json",
    )
    assert r2.status_code == 409
    assert r1.json()["urn"] in r2.json()["detail"]
    assert client.get("/api/v1/datasets/").json()["count"] == 1
