"""Gzip files are limited by what they hold, not only by what they weigh: at most
GOUVERNAIL_MAX_VERSION_BYTES once decompressed (413), and at most GOUVERNAIL_MAX_EXPANSION_RATIO times
their own size past the first 16 MiB of text (400) -- at upload, at registration and when the worker
profiles a registered file. Refused as soon as the limit is passed, never read to the end.

A 10 MB gzip holding 10 GiB of rows used to be accepted after holding a web thread for 500 s.
"""

import gzip
import io

import pytest

from catalog import formats
from catalog.models import Column, DatasetVersion
from catalog.tests.conftest import files_under

pytestmark = pytest.mark.django_db

ROW = b"1,2025-01-01,north,0.5\n"


def bomb(text_bytes: int) -> bytes:
    """A gzip file of ``text_bytes`` bytes of one repeated CSV row (about 1:1000)."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as gz:
        gz.write(b"id,day,region,score\n")
        block = ROW * (1024 * 1024 // len(ROW))
        written = 0
        while written < text_bytes:
            gz.write(block)
            written += len(block)
    return out.getvalue()


def upload(client, dataset, content: bytes, name: str = "rows.csv.gz"):
    fh = io.BytesIO(content)
    fh.name = name
    return client.post(f"/api/v1/datasets/{dataset.pk}/versions/", {"file": fh}, format="multipart")


@pytest.fixture
def seen(monkeypatch):
    """The most text bytes decompressed before the check stopped (every block is checked)."""
    most = {"bytes": 0}
    check = formats.check_expansion

    def spy(text_bytes, compressed_bytes, **limits):
        most["bytes"] = max(most["bytes"], text_bytes)
        return check(text_bytes, compressed_bytes, **limits)

    monkeypatch.setattr(formats, "check_expansion", spy)
    return most


def nothing_stored(media_root, upload_tmp):
    assert DatasetVersion.objects.count() == 0 and Column.objects.count() == 0
    assert files_under(media_root) == [] and files_under(upload_tmp) == []


def test_a_gzip_bomb_is_refused_once_past_the_ratio_and_not_read_further(
    api_client_for, owner, dataset, media_root, upload_tmp, seen
):
    content = bomb(48 * 1024 * 1024)  # 48 MiB of text in ~50 KB
    r = upload(api_client_for(owner), dataset, content)
    assert r.status_code == 400, r.content
    assert "GOUVERNAIL_MAX_EXPANSION_RATIO" in r.json()["detail"] and "file" in r.json()["errors"]
    nothing_stored(media_root, upload_tmp)
    # Stopped at the first block past 100 x the file (or the first 16 MiB), not at its 48 MiB.
    assert seen["bytes"] <= max(formats.EXPANSION_GRACE, 100 * len(content)) + 1024 * 1024


def test_past_the_size_limit_once_decompressed_is_a_413(
    settings, api_client_for, owner, dataset, media_root, upload_tmp, seen
):
    settings.GOUVERNAIL_MAX_VERSION_BYTES = 3 * 1024 * 1024
    settings.GOUVERNAIL_MAX_EXPANSION_RATIO = 10_000
    content = bomb(8 * 1024 * 1024)
    assert len(content) < settings.GOUVERNAIL_MAX_VERSION_BYTES
    r = upload(api_client_for(owner), dataset, content)
    assert r.status_code == 413, r.content
    assert "GOUVERNAIL_MAX_VERSION_BYTES" in r.json()["detail"] and "ecompressed" in r.json()["detail"]
    nothing_stored(media_root, upload_tmp)
    assert seen["bytes"] <= settings.GOUVERNAIL_MAX_VERSION_BYTES + 1024 * 1024


def test_a_small_file_that_compresses_very_well_is_taken(api_client_for, owner, dataset, media_root):
    content = bomb(4 * 1024 * 1024)  # ~1:1000, but within the first 16 MiB
    r = upload(api_client_for(owner), dataset, content)
    assert r.status_code == 201, r.content


def test_a_registered_gzip_bomb_is_refused(api_client_for, owner, dataset, data_root):
    path = data_root / "rows.csv.gz"
    path.write_bytes(bomb(48 * 1024 * 1024))
    r = api_client_for(owner).post(
        f"/api/v1/datasets/{dataset.pk}/versions/", {"uri": path.as_uri()}, format="json"
    )
    assert r.status_code == 400 and "GOUVERNAIL_MAX_EXPANSION_RATIO" in r.json()["detail"]
    assert DatasetVersion.objects.count() == 0


def test_the_web_upload_says_why(web, owner, dataset, media_root, upload_tmp):
    fh = io.BytesIO(bomb(48 * 1024 * 1024))
    fh.name = "rows.csv.gz"
    response = web(owner).post(f"/datasets/{dataset.pk}/versions/upload/", {"file": fh}, follow=True)
    assert "GOUVERNAIL_MAX_EXPANSION_RATIO" in response.content.decode()
    nothing_stored(media_root, upload_tmp)


def test_decompression_never_holds_more_than_a_block():
    """Each block of a bomb comes out at most ``chunk`` bytes long, whatever one input block holds."""
    content = bomb(64 * 1024 * 1024)
    sizes = [len(b) for b in formats.gunzip_blocks(io.BytesIO(content), chunk=256 * 1024)]
    assert max(sizes) <= 256 * 1024
    assert sum(sizes) == len(gzip.decompress(content))
    # Concatenated members are one file; a cut one is truncated.
    twice = content + content
    assert sum(len(b) for b in formats.gunzip_blocks(io.BytesIO(twice))) == 2 * sum(sizes)
    with pytest.raises(formats.FormatError, match="truncated"):
        list(formats.gunzip_blocks(io.BytesIO(content[:-20])))


# ---------------------------------------------------------------------------------------------
# The worker: a registered file it reads


@pytest.mark.parametrize("limit", ["GOUVERNAIL_MAX_VERSION_BYTES", "GOUVERNAIL_MAX_EXPANSION_RATIO"])
@pytest.mark.parametrize(
    ("name", "content"),
    [("rows.csv.gz", None), ("rows.jsonl.gz", b'{"id": 1, "note": "' + b"x" * 4000 + b'"}\n')],
)
def test_the_worker_stops_reading_a_file_past_the_limits(
    settings,
    api_client_for,
    owner,
    dataset,
    data_root,
    django_capture_on_commit_callbacks,
    name,
    content,
    limit,
):
    """Registered within the limits of the day, profiled after they were lowered: the job fails
    with the reason instead of reading gigabytes."""
    from profiling.models import ProfileRun

    settings.GOUVERNAIL_MAX_EXPANSION_RATIO = 10_000
    path = data_root / name
    if content is None:
        path.write_bytes(bomb(24 * 1024 * 1024))
    else:
        path.write_bytes(gzip.compress(content * (24 * 1024 * 1024 // len(content)), compresslevel=9))
    with django_capture_on_commit_callbacks(execute=False) as queued:
        r = api_client_for(owner).post(
            f"/api/v1/datasets/{dataset.pk}/versions/", {"uri": path.as_uri()}, format="json"
        )
    assert r.status_code == 201, r.content
    if limit == "GOUVERNAIL_MAX_VERSION_BYTES":
        settings.GOUVERNAIL_MAX_VERSION_BYTES = 8 * 1024 * 1024
    else:
        settings.GOUVERNAIL_MAX_EXPANSION_RATIO = 100
    with django_capture_on_commit_callbacks(execute=True):
        for callback in queued:
            callback()
    run = ProfileRun.objects.get(version__dataset=dataset)
    assert run.status == "failed"
    assert limit in run.error, run.error


def test_the_engine_refuses_a_file_past_the_ratio(tmp_path):
    from profiling.engine import ProfileError, ProfileOptions, profile_file

    path = tmp_path / "rows.csv.gz"
    path.write_bytes(bomb(64 * 1024 * 1024))
    with pytest.raises(ProfileError, match="GOUVERNAIL_MAX_EXPANSION_RATIO"):
        profile_file(str(path), format="csv", compression="gzip", options=ProfileOptions(max_expansion=100))
