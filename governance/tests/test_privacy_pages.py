"""The web pages of issue 18's forgetting: the versions table shows tombstones and offers owners a
delete button behind a confirmation; staff erase a value on the Erasures page, which never shows
the value back."""

import io

import pytest

from catalog.models import DatasetVersion
from governance.models import Erasure

pytestmark = pytest.mark.django_db

SECRET = "pia.page@example.org"


@pytest.fixture
def dataset_with_version(owner, steward, api_client_for, django_capture_on_commit_callbacks):
    client = api_client_for(owner)
    ds = client.post(
        "/api/v1/datasets/",
        {"namespace": "s3://lake", "name": "crm/pages", "stewards": [steward.username]},
        format="json",
    ).json()["id"]
    upload = io.BytesIO(f"email,n\n{SECRET},1\nbob@example.org,2\n".encode())
    upload.name = "pages.csv"
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/api/v1/datasets/{ds}/versions/", {"file": upload}, format="multipart")
    return ds


def test_owner_deletes_a_version_after_confirming_and_the_table_shows_the_tombstone(
    web, owner, dataset_with_version, django_capture_on_commit_callbacks
):
    ds, client = dataset_with_version, web(owner)
    page = client.get(f"/datasets/{ds}/").content.decode()
    assert f"/datasets/{ds}/versions/1/delete/" in page
    confirm = client.get(f"/datasets/{ds}/versions/1/delete/")
    assert confirm.status_code == 200 and "Delete version 1" in confirm.content.decode()
    assert DatasetVersion.objects.get(dataset_id=ds).deleted_at is None  # asking changes nothing
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post(f"/datasets/{ds}/versions/1/delete/")
    assert r.status_code == 302 and DatasetVersion.objects.get(dataset_id=ds).deleted_at is not None
    table = client.get(f"/datasets/{ds}/versions/").content.decode()
    assert "badge-deleted" in table and f"/datasets/{ds}/versions/1/delete/" not in table
    assert "was deleted" in client.get(f"/datasets/{ds}/profile/?version=1").content.decode()


def test_a_steward_gets_no_delete_button_and_a_403(web, steward, dataset_with_version):
    ds, client = dataset_with_version, web(steward)
    assert f"/datasets/{ds}/versions/1/delete/" not in client.get(f"/datasets/{ds}/").content.decode()
    assert client.post(f"/datasets/{ds}/versions/1/delete/").status_code == 403
    assert DatasetVersion.objects.get(dataset_id=ds).deleted_at is None


def test_staff_erase_a_value_and_the_page_shows_the_report_never_the_value(
    web, staff, outsider, dataset_with_version, django_capture_on_commit_callbacks
):
    assert web(outsider).get("/privacy/erasures/").status_code == 403
    client = web(staff)
    assert "Erasures" in client.get("/privacy/erasures/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post("/privacy/erasures/", {"value": SECRET, "delete_versions": "on"})
    page = r.content.decode()
    assert r.status_code == 200 and "erasure-report" in page and SECRET not in page
    assert Erasure.objects.get().report["deleted_versions"] == [
        {"dataset": dataset_with_version, "version": 1}
    ]
    again = client.post("/privacy/erasures/", {"value": SECRET}).content.decode()
    assert "found nowhere" in again and f"Erasure {Erasure.objects.get().pk}" in again and SECRET not in again
