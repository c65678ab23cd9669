"""Handing a dataset to another owner and lowering its sensitivity are the owner's decisions."""

import pytest

from catalog import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def restricted(owner, steward):
    return services.create_dataset(
        actor=owner,
        namespace="postgres://db.internal:5432",
        name="hr.employees",
        stewards=[steward.username],
        sensitivity="restricted",
    )


def test_steward_cannot_take_ownership_or_lower_sensitivity(restricted, steward, outsider, api_client_for):
    client = api_client_for(steward)
    r = client.patch(f"/api/v1/datasets/{restricted.pk}/", {"owner": outsider.username}, format="json")
    assert r.status_code == 403 and "owner" in r.json()["detail"]
    r = client.patch(f"/api/v1/datasets/{restricted.pk}/", {"sensitivity": "public"}, format="json")
    assert r.status_code == 403 and "lower" in r.json()["detail"]
    restricted.refresh_from_db()
    assert restricted.owner.username == "olivia_owner" and restricted.sensitivity == "restricted"


def test_steward_may_raise_sensitivity_and_owner_may_do_both(
    restricted, owner, steward, outsider, api_client_for
):
    services.update_dataset(actor=owner, dataset=restricted, sensitivity="internal")
    r = api_client_for(steward).patch(
        f"/api/v1/datasets/{restricted.pk}/", {"sensitivity": "confidential"}, format="json"
    )
    assert r.status_code == 200 and r.json()["sensitivity"] == "confidential"
    r = api_client_for(owner).patch(
        f"/api/v1/datasets/{restricted.pk}/", {"owner": outsider.username}, format="json"
    )
    # Handing it over is an offer until the named user accepts (test_ownership.py).
    assert r.status_code == 200 and r.json()["pending_owner"] == outsider.username


def test_staff_may_reassign(restricted, staff, outsider):
    services.update_dataset(actor=staff, dataset=restricted, owner=outsider.username, sensitivity="public")
    restricted.refresh_from_db()
    assert restricted.owner == outsider and restricted.sensitivity == "public"


@pytest.mark.parametrize("label", [{"a": 1}, [1, 2]])
def test_positive_label_must_be_a_single_value(owner, api_client_for, label):
    r = api_client_for(owner).post(
        "/api/v1/datasets/", {"namespace": "s3://lake", "name": "pl", "positive_label": label}, format="json"
    )
    assert r.status_code == 400 and "positive_label" in r.json()["errors"]
