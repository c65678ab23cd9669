"""A committed version keeps its file: whatever fails after the commit, only a row that was rolled
back takes its stored upload with it.

These tests commit for real (transaction=True), as a request does: the commit's callbacks run.
"""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from catalog import signals, versions
from catalog.models import Dataset, DatasetVersion
from catalog.tests.conftest import files_under

pytestmark = pytest.mark.django_db(transaction=True)

CSV = b"id,amount\n1,2.5\n2,3.0\n"


@pytest.fixture
def failing_subscriber():
    """A version_stored subscriber that fails (as one reaching a broker or cache that is down did)."""
    raised = []

    def subscriber(sender, version, **kwargs):
        raised.append(version.pk)
        raise raised_type("the subscriber failed")

    raised_type = RuntimeError
    signals.version_stored.connect(subscriber, dispatch_uid="test-failing-subscriber")

    def choose(exc_type):
        nonlocal raised_type
        raised_type = exc_type
        return raised

    try:
        yield choose
    finally:
        signals.version_stored.disconnect(dispatch_uid="test-failing-subscriber")


def test_a_subscriber_failing_after_commit_neither_fails_the_upload_nor_loses_its_file(
    dataset, owner, media_root, api_client_for, failing_subscriber
):
    raised = failing_subscriber(RuntimeError)
    fh = SimpleUploadedFile("orders.csv", CSV)
    r = api_client_for(owner).post(
        f"/api/v1/datasets/{dataset.pk}/versions/", {"file": fh}, format="multipart"
    )
    assert r.status_code == 201, r.content
    version = DatasetVersion.objects.get(dataset=dataset, number=r.json()["number"])
    assert raised == [version.pk]
    assert open(version.local_path(), "rb").read() == CSV


def test_an_interruption_after_commit_keeps_the_committed_rows_file(
    dataset, owner, media_root, failing_subscriber
):
    """Something that is not an Exception (a worker's timeout, an interrupt) stops the request in a
    commit callback: the row is committed, so its file stays."""
    failing_subscriber(KeyboardInterrupt)
    with pytest.raises(KeyboardInterrupt):
        versions.add_version_from_upload(
            actor=owner, dataset=dataset, upload=SimpleUploadedFile("o.csv", CSV)
        )
    version = DatasetVersion.objects.get(dataset=dataset)
    assert open(version.local_path(), "rb").read() == CSV
    assert files_under(media_root) == [version.local_path()]


def test_a_row_that_was_rolled_back_takes_its_file_with_it(dataset, owner, media_root):
    """The dataset is deleted by someone else while the upload is handled: no row, no file."""
    stale = Dataset.objects.get(pk=dataset.pk)
    Dataset.objects.filter(pk=dataset.pk).delete()
    with pytest.raises(Dataset.DoesNotExist):
        versions.add_version_from_upload(actor=owner, dataset=stale, upload=SimpleUploadedFile("o.csv", CSV))
    assert files_under(media_root) == [] and not DatasetVersion.objects.exists()
