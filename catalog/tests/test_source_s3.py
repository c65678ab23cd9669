"""Object storage sources (catalog.connectors.s3) against a real S3 endpoint over HTTP: moto in server
mode (tests/s3_server.py), with boto3 filling the buckets as a pipeline would.

The connector reads only: no database. A Source row is built unsaved, as the scan hands it over
(catalog.connectors.for_source(source) gives the same S3Connector(source))."""

import gzip
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from catalog.connectors import access, listing
from catalog.connectors.base import Found, Problem, SourceError
from catalog.connectors.s3 import S3Connector
from catalog.models import Source


def parquet_bytes(rows: int = 3, **extra) -> bytes:
    table = pa.table({"id": list(range(rows)), "label": [f"r{i}" for i in range(rows)], **extra})
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


@pytest.fixture
def source_for(s3_endpoint, monkeypatch):
    """source_for(bucket, prefix="", **fields) → an unsaved s3 Source on the test endpoint."""
    secret = s3_endpoint.source_env(monkeypatch)

    def make(bucket: str, prefix: str = "", **fields) -> Source:
        fields.setdefault("secret", secret)
        fields.setdefault("endpoint_url", s3_endpoint.url)
        return Source(name="lake", kind="s3", uri=f"s3://{bucket}/{prefix}", **fields)

    return make


def discover(source) -> list:
    connector = S3Connector(source)
    connector.check()
    return list(connector.discover())


def by_name(results) -> dict:
    return {r.name: r for r in results}


def test_a_partitioned_prefix_is_one_dataset_with_its_parts(s3_endpoint, source_for):
    bucket = s3_endpoint.make_bucket(
        {
            "raw/sales/date=2026-12-01/part-0.parquet": parquet_bytes(3),
            "raw/sales/date=2026-12-01/part-1.parquet": parquet_bytes(4),
            "raw/sales/date=2026-12-02/part-0.parquet": parquet_bytes(5),
            "raw/sales/_SUCCESS": b"",
            "raw/users.csv": b"id,name\n1,Ada\n",
            "raw/readme.txt": b"not data",
        }
    )
    found = by_name(discover(source_for(bucket, "raw/")))
    assert set(found) == {"raw/sales", "raw/users.csv"}
    sales = found["raw/sales"]
    assert isinstance(sales, Found)
    assert sales.namespace == f"s3://{bucket}"
    assert sales.uri == f"s3://{bucket}/raw/sales/"
    assert sales.format == "parquet" and sales.compression == ""
    assert sales.columns == [{"name": "id", "type": "int64"}, {"name": "label", "type": "string"}]
    ref = sales.reference
    assert ref["partitioning"] == "hive" and ref["partition_keys"] == ["date"]
    assert [p["key"] for p in ref["parts"]] == [
        "date=2026-12-01/part-0.parquet",
        "date=2026-12-01/part-1.parquet",
        "date=2026-12-02/part-0.parquet",
    ]
    assert sales.size_bytes == sum(p["size"] for p in ref["parts"])
    assert all(len(p["etag"]) == 32 and '"' not in p["etag"] for p in ref["parts"])
    users = found["raw/users.csv"]
    assert users.format == "csv" and users.columns == [{"name": "id"}, {"name": "name"}]
    assert users.reference == {"size": 14, "etag": users.reference["etag"]}


def test_layout_files_makes_every_object_a_dataset(s3_endpoint, source_for):
    bucket = s3_endpoint.make_bucket(
        {f"t/date=2026-12-0{i}/part.csv": f"a,b\n{i},x\n".encode() for i in (1, 2)}
    )
    found = by_name(discover(source_for(bucket, "t/", layout="files")))
    assert set(found) == {"t/date=2026-12-01/part.csv", "t/date=2026-12-02/part.csv"}
    assert all(f.reference.keys() == {"size", "etag"} for f in found.values())


def test_include_and_exclude_match_the_key(s3_endpoint, source_for):
    bucket = s3_endpoint.make_bucket(
        {
            "a.csv": b"x\n1\n",
            "b.jsonl": b'{"x": 1}\n',
            "tmp/c.csv": b"x\n1\n",
            "sales/date=1/p.csv": b"x\n1\n",
        }
    )
    assert set(by_name(discover(source_for(bucket, include=["*.csv"])))) == {"a.csv", "tmp/c.csv", "sales"}
    assert set(by_name(discover(source_for(bucket, exclude=["tmp/*", "sales/*"])))) == {"a.csv", "b.jsonl"}
    assert set(by_name(discover(source_for(bucket, include=["sales/*"])))) == {"sales"}


def test_formats_and_gzip_from_the_extension(s3_endpoint, source_for):
    bucket = s3_endpoint.make_bucket(
        {
            "events.jsonl.gz": gzip.compress(b'{"user": 1, "kind": "click"}\n{"user": 2, "kind": "view"}\n'),
            "scores.tsv": b"user\tscore\n1\t0.5\n",
            "tabbed.csv": b"user\tscore\n1\t0.5\n",
            "latin.csv": ("a,b\n" + "1,café\n2,naïve\n" * 40).encode("cp1252"),
        }
    )
    found = by_name(discover(source_for(bucket)))
    assert (found["events.jsonl.gz"].format, found["events.jsonl.gz"].compression) == ("jsonl", "gzip")
    assert found["events.jsonl.gz"].columns == [{"name": "user"}, {"name": "kind"}]
    assert found["scores.tsv"].format == "tsv"
    # As at upload, the bytes decide between CSV and TSV; the name only breaks a tie.
    assert found["tabbed.csv"].format == "tsv"
    assert found["latin.csv"].reference["encoding"] in ("cp1252", "latin-1")


def test_an_object_whose_bytes_lie_about_its_extension_is_a_problem_and_the_rest_goes_on(
    s3_endpoint, source_for
):
    bucket = s3_endpoint.make_bucket(
        {
            "csv-in-disguise.parquet": b"a,b\n1,2\n",
            "parquet-in-disguise.csv": parquet_bytes(),
            "not-gzip.csv.gz": b"a,b\n1,2\n",
            "json-named.csv": b'{"a": 1}\n',
            "truncated.parquet": parquet_bytes()[:-20],
            "parts/d=1/p.parquet": b"garbage",
            "fine.csv": b"a,b\n1,2\n",
        }
    )
    found = by_name(discover(source_for(bucket)))
    problems = {n: r.message for n, r in found.items() if isinstance(r, Problem)}
    assert set(problems) == {
        "csv-in-disguise.parquet",
        "parquet-in-disguise.csv",
        "not-gzip.csv.gz",
        "json-named.csv",
        "truncated.parquet",
        "parts",
    }
    assert "not Parquet" in problems["csv-in-disguise.parquet"]
    assert "Parquet, not CSV" in problems["parquet-in-disguise.csv"]
    assert "not gzip" in problems["not-gzip.csv.gz"]
    assert "JSON Lines" in problems["json-named.csv"]
    assert "truncated" in problems["truncated.parquet"]
    assert problems["parts"].startswith("d=1/p.parquet: ")
    assert isinstance(found["fine.csv"], Found)


def test_an_empty_prefix_holds_no_dataset_and_is_no_error(s3_endpoint, source_for):
    bucket = s3_endpoint.make_bucket({"elsewhere/a.csv": b"a\n1\n"})
    assert discover(source_for(bucket, "nothing-here/")) == []


def test_a_bucket_that_does_not_exist_is_a_source_error(s3_endpoint, source_for):
    source = source_for("no-such-bucket-anywhere", "raw/")
    with pytest.raises(SourceError, match="'no-such-bucket-anywhere' does not exist"):
        S3Connector(source).check()
    with pytest.raises(SourceError, match="does not exist"):
        list(S3Connector(source).discover())


def test_an_unreachable_endpoint_is_a_source_error(source_for):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    source = source_for("some-bucket", endpoint_url=f"http://127.0.0.1:{port}")
    with pytest.raises(SourceError, match=f"127.0.0.1:{port} cannot be reached"):
        S3Connector(source).check()


def test_a_missing_secret_is_a_source_error(source_for, monkeypatch):
    monkeypatch.delenv("NO_SUCH_SECRET_VAR", raising=False)
    with pytest.raises(SourceError, match="NO_SUCH_SECRET_VAR"):
        S3Connector(source_for("some-bucket", secret="NO_SUCH_SECRET_VAR")).check()


class TestKeysAndPermissions:
    """moto accepts any keys unless told to check them: s3_strict_endpoint is a private server
    with IAM checks on (reader may list and read, nobody may do nothing)."""

    def source(self, endpoint, monkeypatch, keys):
        monkeypatch.setenv("STRICT_S3_KEYS", f"{keys[0]}:{keys[1]}")
        return Source(
            kind="s3", uri=f"s3://{endpoint.bucket}/data/", endpoint_url=endpoint.url, secret="STRICT_S3_KEYS"
        )

    def test_good_keys_list_and_read(self, s3_strict_endpoint, monkeypatch):
        source = self.source(s3_strict_endpoint, monkeypatch, s3_strict_endpoint.users["reader"])
        (found,) = discover(source)
        assert found.name == "data/a.csv" and found.columns == [{"name": "a"}, {"name": "b"}]

    def test_unknown_access_key(self, s3_strict_endpoint, monkeypatch):
        keys = ("AKIAUNKNOWNUNKNOWN00", "some-secret-value-that-is-long")
        with pytest.raises(SourceError) as caught:
            S3Connector(self.source(s3_strict_endpoint, monkeypatch, keys)).check()
        message = str(caught.value)
        assert "does not know the access key" in message and "STRICT_S3_KEYS" in message
        assert keys[0] not in message and keys[1] not in message

    def test_wrong_secret_key(self, s3_strict_endpoint, monkeypatch):
        access_key, secret_key = s3_strict_endpoint.users["reader"]
        keys = (access_key, secret_key[::-1])
        with pytest.raises(SourceError) as caught:
            S3Connector(self.source(s3_strict_endpoint, monkeypatch, keys)).check()
        message = str(caught.value)
        assert "does not match its access key" in message
        assert access_key not in message and secret_key not in message and keys[1] not in message

    def test_access_denied(self, s3_strict_endpoint, monkeypatch):
        keys = s3_strict_endpoint.users["nobody"]
        source = self.source(s3_strict_endpoint, monkeypatch, keys)
        with pytest.raises(SourceError, match="denied") as caught:
            S3Connector(source).check()
        assert keys[0] not in str(caught.value)
        with pytest.raises(SourceError, match="denied"):
            list(S3Connector(source).discover())


def test_keys_with_spaces_quotes_and_non_ascii(s3_endpoint, source_for):
    keys = [
        'données/été 2026/l\'export "final".csv',
        "données/100% sûr #1?.csv",
        "données/日本語/テーブル.jsonl",
        "données/part=ä b/x.csv",
    ]
    bucket = s3_endpoint.make_bucket(
        {k: (b'{"a": 1}\n' if k.endswith(".jsonl") else b"a,b\n1,2\n") for k in keys}
    )
    found = by_name(discover(source_for(bucket, "données/")))
    assert set(found) == {*keys[:3], "données"}
    client = s3_endpoint.client()
    for result in found.values():
        assert isinstance(result, Found), result
        # The URI is percent-encoded; decoded as the profiler decodes it, it names the object again.
        assert " " not in result.uri and "#" not in result.uri
        got_bucket, key = access.s3_parts(result.uri)
        assert got_bucket == bucket and key.rstrip("/") == result.name
        if result.name in keys:
            assert client.head_object(Bucket=bucket, Key=key)["ContentLength"] == result.size_bytes
    assert found["données"].reference["partition_keys"] == ["part"]


def test_fingerprint_is_stable_and_moves_when_one_part_changes(s3_endpoint, source_for):
    objects = {f"t/day={d}/part.parquet": parquet_bytes(d + 1) for d in range(3)}
    objects["single.csv"] = b"a\n1\n"
    bucket = s3_endpoint.make_bucket(objects)
    source = source_for(bucket)
    first = by_name(discover(source))
    assert {n: f.fingerprint for n, f in by_name(discover(source)).items()} == {
        n: f.fingerprint for n, f in first.items()
    }
    s3_endpoint.put(bucket, {"t/day=1/part.parquet": parquet_bytes(10)})
    second = by_name(discover(source))
    assert second["t"].fingerprint != first["t"].fingerprint
    assert second["single.csv"].fingerprint == first["single.csv"].fingerprint
    s3_endpoint.put(bucket, {"t/day=3/part.parquet": parquet_bytes(1)})
    third = by_name(discover(source))
    assert third["t"].fingerprint not in (first["t"].fingerprint, second["t"].fingerprint)
    s3_endpoint.delete(bucket, "t/day=3/part.parquet")
    assert by_name(discover(source))["t"].fingerprint == second["t"].fingerprint


def test_a_versioned_bucket_pins_each_objects_version(s3_endpoint, source_for):
    bucket = s3_endpoint.make_bucket({"a.csv": b"x\n1\n"}, versioned=True)
    source = source_for(bucket)
    (before,) = discover(source)
    s3_endpoint.put(bucket, {"a.csv": b"x\n1\n"})  # the same bytes again: a new version
    (after,) = discover(source)
    assert before.reference["version_id"] != after.reference["version_id"]
    assert before.reference["etag"] == after.reference["etag"]
    assert before.fingerprint != after.fingerprint
    s3_endpoint.delete(bucket, "a.csv")  # the latest version is now a delete marker: gone
    assert discover(source) == []


def test_known_fingerprints_are_not_read_again(s3_endpoint, source_for):
    bucket = s3_endpoint.make_bucket({"a.csv": b"x\n1\n", "b.csv": b"y\n2\n"})
    source = source_for(bucket)
    first = by_name(discover(source))
    connector = S3Connector(source, known={"a.csv": first["a.csv"].fingerprint})
    reads = []
    original = connector._read
    connector._read = lambda part, offset, length: reads.append(part.path) or original(part, offset, length)
    again = by_name(connector.discover())
    assert reads == ["b.csv"]
    assert again["a.csv"].fingerprint == first["a.csv"].fingerprint and again["a.csv"].columns == []


def test_an_object_rewritten_after_the_listing_is_not_read_as_the_listed_one(s3_endpoint, source_for):
    bucket = s3_endpoint.make_bucket({"a.csv": b"x\n1\n"})
    connector = S3Connector(source_for(bucket))
    stale = listing.Entry("a.csv", 4, "0" * 32)
    candidate = listing.Candidate("a.csv", "csv", "", [stale])
    problem = connector._found(candidate)
    assert isinstance(problem, Problem) and "rewritten during the scan" in problem.message


@pytest.mark.slow
def test_a_few_thousand_objects_under_one_prefix(s3_endpoint, source_for):
    """A listing of two pages and more: 1,600 objects, one partitioned dataset of 1,500 parts and 100
    files whose heads are each read. (bench/source_s3_bench.py goes to 100,000.)"""
    objects = {f"big/events/day={i // 100:02d}/part-{i:05d}.csv": b"a,b\n1,2\n" for i in range(1500)}
    objects.update({f"big/files/f-{i:04d}.csv": b"a,b\n1,2\n" for i in range(100)})
    bucket = s3_endpoint.make_bucket(objects)
    found = by_name(discover(source_for(bucket, "big/")))
    assert len(found) == 101
    assert len(found["big/events"].reference["parts"]) == 1500
    assert all(isinstance(f, Found) for f in found.values())
