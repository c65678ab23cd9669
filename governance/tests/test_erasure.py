"""Erasure of a data subject (issue 18, part 6): the versions and profiles that hold a value are
reported, the value is purged from everything Gouvernail stored (search the dump), the stored
copies that hold it may be deleted, and the record never repeats the value."""

import io

import pytest
from django.contrib.auth.models import Permission

from catalog.models import DatasetVersion
from catalog.redaction import value_digest
from governance.models import AuditRecord, Erasure
from lineage import ingest
from lineage.tests.events import ds, facet, run_event
from profiling.models import ProfileRun
from tests.stored_copies import stored_copies

pytestmark = pytest.mark.django_db

SECRET = "Erin.Subject@Example.org"
OTHER_ID = "48151623"
URL = "/api/v1/privacy/erasures"


def _csv(rows) -> str:
    return "email,customer_id,amount\n" + "".join(f"{e},{c},{a}\n" for e, c, a in rows)


STORED = _csv([(SECRET.lower(), OTHER_ID, "3.5"), ("bob@example.org", "100", "2.5")] * 4)
REGISTERED = _csv([(SECRET, OTHER_ID, "1.5"), ("carl@example.org", "101", "4.5")] * 4)


@pytest.fixture
def contacts(owner, steward, api_client_for, data_root, django_capture_on_commit_callbacks):
    client = api_client_for(owner)
    r = client.post(
        "/api/v1/datasets/",
        {
            "namespace": "s3://lake",
            "name": "crm/contacts",
            "stewards": [steward.username],
            "sensitive_columns": ["customer_id"],
        },
        format="json",
    )
    ds_id = r.json()["id"]
    upload = io.BytesIO(STORED.encode())
    upload.name = "contacts.csv"
    path = data_root / "contacts-2.csv"
    path.write_text(REGISTERED)
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            client.post(
                f"/api/v1/datasets/{ds_id}/versions/", {"file": upload}, format="multipart"
            ).status_code
            == 201
        )
        assert (
            client.post(
                f"/api/v1/datasets/{ds_id}/versions/", {"uri": path.as_uri()}, format="json"
            ).status_code
            == 201
        )
    # A pipeline's lineage event whose facet quotes the value.
    ingest.ingest_event(
        body=run_event("export", outputs=[ds("s3://lake", "crm/contacts", sampleRow=facet(email=SECRET))])
    )
    return ds_id


def _erase(client, capture, **body):
    with capture(execute=True):
        return client.post(URL, body, format="json")


def test_erasure_reports_and_purges_the_value_and_deletes_the_stored_copy(
    contacts, staff, api_client_for, django_capture_on_commit_callbacks
):
    assert ProfileRun.objects.filter(dataset_id=contacts, status="succeeded").count() == 2
    assert stored_copies(SECRET), "the test must start with copies to purge"

    r = _erase(
        api_client_for(staff),
        django_capture_on_commit_callbacks,
        value=f"  {SECRET.upper()} ",
        delete_versions=True,
    )

    assert r.status_code == 201, r.content
    report = r.json()["report"]
    found = {v["version"]: v for v in report["versions"]}
    assert set(found) == {1, 2} and found[1]["columns"] == {"email": 4}
    assert found[1]["stored_copy"] and found[1]["deleted"] and not found[2]["stored_copy"]
    assert report["profiles"] == []  # profiling never keeps a PII column's values
    assert report["purged"]["lineage"]["lineageevent"] == 1
    assert report["deleted_versions"] == [{"dataset": contacts, "version": 1}]
    # Nothing Gouvernail keeps holds the value any more: not the database (the report and the
    # audit record included), not the file storage. The registered file is the owner's, not ours.
    assert stored_copies(SECRET) == []
    assert DatasetVersion.objects.get(dataset_id=contacts, number=1).deleted_at is not None
    assert DatasetVersion.objects.get(dataset_id=contacts, number=2).deleted_at is None
    erasure = Erasure.objects.get()
    assert erasure.value_digest == value_digest(SECRET) and r.json()["value_digest"] == erasure.value_digest
    assert AuditRecord.objects.get(action="erasure.made").after["value_digest"] == erasure.value_digest


def test_a_numeric_id_is_erased_from_values_and_never_from_figures(
    contacts, staff, api_client_for, django_capture_on_commit_callbacks
):
    run = ProfileRun.objects.get(dataset_id=contacts, version_number=2)
    row_count = run.row_count
    r = _erase(
        api_client_for(staff), django_capture_on_commit_callbacks, value=OTHER_ID, column="customer_id"
    )
    assert r.status_code == 201, r.content
    report = r.json()["report"]
    assert {v["version"] for v in report["versions"]} == {1, 2}
    assert {(p["version"], tuple(p["columns"])) for p in report["profiles"]} == {
        (1, ("customer_id",)),
        (2, ("customer_id",)),
    }
    assert [c for c in stored_copies(OTHER_ID) if "profiling" in c or "governance" in c] == []
    run.refresh_from_db()
    assert run.row_count == row_count and run.columns  # figures kept


def test_a_value_found_nowhere_is_refused_and_nothing_is_recorded(
    contacts, staff, api_client_for, django_capture_on_commit_callbacks
):
    audits = AuditRecord.objects.count()
    r = _erase(api_client_for(staff), django_capture_on_commit_callbacks, value="nobody@nowhere.example")
    assert r.status_code == 422 and r.json()["errors"]["value"], r.content
    assert not Erasure.objects.exists() and AuditRecord.objects.count() == audits


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"value": ""},
        {"value": "   "},
        {"value": "ab"},
        {"value": 12},
        {"value": "x" * 1001},
        {"value": "abc", "delete_versions": "maybe"},
    ],
)
def test_bad_input_is_a_400_and_changes_nothing(
    body, contacts, staff, api_client_for, django_capture_on_commit_callbacks
):
    r = _erase(api_client_for(staff), django_capture_on_commit_callbacks, **body)
    assert r.status_code == 400 and r.json()["detail"], r.content
    assert not Erasure.objects.exists() and stored_copies(SECRET)


def test_only_staff_or_a_privacy_officer_erase(
    contacts, owner, steward, outsider, api_client_for, django_capture_on_commit_callbacks
):
    for user in (owner, steward, outsider):
        r = _erase(api_client_for(user), django_capture_on_commit_callbacks, value=SECRET)
        assert r.status_code == 403, r.content
        assert api_client_for(user).get(URL).status_code == 403
    assert stored_copies(SECRET) and not Erasure.objects.exists()
    outsider.user_permissions.add(Permission.objects.get(codename="add_erasure"))
    r = _erase(api_client_for(outsider), django_capture_on_commit_callbacks, value=SECRET)
    assert r.status_code == 201, r.content
    listed = api_client_for(outsider).get(URL).json()["results"]
    assert [e["id"] for e in listed] == [r.json()["id"]]
