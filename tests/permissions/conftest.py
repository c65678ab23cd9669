"""The world the permission matrix acts on: five roles (and a requester) and objects built on first use."""

import pytest

from tests.permissions.matrix import World


@pytest.fixture
def requester(make_user):
    return make_user("rita_requester", email="rita@example.org")


@pytest.fixture
def world(
    owner,
    steward,
    outsider,
    staff,
    requester,
    api_client_for,
    django_capture_on_commit_callbacks,
    settings,
    tmp_path,
) -> World:
    # Files a refused write must not leave behind: stored versions, and uploads spooled to disk.
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "upload-tmp")
    (tmp_path / "upload-tmp").mkdir()
    data_root = tmp_path / "data-root"
    data_root.mkdir()
    settings.DATA_ROOTS = [data_root.resolve()]
    users = {"owner": owner, "steward": steward, "outsider": outsider, "staff": staff, "requester": requester}
    return World(
        users=users,
        client_for=api_client_for,
        on_commit=django_capture_on_commit_callbacks,
        data_root=data_root,
    )
