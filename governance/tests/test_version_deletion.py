"""Deleting a version (issue 18, part 4): a tombstone that keeps the row, its checksum, the audit
trail and lineage, and leaves no copy of the data's values in the database or the file storage."""

import io

import pytest

from catalog.models import DatasetVersion
from governance.models import AuditRecord
from profiling.models import ExpectationSuite, ProfileRun, QualityResult
from tests.stored_copies import stored_copies

pytestmark = pytest.mark.django_db

SECRET = "zelda.tombstone@example.org"
RARE = "987654.125"


def _csv(rows: list[tuple[str, str, str]]) -> bytes:
    return ("email,amount,city\n" + "".join(f"{e},{a},{c}\n" for e, a, c in rows)).encode()


FIRST = _csv([(SECRET, RARE, "Lyon"), (SECRET, "3.5", "Lyon"), ("bob@example.org", "2.5", "Paris")] * 3)
SECOND = _csv([("carl@example.org", "1.5", "Paris"), ("dina@example.org", "4.5", "Nice")] * 3)


@pytest.fixture
def versions(owner, steward, api_client_for, django_capture_on_commit_callbacks):
    client = api_client_for(owner)
    r = client.post(
        "/api/v1/datasets/",
        {"namespace": "s3://lake", "name": "crm/contacts", "stewards": [steward.username]},
        format="json",
    )
    ds = r.json()["id"]
    for i, body in enumerate((FIRST, SECOND), start=1):
        upload = io.BytesIO(body)
        upload.name = f"contacts-{i}.csv"
        with django_capture_on_commit_callbacks(execute=True):
            r = client.post(f"/api/v1/datasets/{ds}/versions/", {"file": upload}, format="multipart")
        assert r.status_code == 201, r.content
    return ds


def _delete(client, ds, number, capture):
    with capture(execute=True):
        return client.delete(f"/api/v1/datasets/{ds}/versions/{number}/")


def test_deleting_a_version_purges_its_file_and_every_value_derived_from_it(
    versions, owner, api_client_for, django_capture_on_commit_callbacks
):
    client, ds = api_client_for(owner), versions
    first = DatasetVersion.objects.get(dataset_id=ds, number=1)
    assert client.get(f"/api/v1/datasets/{ds}/versions/1/profile/").json()["status"] == "succeeded"
    assert stored_copies(SECRET) and stored_copies(RARE), "the test must start with copies to purge"
    assert ExpectationSuite.objects.get(dataset_id=ds).meta["proposed_from_version"] == 1
    checksum, size = first.checksum, first.size_bytes

    r = _delete(client, ds, 1, django_capture_on_commit_callbacks)

    assert r.status_code == 204, r.content
    assert stored_copies(SECRET) == [] and stored_copies(RARE) == []
    listed = client.get(f"/api/v1/datasets/{ds}/versions/").json()["results"]
    tomb = next(v for v in listed if v["number"] == 1)
    assert tomb["deleted_at"] and tomb["checksum"] == checksum and tomb["size_bytes"] == size
    assert tomb["uri"] == ""
    assert not ProfileRun.objects.filter(version=first).exists()
    assert not QualityResult.objects.filter(version=first).exists()
    # The second version no longer compares itself with the deleted one; the proposed suite was
    # learned again from the second version's profile.
    assert ProfileRun.objects.get(dataset_id=ds, version_number=2).drift is None
    assert ExpectationSuite.objects.get(dataset_id=ds).meta["proposed_from_version"] == 2
    record = AuditRecord.objects.get(action="version.deleted")
    assert record.before["checksum"] == checksum and record.object_id == str(first.pk)


def test_a_deleted_version_cannot_be_read_profiled_or_deleted_again(
    versions, owner, api_client_for, django_capture_on_commit_callbacks
):
    client, ds = api_client_for(owner), versions
    assert _delete(client, ds, 1, django_capture_on_commit_callbacks).status_code == 204
    for r in (
        client.get(f"/api/v1/datasets/{ds}/versions/1/profile/"),
        client.post(f"/api/v1/datasets/{ds}/versions/1/profile/"),
        client.delete(f"/api/v1/datasets/{ds}/versions/1/"),
    ):
        assert r.status_code == 410 and r.json()["detail"], r.content
    assert AuditRecord.objects.filter(action="version.deleted").count() == 1


def test_deleting_the_latest_version_makes_the_previous_one_latest_and_numbers_are_not_reused(
    versions, owner, api_client_for, django_capture_on_commit_callbacks
):
    client, ds = api_client_for(owner), versions
    assert _delete(client, ds, 2, django_capture_on_commit_callbacks).status_code == 204
    assert client.get(f"/api/v1/datasets/{ds}/").json()["latest_version"] == 1
    # The same bytes as the deleted version make a new version: the old bytes are gone.
    upload = io.BytesIO(SECOND)
    upload.name = "again.csv"
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post(f"/api/v1/datasets/{ds}/versions/", {"file": upload}, format="multipart")
    assert r.status_code == 201 and r.json()["number"] == 3
    assert _delete(client, ds, 1, django_capture_on_commit_callbacks).status_code == 204
    assert _delete(client, ds, 3, django_capture_on_commit_callbacks).status_code == 204
    assert client.get(f"/api/v1/datasets/{ds}/").json()["latest_version"] is None


def test_only_the_owner_or_staff_delete_a_version_and_a_refusal_changes_nothing(
    versions, steward, outsider, staff, api_client_for, django_capture_on_commit_callbacks
):
    ds = versions
    for user in (steward, outsider):
        r = _delete(api_client_for(user), ds, 1, django_capture_on_commit_callbacks)
        assert r.status_code == 403, r.content
    assert DatasetVersion.objects.get(dataset_id=ds, number=1).deleted_at is None
    assert stored_copies(SECRET)
    assert _delete(api_client_for(staff), ds, 1, django_capture_on_commit_callbacks).status_code == 204


def test_a_receiver_that_fails_undoes_the_whole_deletion(
    versions, owner, api_client_for, django_capture_on_commit_callbacks, monkeypatch
):
    from profiling import forgetting

    def broken(**kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(forgetting, "purge_version", broken)
    client = api_client_for(owner)
    client.raise_request_exception = False
    r = _delete(client, versions, 1, django_capture_on_commit_callbacks)
    assert r.status_code == 500
    version = DatasetVersion.objects.get(dataset_id=versions, number=1)
    assert version.deleted_at is None and version.file and ProfileRun.objects.filter(version=version).exists()
    assert stored_copies(SECRET)


def test_alerts_that_compared_with_a_deleted_version_lose_their_figures_and_the_pin_goes(
    versions, owner, api_client_for, django_capture_on_commit_callbacks
):
    from governance.models import Event
    from profiling.forgetting import PURGED
    from profiling.models import Alert, Monitor

    client, ds = api_client_for(owner), versions
    rules = [{"metric": "null_fraction", "column": "amount", "op": "<", "threshold": 1}]  # always fires
    with django_capture_on_commit_callbacks(execute=True):
        r = client.put(f"/api/v1/datasets/{ds}/monitor", {"reference": 1, "rules": rules}, format="json")
    assert r.status_code == 200, r.content
    alert = Alert.objects.get(dataset_id=ds)
    assert (alert.version_number, alert.reference_version) == (2, 1) and alert.figures
    assert Event.objects.filter(name="alert.opened", data__alert__reference_version=1).exists()

    assert _delete(client, ds, 1, django_capture_on_commit_callbacks).status_code == 204

    alert.refresh_from_db()
    assert alert.figures == {} and alert.message == PURGED
    assert all("figures" not in step for step in alert.history)
    event = Event.objects.get(name="alert.opened", data__alert__reference_version=1)
    assert event.data["alert"]["figures"] == {} and event.data["alert"]["message"] == PURGED
    assert Monitor.objects.get(dataset_id=ds).reference_version is None
