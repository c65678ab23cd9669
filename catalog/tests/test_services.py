"""catalog.services: what other apps and the UI call. Permissions, columns, versions, signals."""

import hashlib
import threading

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from catalog import services, signals
from catalog.models import Dataset, DatasetVersion, Origin
from catalog.tests.conftest import files_under
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


def test_columns_from_schema_keep_stewards_notes(dataset, steward):
    services.set_columns_from_schema(
        dataset=dataset, columns=[{"name": "id", "type": "int64"}, {"name": "email", "type": "string"}]
    )
    col = dataset.columns.get(name="email")
    services.update_column(actor=steward, column=col, description="Contact", is_pii=True)
    services.set_columns_from_schema(
        dataset=dataset,
        columns=[
            {"name": "email", "type": "string", "description": "from the schema"},
            {"name": "ts", "type": "timestamp"},
        ],
    )
    cols = {c.name: c for c in dataset.columns.all()}
    assert cols["email"].description == "Contact" and cols["email"].is_pii and cols["email"].position == 0
    assert cols["id"].present is False and cols["ts"].present is True


def test_pii_findings_never_clear_a_stewards_flag(dataset, steward):
    services.set_columns_from_schema(dataset=dataset, columns=[{"name": "a"}, {"name": "b"}])
    services.update_column(actor=steward, column=dataset.columns.get(name="a"), is_pii=True)
    services.mark_columns_pii(dataset=dataset, findings={"a": [], "b": ["email", "email"]})
    cols = {c.name: c for c in dataset.columns.all()}
    assert cols["a"].is_pii and cols["a"].pii_kinds == []
    assert cols["b"].is_pii and cols["b"].pii_kinds == ["email"]


def test_update_column_refuses_outsider_and_bad_fields(dataset, outsider, owner):
    services.set_columns_from_schema(dataset=dataset, columns=[{"name": "a"}])
    col = dataset.columns.get()
    with pytest.raises(NotAllowed):
        services.update_column(actor=outsider, column=col, description="x")
    with pytest.raises(ValidationError):
        services.update_column(actor=owner, column=col, type="int")


def test_upload_without_the_streaming_handler_is_hashed(dataset, owner, media_root):
    """The web UI may hand any UploadedFile; the checksum is then read from the file."""
    version, created = services.add_version_from_upload(
        actor=owner, dataset=dataset, upload=SimpleUploadedFile("o.csv", CSV)
    )
    assert created and version.checksum == hashlib.sha256(CSV).hexdigest() and version.size_bytes == len(CSV)
    assert version.local_path() and open(version.local_path(), "rb").read() == CSV


def test_refused_upload_outsider_stores_nothing(dataset, outsider, media_root):
    with pytest.raises(NotAllowed):
        services.add_version_from_upload(
            actor=outsider, dataset=dataset, upload=SimpleUploadedFile("o.csv", CSV)
        )
    assert files_under(media_root) == [] and not DatasetVersion.objects.exists()


def test_row_failure_after_storing_removes_the_file(dataset, owner, media_root):
    """If the row cannot be written after the bytes were stored, the stored file goes too.

    Here the dataset is deleted by someone else while the upload is being handled.
    """
    stale = Dataset.objects.get(pk=dataset.pk)
    Dataset.objects.filter(pk=dataset.pk).delete()
    with pytest.raises(Dataset.DoesNotExist):
        services.add_version_from_upload(actor=owner, dataset=stale, upload=SimpleUploadedFile("o.csv", CSV))
    assert files_under(media_root) == [] and not DatasetVersion.objects.exists()


def test_set_profile_status(dataset, owner, media_root):
    version, _ = services.add_version_from_upload(
        actor=owner, dataset=dataset, upload=SimpleUploadedFile("o.csv", CSV)
    )
    services.set_version_profile_status(version=version, status="running")
    version.refresh_from_db()
    assert version.profile_status == "running"
    with pytest.raises(ValueError):
        services.set_version_profile_status(version=version, status="exploded")


@pytest.mark.django_db(transaction=True)
def test_concurrent_versions_are_numbered_without_gaps_or_collisions(owner, data_root):
    """Four writers at once (threads, each with its own connection) get numbers 1..4."""
    ds = services.create_dataset(actor=owner, namespace="s3://lake", name="race")
    paths = []
    for i in range(4):
        p = data_root / f"v{i}.csv"
        p.write_bytes(b"id,v\n%d,%d\n" % (i, i))
        paths.append(p)
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(paths))

    def worker(path):
        try:
            barrier.wait()
            services.add_version_from_uri(actor=owner, dataset=ds, uri=path.as_uri())
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(p,)) for p in paths]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(DatasetVersion.objects.filter(dataset=ds).values_list("number", flat=True)) == [1, 2, 3, 4]


def test_lineage_naming_a_deleted_dataset_again_registers_it_as_sensitive_as_it_left(owner):
    """QA G18: a deleted dataset's URN does not come back less sensitive, through lineage either."""
    from catalog.models import RetiredDataset

    ds = services.create_dataset(actor=owner, namespace="pg://crm", name="raw.gone", sensitivity="restricted")
    services.delete_dataset(actor=owner, dataset=ds)
    retired = RetiredDataset.objects.get(namespace="pg://crm", name="raw.gone")
    assert (retired.sensitivity, retired.owner_id) == ("restricted", owner.pk)
    again = services.ensure_datasets([("pg://crm", "raw.gone"), ("pg://crm", "raw.new")])
    assert again[("pg://crm", "raw.gone")].sensitivity == "restricted"
    assert again[("pg://crm", "raw.new")].sensitivity == "internal"
