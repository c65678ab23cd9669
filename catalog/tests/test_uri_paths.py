"""Registering a version by ``uri`` whose path no file system can hold or follow: a component over
255 bytes, a path over 4,096 bytes, a loop of symbolic links. Each is a 400 saying so (they were a
500: the operating system's ENAMETOOLONG and ELOOP, or Python's "Symlink loop"), and a registered
file that later becomes one fails its profile with the same words.
"""

from urllib.parse import quote

import pytest

from catalog.models import DatasetVersion

pytestmark = pytest.mark.django_db

CSV = b"id,city\n1,Paris\n2,Lyon\n"


def register(client, dataset, path: str, *, escaped: bool = True):
    client.raise_request_exception = False
    uri = "file://" + (quote(path) if escaped else path)
    return client.post(f"/api/v1/datasets/{dataset.pk}/versions/", {"uri": uri}, format="json")


def refused(response, words: str) -> None:
    assert response.status_code == 400, response.content[:300]
    body = response.json()
    assert "uri" in body["errors"] and words in body["detail"], body
    assert DatasetVersion.objects.count() == 0


@pytest.mark.parametrize("name", ["a" * 256, "é" * 128, "x" * 3_000])
def test_a_component_longer_than_255_bytes_is_named(api_client_for, owner, dataset, data_root, name):
    r = register(api_client_for(owner), dataset, f"{data_root}/{name}/data.csv")
    refused(r, "component of the path")


def test_a_path_longer_than_4096_bytes_is_refused(api_client_for, owner, dataset, data_root):
    deep = str(data_root) + ("/" + "é" * 100) * 21 + "/data.csv"  # 4,200 bytes in 2,100 characters
    r = register(api_client_for(owner), dataset, deep, escaped=False)
    refused(r, "the limit is 4096")


def test_a_name_of_255_bytes_is_a_name(api_client_for, owner, dataset, data_root, media_root):
    path = data_root / ("é" * 125 + "x" * 5)  # 255 bytes in UTF-8
    path.write_bytes(CSV)
    assert register(api_client_for(owner), dataset, str(path)).status_code == 201


@pytest.mark.parametrize("tail", ["", "/data.csv"])
def test_a_loop_of_symbolic_links_is_named(api_client_for, owner, dataset, data_root, tail):
    (data_root / "one").symlink_to(data_root / "two")
    (data_root / "two").symlink_to(data_root / "one")
    r = register(api_client_for(owner), dataset, f"{data_root}/one{tail}")
    refused(r, "loop")


def test_a_registered_file_that_became_a_loop_fails_its_profile_saying_so(
    api_client_for, owner, dataset, data_root, django_capture_on_commit_callbacks
):
    from profiling.models import ProfileRun

    path = data_root / "data.csv"
    path.write_bytes(CSV)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        assert register(api_client_for(owner), dataset, str(path)).status_code == 201
    path.unlink()
    (data_root / "other").symlink_to(path)
    path.symlink_to(data_root / "other")
    with django_capture_on_commit_callbacks(execute=True):
        for callback in queued:
            callback()
    run = ProfileRun.objects.get(version__dataset=dataset)
    assert run.status == "failed", run.error
    assert "symbolic links lead round in a loop" in run.error and "unexpectedly" not in run.error
