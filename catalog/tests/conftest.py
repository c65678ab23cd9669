"""Fixtures of the catalog's tests: a dataset in the owner/steward roles and private storage folders."""

import os
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
