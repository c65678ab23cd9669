"""Django admin: dataset edits go through catalog's services and are audited; recorded results are read-only."""

import pytest
from django.test import Client

from governance.models import AuditRecord

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_for(make_user):
    user = make_user("ada_admin", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(user)
    return client, user


def _form(ds, **changes):
    data = {
        "title": ds.title,
        "description": ds.description,
        "owner": ds.owner_id,
        "stewards": [s.pk for s in ds.stewards.all()],
        "domain": ds.domain,
        "tags": [],
        "sensitivity": ds.sensitivity,
        "sensitive_columns": "[]",
        "label_column": ds.label_column,
        "positive_label": "null",
        "columns-TOTAL_FORMS": "0",
        "columns-INITIAL_FORMS": "0",
        "columns-MIN_NUM_FORMS": "0",
        "columns-MAX_NUM_FORMS": "1000",
    }
    data.update(changes)
    return data


def test_admin_dataset_edit_is_audited(
    admin_client_for, owner, steward, make_dataset, django_capture_on_commit_callbacks
):
    """QA F26: lowering sensitivity and changing stewards in the admin leaves an audit record."""
    client, admin_user = admin_client_for
    ds = make_dataset("restricted")
    url = f"/admin/catalog/dataset/{ds.pk}/change/"
    assert client.get(url).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post(url, _form(ds, sensitivity="public", stewards=[steward.pk]))
    assert r.status_code == 302, r.content.decode()[:2000]
    ds.refresh_from_db()
    assert ds.sensitivity == "public" and [s.pk for s in ds.stewards.all()] == [steward.pk]
    rec = AuditRecord.objects.filter(action="dataset.changed").latest("seq")
    assert rec.via == "admin" and rec.actor == admin_user.username
    assert rec.before["sensitivity"] == "restricted" and rec.after["sensitivity"] == "public"
    assert "stewards" in rec.after


def test_admin_cannot_add_datasets_or_edit_recorded_results(admin_client_for, make_dataset):
    client, _ = admin_client_for
    make_dataset("public")
    assert client.get("/admin/catalog/dataset/add/").status_code == 403
    for model in (
        "profiling/profilerun",
        "profiling/qualityresult",
        "profiling/expectationsuite",
        "catalog/datasetversion",
    ):
        assert client.get(f"/admin/{model}/add/").status_code == 403, model
    # Audit records stay read-only too.
    assert client.get("/admin/governance/auditrecord/add/").status_code == 403
