"""Fixtures of profiling's tests: a dataset with an owner and a steward, and versions made the way
the product makes them (catalog services, so that the version_stored hook really queues the job)."""

import pytest

from catalog import services as catalog_services
from catalog import versions as catalog_versions


@pytest.fixture
def dataset(owner, steward):
    return catalog_services.create_dataset(
        actor=owner,
        namespace="s3://lake",
        name="credit/applications",
        stewards=[steward.username],
        sensitivity="internal",
    )


@pytest.fixture
def add_version(data_root, owner, django_capture_on_commit_callbacks):
    """add_version(dataset, text_or_bytes, filename="data.csv") → the version, profiled (eager)."""
    counter = {"n": 0}

    def add(dataset, content, filename: str = "data.csv", actor=None):
        counter["n"] += 1
        path = data_root / f"{counter['n']}-{filename}"
        if isinstance(content, str):
            path.write_text(content)
        else:
            path.write_bytes(content)
        with django_capture_on_commit_callbacks(execute=True):
            version, _ = catalog_versions.add_version_from_uri(
                actor=actor or owner, dataset=dataset, uri=path.as_uri()
            )
        version.refresh_from_db()
        return version

    return add
