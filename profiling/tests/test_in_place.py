"""Profiling data where it lives: S3 objects (moto over HTTP), Hive-partitioned prefixes and folders,
and uploads kept on S3 storage, read in place by the real job; the same data gives the same profile
as a file on disk, and nothing is copied to the temporary folder."""

import gzip
import hashlib
import io
import json
import tempfile

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from catalog import versions as catalog_versions
from catalog.models import DatasetVersion, Source
from profiling import runner
from profiling.engine import profile_file
from profiling.jobs import queue_profile
from profiling.locations import location_of
from tests.s3_server import DUMMY_KEYS as KEYS

pytestmark = pytest.mark.django_db

CITIES = np.array(["Paris", "Lyon", "Nice"])


def people(rows: int = 3000, seed: int = 7) -> pa.Table:
    rng = np.random.default_rng(seed)
    score = np.round(rng.normal(50, 10, rows), 3)
    return pa.table(
        {
            "id": np.arange(rows, dtype=np.int64),
            "age": rng.integers(18, 90, rows),
            "score": pa.array(score, mask=rng.random(rows) < 0.2),
            "city": rng.choice(CITIES, rows),
            "kind": rng.choice(np.array(["a", "b", "c", "d"]), rows, p=[0.5, 0.3, 0.15, 0.05]),
        }
    )


def as_bytes(table: pa.Table, fmt: str, *, gz: bool = False) -> bytes:
    buf = io.BytesIO()
    if fmt == "parquet":
        pq.write_table(table, buf, row_group_size=1000)
    elif fmt == "jsonl":
        buf.write("".join(json.dumps(r) + "\n" for r in table.to_pylist()).encode())
    else:
        pacsv.write_csv(table, buf, write_options=pacsv.WriteOptions(delimiter="\t" if fmt == "tsv" else ","))
    data = buf.getvalue()
    return gzip.compress(data) if gz else data


def summary(columns: list[dict]) -> dict:
    """What must not depend on where the data was read: counts, nulls, distinct, top values, means."""
    return {
        c["name"]: {
            "type": c["type"],
            "null_count": c["null_count"],
            "distinct_count": c["distinct_count"],
            "top_values": c["top_values"],
            "min": c["min"],
            "max": c["max"],
            "mean": pytest.approx(c["mean"], rel=1e-12) if c["mean"] is not None else None,
        }
        for c in columns
    }


@pytest.fixture
def s3_source(s3_endpoint, monkeypatch, owner):
    monkeypatch.setenv("GV_TEST_S3_KEYS", ":".join(KEYS))
    bucket = s3_endpoint.make_bucket()
    return Source.objects.create(
        name=f"lake {bucket}",
        kind="s3",
        uri=f"s3://{bucket}/",
        secret="GV_TEST_S3_KEYS",
        endpoint_url=s3_endpoint.url,
        owner=owner,
    )


def reference_version(dataset, *, uri: str, fmt: str, compression: str = "", reference: dict, size: int):
    """A version by reference, as a scan registers it (catalog.scans is not ours to call here)."""
    fingerprint = hashlib.sha256(json.dumps([uri, reference], sort_keys=True).encode()).hexdigest()
    number = (dataset.versions.count() or 0) + 1
    return DatasetVersion.objects.create(
        dataset=dataset,
        number=number,
        source_uri=uri,
        fingerprint=fingerprint,
        checksum=fingerprint,
        reference=reference,
        size_bytes=size,
        format=fmt,
        compression=compression,
        encoding="utf-8",
    )


def put_object(source: Source, s3_endpoint, key: str, data: bytes) -> dict:
    bucket = source.uri[len("s3://") :].strip("/")
    client = s3_endpoint.client()
    client.put_object(Bucket=bucket, Key=key, Body=data)
    head = client.head_object(Bucket=bucket, Key=key)
    return {"etag": head["ETag"].strip('"'), "size": head["ContentLength"]}


def profiled(version):
    run = queue_profile(version=version)
    runner.execute_profile_run(run_id=run.pk, heartbeat=False)
    run.refresh_from_db()
    return run


@pytest.fixture
def no_download(monkeypatch):
    """The job must not copy the data: the download fallback fails the test if it is called."""

    def refuse(version):
        raise AssertionError("the version was downloaded instead of read in place")

    monkeypatch.setattr(runner, "_local_copy", refuse)


@pytest.fixture
def empty_tempdir(tmp_path, monkeypatch):
    folder = tmp_path / "tmp-must-stay-empty"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def folder_bytes(folder) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize(
    ("fmt", "gz", "name"),
    [
        ("parquet", False, "people.parquet"),
        ("csv", False, "people.csv"),
        ("csv", True, "people.csv.gz"),
        ("tsv", False, "people.tsv"),
        ("jsonl", True, "people.jsonl.gz"),
    ],
)
def test_an_s3_object_is_profiled_in_place_like_the_same_file_on_disk(
    fmt, gz, name, dataset, s3_source, s3_endpoint, tmp_path, no_download, empty_tempdir
):
    table = people()
    data = as_bytes(table, fmt, gz=gz)
    on_disk = tmp_path / name
    on_disk.write_bytes(data)
    compression = "gzip" if gz else ""
    expected = profile_file(str(on_disk), format=fmt, compression=compression)

    dataset.source = s3_source
    dataset.save()
    reference = put_object(s3_source, s3_endpoint, f"people/{name}", data)
    version = reference_version(
        dataset,
        uri=f"{s3_source.uri}people/{name}",
        fmt=fmt,
        compression=compression,
        reference=reference,
        size=len(data),
    )
    run = profiled(version)

    assert run.status == "succeeded", run.error
    assert run.row_count == expected.row_count == 3000
    assert summary(run.columns) == summary(expected.columns)
    assert run.method["location"]["kind"] == "object"
    assert run.method["location"]["where"] == version.source_uri
    assert run.quality and run.quality["results"]  # the quality check read the object too
    assert folder_bytes(empty_tempdir) == 0


def test_an_object_changed_since_the_scan_is_not_profiled(dataset, s3_source, s3_endpoint, no_download):
    dataset.source = s3_source
    dataset.save()
    data = as_bytes(people(), "csv")
    reference = put_object(s3_source, s3_endpoint, "people.csv", data)
    version = reference_version(
        dataset, uri=f"{s3_source.uri}people.csv", fmt="csv", reference=reference, size=len(data)
    )
    put_object(s3_source, s3_endpoint, "people.csv", as_bytes(people(seed=8), "csv"))

    run = profiled(version)

    assert run.status == "failed"
    assert "changed since the scan" in run.error and "the next scan registers it" in run.error

    s3_endpoint.client().delete_object(Bucket=s3_source.uri[5:].strip("/"), Key="people.csv")
    run = profiled(version)
    assert run.status == "failed" and "no longer exists at the source" in run.error


def partitioned(table: pa.Table, fmt: str) -> dict[str, bytes]:
    """Hive parts: date=.../city=.../part-0.<fmt>, without the partition columns inside."""
    parts = {}
    for i, city in enumerate(CITIES):
        rows = table.filter(pc.equal(table["city"], city)).drop_columns(["city"])
        parts[f"date=2026-12-0{i + 1}/city={city}/part-0.{fmt}"] = as_bytes(rows, fmt)
    return parts


def test_a_partitioned_prefix_is_one_dataset_with_its_partition_columns(
    dataset, s3_source, s3_endpoint, no_download, empty_tempdir
):
    dataset.source = s3_source
    dataset.save()
    table = people()
    entries = []
    for relative, data in partitioned(table, "parquet").items():
        found = put_object(s3_source, s3_endpoint, f"events/{relative}", data)
        entries.append({"key": relative, **found})
    version = reference_version(
        dataset,
        uri=f"{s3_source.uri}events/",
        fmt="parquet",
        reference={"partitioning": "hive", "partition_keys": ["date", "city"], "parts": entries},
        size=sum(e["size"] for e in entries),
    )

    run = profiled(version)

    assert run.status == "succeeded", run.error
    assert run.row_count == 3000
    by_name = {c["name"]: c for c in run.columns}
    assert set(by_name) == {"id", "age", "score", "kind", "date", "city"}
    assert by_name["date"]["type"] == "datetime"
    expected_cities = dict(
        zip(*np.unique(table["city"].to_numpy(zero_copy_only=False), return_counts=True), strict=True)
    )
    assert {v["value"]: v["count"] for v in by_name["city"]["top_values"]} == expected_cities
    assert by_name["score"]["null_count"] == table["score"].null_count
    assert by_name["age"]["mean"] == pytest.approx(pc.mean(table["age"]).as_py())
    assert run.method["location"] == {
        "kind": "partitioned",
        "where": version.source_uri,
        "filesystem": "S3FileSystem",
        "parts": 3,
        "partitioning": "hive",
    }
    assert folder_bytes(empty_tempdir) == 0


def test_a_partitioned_folder_source_is_read_from_its_parts(dataset, data_root, owner):
    folder = data_root / "events"
    table = people()
    entries = []
    for relative, data in partitioned(table, "csv").items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        st = path.stat()
        entries.append({"path": relative, "size": st.st_size, "mtime_ns": st.st_mtime_ns})
    dataset.source = Source.objects.create(
        name="demo folder", kind="folder", uri=data_root.as_uri() + "/", owner=owner
    )
    dataset.save()
    version = reference_version(
        dataset,
        uri=folder.as_uri() + "/",
        fmt="csv",
        reference={"partitioning": "hive", "partition_keys": ["date", "city"], "parts": entries},
        size=sum(e["size"] for e in entries),
    )

    run = profiled(version)

    assert run.status == "succeeded", run.error
    assert run.row_count == 3000
    assert [c["name"] for c in run.schema][-2:] == ["date", "city"]
    assert run.method["location"]["parts"] == 3

    # A part rewritten since the scan: the version no longer describes the folder.
    (folder / entries[0]["path"]).write_bytes(as_bytes(people(rows=10), "csv"))
    run = profiled(version)
    assert run.status == "failed" and "changed since the scan" in run.error


def test_an_upload_kept_on_s3_storage_is_read_in_place(
    dataset, owner, s3_endpoint, settings, no_download, empty_tempdir
):
    bucket = s3_endpoint.make_bucket()
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "storages.backends.s3.S3Storage"}}
    settings.AWS_STORAGE_BUCKET_NAME = bucket
    settings.AWS_S3_ENDPOINT_URL = s3_endpoint.url
    settings.AWS_ACCESS_KEY_ID, settings.AWS_SECRET_ACCESS_KEY = KEYS
    settings.AWS_S3_REGION_NAME = "us-east-1"
    settings.AWS_LOCATION = "uploads"
    data = as_bytes(people(), "parquet")
    version, _ = catalog_versions.add_version_from_upload(
        actor=owner, dataset=dataset, upload=SimpleUploadedFile("people.parquet", data)
    )
    location = location_of(version)
    assert location.path.startswith(f"{bucket}/uploads/versions/")
    assert location.filesystem is not None

    run = profiled(version)

    assert run.status == "succeeded", run.error
    assert run.row_count == 3000
    assert run.method["location"]["kind"] == "object"
    assert folder_bytes(empty_tempdir) == 0


def test_a_reference_without_its_source_or_its_secret_fails_with_a_message(
    dataset, s3_source, s3_endpoint, monkeypatch
):
    dataset.source = s3_source
    dataset.save()
    data = as_bytes(people(rows=10), "csv")
    reference = put_object(s3_source, s3_endpoint, "few.csv", data)
    version = reference_version(
        dataset, uri=f"{s3_source.uri}few.csv", fmt="csv", reference=reference, size=len(data)
    )

    monkeypatch.delenv("GV_TEST_S3_KEYS")
    run = profiled(version)
    assert run.status == "failed" and "GV_TEST_S3_KEYS" in run.error, run.error  # names the secret

    dataset.source = None
    dataset.save()
    run = profiled(version)
    assert run.status == "failed" and "source is gone" in run.error
