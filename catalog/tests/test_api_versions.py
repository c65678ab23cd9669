"""POST/GET /api/v1/datasets/{id}/versions/: uploads and registered paths, permissions, bad input.

Every refusal is checked twice: the 4xx answer, and that no version row and no file is left
(neither in MEDIA_ROOT nor in the upload spool folder).
"""

import gzip
import io
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.files.storage import InMemoryStorage, default_storage
from django.test.utils import CaptureQueriesContext  # noqa: F401 -- kept for debugging sessions

from catalog import signals
from catalog.models import DatasetVersion
from catalog.tests.conftest import files_under

pytestmark = pytest.mark.django_db

CSV = b"id,amount,city\n1,2.5,Paris\n2,3.0,Lyon\n"


def upload(client, dataset, content: bytes, name: str = "orders.csv"):
    fh = io.BytesIO(content)
    fh.name = name
    return client.post(f"/api/v1/datasets/{dataset.pk}/versions/", {"file": fh}, format="multipart")


def register(client, dataset, uri: str):
    return client.post(f"/api/v1/datasets/{dataset.pk}/versions/", {"uri": uri}, format="json")


@pytest.fixture
def clean(media_root, upload_tmp):
    """Asserts, after the test's refusal, that nothing was stored."""

    def check(response, status: int = 400, field: str | None = "file"):
        assert response.status_code == status, response.content
        body = response.json()
        assert body["detail"] and isinstance(body["errors"], dict)
        if field:
            assert field in body["errors"], body
        assert DatasetVersion.objects.count() == 0
        assert files_under(media_root) == []
        assert files_under(upload_tmp) == []
        return body

    return check


# ---------------------------------------------------------------------------------------------
# Who may add versions


@pytest.mark.parametrize("role", ["owner", "steward", "staff"])
def test_owner_steward_and_staff_upload(role, request, dataset, api_client_for, media_root, upload_tmp):
    user = request.getfixturevalue(role)
    r = upload(api_client_for(user), dataset, CSV)
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["number"] == 1 and body["format"] == "csv" and body["profile_status"] == "pending"
    import hashlib

    assert body["checksum"] == hashlib.sha256(CSV).hexdigest() and body["size_bytes"] == len(CSV)
    version = DatasetVersion.objects.get()
    assert version.created_by == user
    assert default_storage.exists(version.file.name)
    with version.open() as fh:
        assert fh.read() == CSV
    assert files_under(upload_tmp) == []  # the spooled upload was moved into storage, not copied
    assert r["Server-Timing"].startswith("sha256;dur=")


def test_outsider_may_not_upload(dataset, api_client_for, outsider, clean):
    clean(upload(api_client_for(outsider), dataset, CSV), status=403, field=None)


def test_outsider_may_not_register(dataset, api_client_for, outsider, data_root, clean):
    f = data_root / "a.csv"
    f.write_bytes(CSV)
    clean(register(api_client_for(outsider), dataset, f.as_uri()), status=403, field=None)


def test_without_credentials_401(dataset, anon_client, clean):
    clean(upload(anon_client, dataset, CSV), status=401, field=None)


def test_unknown_dataset_404(api_client_for, owner):
    assert api_client_for(owner).get("/api/v1/datasets/999999/versions/").status_code == 404


# ---------------------------------------------------------------------------------------------
# What is stored


def test_same_bytes_as_latest_makes_no_new_version(dataset, api_client_for, owner, media_root):
    client = api_client_for(owner)
    assert upload(client, dataset, CSV).status_code == 201
    again = upload(client, dataset, CSV, name="renamed.csv")
    assert again.status_code == 200 and again.json()["number"] == 1
    assert DatasetVersion.objects.count() == 1
    assert len(files_under(media_root)) == 1
    changed = upload(client, dataset, CSV + b"3,1.0,Nice\n")
    assert changed.status_code == 201 and changed.json()["number"] == 2
    # Same bytes as an older (not the latest) version is a new version: the data went back.
    back = upload(client, dataset, CSV)
    assert back.status_code == 201 and back.json()["number"] == 3


@pytest.mark.parametrize("compress", [False, True])
def test_large_valid_file_is_checked_whole_and_stored(
    compress, dataset, api_client_for, owner, media_root, upload_tmp
):
    """Past the 1 MB head the whole-file check reads on; the same file is then still stored intact."""
    content = b"id,v,note\n" + b"".join(b'%d,%d,"text, quoted"\n' % (i, i * 7) for i in range(150_000))
    if compress:
        content = gzip.compress(content)
    r = upload(api_client_for(owner), dataset, content, name="big.csv.gz" if compress else "big.csv")
    assert r.status_code == 201, r.content
    version = DatasetVersion.objects.get()
    with version.open() as fh:
        assert fh.read() == content
    assert files_under(upload_tmp) == []


def test_version_stored_signal_after_commit(
    dataset, api_client_for, owner, media_root, django_capture_on_commit_callbacks
):
    seen = []

    def receiver(sender, version, actor, **kwargs):
        seen.append((version.number, actor))

    signals.version_stored.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            r = upload(api_client_for(owner), dataset, CSV)
    finally:
        signals.version_stored.disconnect(receiver)
    assert r.status_code == 201
    assert seen == [(1, owner)]


@pytest.mark.parametrize(
    ("content", "name", "fmt", "compression"),
    [
        (CSV, "orders.csv", "csv", ""),
        (b"id\tamount\n1\t2.5\n", "orders.tsv", "tsv", ""),
        (b"id\tamount\n1\t2.5\n", "orders.csv", "tsv", ""),  # the content decides, not the name
        (b'{"id": 1, "a": "x"}\n{"id": 2, "a": "y"}\n', "orders.jsonl", "jsonl", ""),
        (b'{"id": 1}\n', "orders.csv", "jsonl", ""),
        (gzip.compress(CSV, mtime=0), "orders.csv.gz", "csv", "gzip"),
        (gzip.compress(CSV, mtime=0), "orders.bin", "csv", "gzip"),
    ],
)
def test_formats_detected_from_content(
    content, name, fmt, compression, dataset, api_client_for, owner, media_root
):
    r = upload(api_client_for(owner), dataset, content, name=name)
    assert r.status_code == 201, r.content
    assert (r.json()["format"], r.json()["compression"]) == (fmt, compression)


def test_parquet(dataset, api_client_for, owner, media_root):
    buf = io.BytesIO()
    pq.write_table(pa.table({"id": [1, 2], "city": ["Paris", "Lyon"]}), buf)
    r = upload(api_client_for(owner), dataset, buf.getvalue(), name="orders.data")
    assert r.status_code == 201, r.content
    assert r.json()["format"] == "parquet"


def test_latin1_accepted_when_detected_and_said(dataset, api_client_for, owner, media_root):
    text = "id,ville,remarque\n" + "".join(
        f"{i},Besançon,Très élevé à côté du théâtre municipal, prévu en été\n".replace(", prévu", " prévu")
        for i in range(200)
    )
    r = upload(api_client_for(owner), dataset, text.encode("latin-1"))
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["encoding"] in ("latin-1", "cp1252")
    assert any("not UTF-8" in n for n in body["notes"])


def test_register_path_inside_data_roots(dataset, api_client_for, steward, data_root, media_root):
    f = data_root / "sub" / "orders.csv"
    f.parent.mkdir()
    f.write_bytes(CSV)
    r = register(api_client_for(steward), dataset, f.as_uri())
    assert r.status_code == 201, r.content
    assert r.json()["uri"] == f.resolve().as_uri()
    assert files_under(media_root) == []  # registered in place, not copied
    assert register(api_client_for(steward), dataset, f.as_uri()).status_code == 200


def test_list_and_detail(dataset, api_client_for, owner, outsider, media_root):
    upload(api_client_for(owner), dataset, CSV)
    upload(api_client_for(owner), dataset, CSV + b"3,1,Nice\n")
    client = api_client_for(outsider)  # anyone signed in reads
    listing = client.get(f"/api/v1/datasets/{dataset.pk}/versions/").json()
    assert [v["number"] for v in listing["results"]] == [2, 1]
    detail = client.get(f"/api/v1/datasets/{dataset.pk}/versions/1/")
    assert detail.status_code == 200 and detail.json()["number"] == 1
    assert client.get(f"/api/v1/datasets/{dataset.pk}/versions/9/").status_code == 404
    assert client.get(f"/api/v1/datasets/{dataset.pk}/").json()["latest_version"] == 2


# ---------------------------------------------------------------------------------------------
# Bad uploads: a clear 4xx, nothing stored


def test_zero_byte_file(dataset, api_client_for, owner, clean):
    body = clean(upload(api_client_for(owner), dataset, b""))
    assert "empty" in body["detail"]


def test_binary_file_named_csv(dataset, api_client_for, owner, clean):
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(2048)
    body = clean(upload(api_client_for(owner), dataset, png, name="photo.csv"))
    assert "binary" in body["detail"]


def test_random_bytes_without_nul_named_csv(dataset, api_client_for, owner, clean):
    noise = bytes(b for b in os.urandom(8192) if b not in (0, 10, 13)) + b"\n"
    body = clean(upload(api_client_for(owner), dataset, noise, name="noise.csv"))
    assert "UTF-8" in body["detail"]


def test_ragged_rows(dataset, api_client_for, owner, clean):
    body = clean(upload(api_client_for(owner), dataset, b"a,b,c\n1,2,3\n4,5\n"))
    assert "ragged" in body["detail"] and "Row 3" in body["detail"]


def test_ragged_row_deep_in_a_large_file(dataset, api_client_for, owner, clean):
    # Past the 1 MB head that format detection reads: found by the streaming whole-file check.
    rows = b"".join(b"%d,%d,some text here\n" % (i, i * 7) for i in range(120_000))
    content = b"id,v,note\n" + rows + b"1,2\n" + rows[:1000]
    assert len(content) > 2 * 1024 * 1024
    body = clean(upload(api_client_for(owner), dataset, content))
    assert "ragged" in body["detail"]


def test_not_utf8_and_not_confidently_anything(dataset, api_client_for, owner, clean):
    content = b"id,name\n1,\xff\xfe\xfa\xfb\xfc\n2,\x81\x8d\x8f\x90\x9d\n"
    body = clean(upload(api_client_for(owner), dataset, content))
    assert "UTF-8" in body["detail"]


def test_bad_utf8_deep_in_a_large_file(dataset, api_client_for, owner, clean):
    rows = b"".join(b"%d,plain ascii text\n" % i for i in range(100_000))
    content = b"id,note\n" + rows + b"7,caf\xe9 \xff\xfe\n" + rows[:1000]
    body = clean(upload(api_client_for(owner), dataset, content))
    assert "UTF-8" in body["detail"]


def test_truncated_gzip(dataset, api_client_for, owner, clean):
    data = gzip.compress(b"id,v\n" + b"".join(b"%d,%d\n" % (i, i) for i in range(50_000)))
    body = clean(upload(api_client_for(owner), dataset, data[: len(data) // 2], name="orders.csv.gz"))
    assert "truncated" in body["detail"] or "corrupt" in body["detail"]


def test_invalid_jsonl(dataset, api_client_for, owner, clean):
    body = clean(upload(api_client_for(owner), dataset, b'{"a": 1}\n{"a": \n', name="x.jsonl"))
    assert "Line 2" in body["detail"]


def test_damaged_parquet(dataset, api_client_for, owner, clean):
    buf = io.BytesIO()
    pq.write_table(pa.table({"id": [1, 2]}), buf)
    clean(upload(api_client_for(owner), dataset, buf.getvalue()[:-12], name="x.parquet"))


def test_over_the_size_limit_is_413(dataset, api_client_for, owner, clean, settings):
    settings.GOUVERNAIL_MAX_VERSION_BYTES = 64 * 1024
    content = b"id,v\n" + b"".join(b"%d,%d\n" % (i, i) for i in range(40_000))
    assert len(content) > 4 * settings.GOUVERNAIL_MAX_VERSION_BYTES
    body = clean(upload(api_client_for(owner), dataset, content), status=413)
    assert "limit" in body["detail"]


def test_announced_length_over_the_limit_is_refused_before_reading(
    dataset, api_client_for, owner, clean, settings
):
    settings.GOUVERNAIL_MAX_VERSION_BYTES = 1024
    client = api_client_for(owner)
    r = client.generic(
        "POST",
        f"/api/v1/datasets/{dataset.pk}/versions/",
        b"x" * 10,
        content_type="multipart/form-data; boundary=zzz",
        CONTENT_LENGTH=str(50 * 1024 * 1024),
    )
    clean(r, status=413)


def test_neither_or_both_of_file_and_uri(dataset, api_client_for, owner, clean):
    clean(api_client_for(owner).post(f"/api/v1/datasets/{dataset.pk}/versions/", {}, format="json"))


# ---------------------------------------------------------------------------------------------
# Bad paths


def test_path_with_dotdot(dataset, api_client_for, owner, data_root, clean):
    (data_root / "a.csv").write_bytes(CSV)
    body = clean(register(api_client_for(owner), dataset, f"file://{data_root}/sub/../a.csv"), field="uri")
    assert ".." in body["detail"]


def test_path_with_encoded_dotdot(dataset, api_client_for, owner, data_root, clean):
    clean(register(api_client_for(owner), dataset, f"file://{data_root}/%2e%2e/etc/passwd"), field="uri")


def test_symlink_escaping_data_roots(dataset, api_client_for, owner, data_root, tmp_path, clean):
    outside = tmp_path / "secret.csv"
    outside.write_bytes(CSV)
    (data_root / "link.csv").symlink_to(outside)
    body = clean(register(api_client_for(owner), dataset, (data_root / "link.csv").as_uri()), field="uri")
    assert "DATA_ROOTS" in body["detail"]


def test_path_outside_data_roots(dataset, api_client_for, owner, data_root, clean):
    clean(register(api_client_for(owner), dataset, "file:///etc/hostname"), field="uri")


@pytest.mark.parametrize(
    "uri", ["s3://lake/orders.csv", "http://example.org/a.csv", "/plain/path.csv", "ftp://x/y"]
)
def test_scheme_other_than_file(uri, dataset, api_client_for, owner, data_root, clean):
    body = clean(register(api_client_for(owner), dataset, uri), field="uri")
    assert "file://" in body["detail"]


def test_missing_and_directory_paths(dataset, api_client_for, owner, data_root, clean):
    clean(register(api_client_for(owner), dataset, (data_root / "nope.csv").as_uri()), field="uri")
    (data_root / "dir").mkdir()
    clean(register(api_client_for(owner), dataset, (data_root / "dir").as_uri()), field="uri")


def test_registered_file_that_is_not_readable_data(dataset, api_client_for, owner, data_root, clean):
    f = data_root / "bad.csv"
    f.write_bytes(b"a,b\n1,2,3\n")
    clean(register(api_client_for(owner), dataset, f.as_uri()), field="file")


class NoPathStorage(InMemoryStorage):
    """Like S3Storage: no file system behind it, so no path() for callers."""

    def _relative_path(self, name):  # InMemoryStorage's own bookkeeping goes through path()
        return os.path.relpath(super().path(name), self.location)

    def path(self, name):
        raise NotImplementedError("This backend doesn't support absolute paths.")


def test_storage_without_local_paths_like_s3(dataset, api_client_for, owner, settings, upload_tmp):
    """Only storage API calls: with a backend that has no file system (as S3 has none), versions
    are stored, read back, deduplicated and cleaned up the same way."""
    from django.core.files.storage import storages

    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": f"{__name__}.NoPathStorage"},
    }
    storage = storages["default"]
    client = api_client_for(owner)
    r = upload(client, dataset, CSV)
    assert r.status_code == 201, r.content
    version = DatasetVersion.objects.get()
    assert version.local_path() is None
    with version.open() as fh:
        assert fh.read() == CSV
    assert upload(client, dataset, CSV).status_code == 200
    assert upload(client, dataset, b"a,b\n1\n").status_code == 400
    assert storage.listdir(f"versions/{dataset.pk}")[1] == [version.file.name.rsplit("/", 1)[1]]
    assert files_under(upload_tmp) == []
    assert client.delete(f"/api/v1/datasets/{dataset.pk}/").status_code == 204


def test_columns_come_from_the_new_versions_header(dataset, api_client_for, owner, steward, media_root):
    client = api_client_for(owner)
    assert upload(client, dataset, b"id,email,city,city\n1,a@b.c,Paris,Paris\n").status_code == 201
    cols = client.get(f"/api/v1/datasets/{dataset.pk}/columns/").json()["results"]
    assert [c["name"] for c in cols] == ["id", "email", "city"]  # repeated names once
    r = api_client_for(steward).patch(
        f"/api/v1/datasets/{dataset.pk}/columns/email/", {"description": "Contact"}, format="json"
    )
    assert r.status_code == 200
    assert upload(client, dataset, b"email,id\nx@y.z,2\n").status_code == 201
    cols = {c["name"]: c for c in client.get(f"/api/v1/datasets/{dataset.pk}/columns/").json()["results"]}
    assert cols["email"]["description"] == "Contact" and cols["email"]["position"] == 0
    assert cols["city"]["present"] is False and cols["id"]["present"] is True


def test_parquet_columns_have_types(dataset, api_client_for, owner, media_root):
    buf = io.BytesIO()
    pq.write_table(pa.table({"id": [1, 2], "city": ["Paris", "Lyon"]}), buf)
    assert upload(api_client_for(owner), dataset, buf.getvalue(), name="x.parquet").status_code == 201
    cols = api_client_for(owner).get(f"/api/v1/datasets/{dataset.pk}/columns/").json()["results"]
    assert [(c["name"], c["type"]) for c in cols] == [("id", "int64"), ("city", "string")]


def test_jsonl_columns_are_the_keys_seen(dataset, api_client_for, owner, media_root):
    content = b'{"id": 1, "a": 2}\n{"id": 2, "b": 3}\n'
    assert upload(api_client_for(owner), dataset, content, name="x.jsonl").status_code == 201
    cols = api_client_for(owner).get(f"/api/v1/datasets/{dataset.pk}/columns/").json()["results"]
    assert [c["name"] for c in cols] == ["id", "a", "b"]
