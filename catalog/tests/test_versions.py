"""catalog.versions: storing uploads and files in place, numbering, and the profile status mirror."""

import hashlib
import threading

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from catalog import services, versions
from catalog.models import Dataset, DatasetVersion
from catalog.tests.conftest import files_under
from config.errors import NotAllowed

pytestmark = pytest.mark.django_db

CSV = b"id,amount\n1,2.5\n2,3.0\n"


@pytest.fixture
def dataset(owner, steward):
    return services.create_dataset(
        actor=owner, namespace="s3://lake", name="orders", stewards=[steward.username]
    )


def test_upload_without_the_streaming_handler_is_hashed(dataset, owner, media_root):
    """The web UI may hand any UploadedFile; the checksum is then read from the file."""
    version, created = versions.add_version_from_upload(
        actor=owner, dataset=dataset, upload=SimpleUploadedFile("o.csv", CSV)
    )
    assert created and version.checksum == hashlib.sha256(CSV).hexdigest() and version.size_bytes == len(CSV)
    assert version.local_path() and open(version.local_path(), "rb").read() == CSV


def test_refused_upload_outsider_stores_nothing(dataset, outsider, media_root):
    with pytest.raises(NotAllowed):
        versions.add_version_from_upload(
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
        versions.add_version_from_upload(actor=owner, dataset=stale, upload=SimpleUploadedFile("o.csv", CSV))
    assert files_under(media_root) == [] and not DatasetVersion.objects.exists()


def test_set_profile_status(dataset, owner, media_root):
    version, _ = versions.add_version_from_upload(
        actor=owner, dataset=dataset, upload=SimpleUploadedFile("o.csv", CSV)
    )
    versions.set_version_profile_status(version=version, status="running")
    version.refresh_from_db()
    assert version.profile_status == "running"
    with pytest.raises(ValueError):
        versions.set_version_profile_status(version=version, status="exploded")


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
            versions.add_version_from_uri(actor=owner, dataset=ds, uri=path.as_uri())
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
