"""Files in a form Gouvernail does not read are refused at upload with a message that says why."""

import io

import pytest

from catalog.models import DatasetVersion

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b'[{"a": 1, "b": 2}, {"a": 3, "b": 4}]\n', "JSON array"),
        (b"id;name;amount\n1;foo;3,5\n2;bar;4,25\n", "';'"),
    ],
)
def test_unsupported_layouts_are_refused_clearly(owner, api_client_for, content, says):
    client = api_client_for(owner)
    ds = client.post("/api/v1/datasets/", {"namespace": "s3://lake", "name": "odd"}, format="json").json()
    upload = io.BytesIO(content)
    upload.name = "data.csv"
    r = client.post(f"/api/v1/datasets/{ds['id']}/versions/", {"file": upload}, format="multipart")
    assert r.status_code == 400 and says in r.json()["detail"]
    assert not DatasetVersion.objects.exists()
