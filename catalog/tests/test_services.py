"""catalog.services: the dataset writes other apps and the UI call. Permissions, signals, bulk registration."""

import pytest
from django.core.exceptions import ValidationError

from catalog import services, signals
from catalog.models import Dataset, Origin
from config.errors import Conflict, NotAllowed

pytestmark = pytest.mark.django_db

CSV = b"id,amount\n1,2.5\n2,3.0\n"


@pytest.fixture
def dataset(owner, steward):
    return services.create_dataset(
        actor=owner, namespace="s3://lake", name="orders", stewards=[steward.username]
    )


def test_create_by_nobody_has_no_owner():
    ds = services.create_dataset(actor=None, namespace="kafka://broker:9092", name="topic.events")
    assert ds.owner is None and ds.urn == "dataset:kafka://broker:9092:topic.events"


def test_duplicate_is_conflict(dataset, owner):
    with pytest.raises(Conflict):
        services.create_dataset(actor=owner, namespace="s3://lake", name="orders")


def test_ensure_dataset_registers_once():
    ds, created = services.ensure_dataset(namespace="s3://lake", name="found/by/lineage")
    assert created and ds.origin == Origin.LINEAGE
    again, created_again = services.ensure_dataset(namespace="s3://lake", name="found/by/lineage")
    assert again.pk == ds.pk and not created_again


def test_update_checks_permission_unless_system(dataset, outsider):
    with pytest.raises(NotAllowed):
        services.update_dataset(actor=outsider, dataset=dataset, title="x")
    services.update_dataset(
        actor=None, dataset=dataset, check=False, via="lineage", description="From a facet"
    )
    dataset.refresh_from_db()
    assert dataset.description == "From a facet"


def test_update_refuses_unknown_field(dataset, owner):
    with pytest.raises(ValidationError):
        services.update_dataset(actor=owner, dataset=dataset, namespace="elsewhere")


def test_delete_permission(dataset, steward, outsider, owner):
    for user in (steward, outsider):
        with pytest.raises(NotAllowed):
            services.delete_dataset(actor=user, dataset=dataset)
    services.delete_dataset(actor=owner, dataset=dataset)
    assert not Dataset.objects.exists()


def test_signals_after_commit_with_changes(dataset, owner, django_capture_on_commit_callbacks):
    seen = []

    def receiver(sender, dataset, actor, changes, via, **kwargs):
        seen.append((changes, via))

    signals.dataset_changed.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            services.update_dataset(actor=owner, dataset=dataset, title="Orders", via="ui")
            services.update_dataset(actor=owner, dataset=dataset, title="Orders")  # no change, no signal
    finally:
        signals.dataset_changed.disconnect(receiver)
    assert seen == [({"title": ["", "Orders"]}, "ui")]


def test_lineage_naming_a_deleted_dataset_again_registers_it_as_sensitive_as_it_left(owner):
    """A deleted dataset's URN does not come back less sensitive, through lineage either."""
    from catalog.models import RetiredDataset

    ds = services.create_dataset(actor=owner, namespace="pg://crm", name="raw.gone", sensitivity="restricted")
    services.delete_dataset(actor=owner, dataset=ds)
    retired = RetiredDataset.objects.get(namespace="pg://crm", name="raw.gone")
    assert (retired.sensitivity, retired.owner_id) == ("restricted", owner.pk)
    again = services.ensure_datasets([("pg://crm", "raw.gone"), ("pg://crm", "raw.new")])
    assert again[("pg://crm", "raw.gone")].sensitivity == "restricted"
    assert again[("pg://crm", "raw.new")].sensitivity == "internal"
