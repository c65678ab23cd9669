"""Lineage and governance together: what an OpenLineage event does to what clearance and the audit
see (these tests import governance, which lineage itself never does)."""

import pytest

from catalog import services as catalog_services
from catalog.models import Dataset
from governance.models import AuditRecord
from lineage.models import EventState, LineageEvent
from lineage.tests.events import ds, facet, run_event

pytestmark = pytest.mark.django_db

URL = "/api/v1/lineage"


def _post(client, body):
    return client.post(URL, body, format="json")


def pending() -> int:
    return LineageEvent.objects.filter(state=EventState.PENDING).count()


def test_an_ownership_facet_does_not_hand_over_someone_elses_ownerless_dataset(
    owner, outsider, staff, api_client_for, django_capture_on_commit_callbacks
):
    """QA G7: a dataset found through lineage without an owner, made restricted by staff; a stranger's
    event naming themself its owner took it, and the audit named nobody."""
    salaries = ("pg://hr", "qa5.salaries")
    _post(api_client_for(owner), run_event("load_hr", outputs=[ds(*salaries)]))
    dataset = Dataset.objects.get(namespace=salaries[0], name=salaries[1])
    assert dataset.owner_id is None
    catalog_services.update_dataset(actor=staff, dataset=dataset, sensitivity="restricted")
    claim = ds(*salaries, ownership=facet(owners=[{"name": f"user:{outsider.username}"}]))
    assert _post(api_client_for(outsider), run_event("claim", inputs=[claim])).status_code == 201
    dataset.refresh_from_db()
    assert dataset.owner_id is None

    # A pipeline naming its owner when it first registers a dataset still sets it, and the audit
    # names the poster.
    new = ds("s3://lake", "team/table", ownership=facet(owners=[{"name": f"user:{owner.username}"}]))
    with django_capture_on_commit_callbacks(execute=True):
        _post(api_client_for(outsider), run_event("register", outputs=[new]))
    registered = Dataset.objects.get(namespace="s3://lake", name="team/table")
    assert registered.owner == owner
    record = AuditRecord.objects.filter(action="dataset.changed", object_id=str(registered.pk)).get()
    assert record.actor == outsider.username and record.after == {"owner": owner.username}
