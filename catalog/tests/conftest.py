"""Fixtures of the catalog's tests: a dataset in the owner/steward roles and private storage folders."""

import os
import uuid
from pathlib import Path

import pytest

from catalog import services


@pytest.fixture
def media_root(tmp_path, settings) -> Path:
    """MEDIA_ROOT for this test only, so that 'no orphan file' can be checked exactly."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = str(root)
    return root


@pytest.fixture
def upload_tmp(tmp_path, settings) -> Path:
    """Where streamed uploads are spooled; refused uploads must leave nothing here either."""
    root = tmp_path / "upload-tmp"
    root.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(root)
    return root


def files_under(root: Path) -> list[str]:
    return [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs]


@pytest.fixture
def dataset(owner, steward):
    return services.create_dataset(
        actor=owner, namespace="s3://lake", name="sales/orders", stewards=[steward.username]
    )


@pytest.fixture(scope="session")
def source_db():
    """A PostgreSQL database filled to be scanned (tests/pg_source.py: 3 schemas, 300 tables, views,
    a partitioned table, awkward names), made once per run and dropped at its end. Read-only for the
    tests that share it: a test that writes makes its own tables (``scratch_source_db``)."""
    from tests.pg_source import make_source_database

    db = make_source_database(n_tables=300, schemas=3)
    yield db
    db.drop()


@pytest.fixture
def scratch_source_db():
    """A small source database of this test's own, to change at will."""
    from tests.pg_source import make_source_database

    db = make_source_database(n_tables=3, schemas=3)
    yield db
    db.drop()


@pytest.fixture
def postgres_source(monkeypatch):
    """postgres_source(db, dsn=None, **fields) → an unsaved Source of kind postgres on ``db``; with
    ``dsn``, the secret names an environment variable holding it (set for this test only)."""
    from catalog.models import Source

    def make(db, dsn: str | None = None, **fields):
        if dsn is not None:
            name = f"GV_TEST_PG_DSN_{uuid.uuid4().hex[:8].upper()}"
            monkeypatch.setenv(name, dsn)
            fields.setdefault("secret", name)
        return Source(name="pg", kind="postgres", uri=fields.pop("uri", db.uri), **fields)

    return make
