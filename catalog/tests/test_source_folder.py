"""Folder sources (catalog.connectors.folder): the files under a folder inside DATA_ROOTS, by the
same listing rules as object storage, checked on bounded heads like uploads.

The connector reads only: no database. A Source row is built unsaved, as the scan hands it over."""

import gzip
import io
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from catalog import files
from catalog.connectors import heads
from catalog.connectors.base import Found, Problem, SourceError
from catalog.connectors.folder import FolderConnector
from catalog.formats import FormatError
from catalog.models import Source


def parquet_bytes(rows: int = 3) -> bytes:
    out = io.BytesIO()
    pq.write_table(pa.table({"id": list(range(rows)), "score": [0.5] * rows}), out)
    return out.getvalue()


def write(root: Path, tree: dict[str, bytes]) -> None:
    for relative, content in tree.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def source(folder: Path, **fields) -> Source:
    return Source(name="files", kind="folder", uri=Path(folder).as_uri(), **fields)


def discover(src) -> dict:
    connector = FolderConnector(src)
    connector.check()
    return {r.name: r for r in connector.discover()}


@pytest.fixture
def lake(data_root):
    folder = data_root / "lake"
    folder.mkdir()
    return folder


def test_a_partitioned_folder_is_one_dataset_with_its_parts(lake):
    write(
        lake,
        {
            "sales/date=2026-12-01/part-0.parquet": parquet_bytes(3),
            "sales/date=2026-12-02/part-0.parquet": parquet_bytes(4),
            "sales/_SUCCESS": b"",
            "users.csv": b"id,name\n1,Ada\n",
            "notes.txt": b"not data",
            ".cache/x.csv": b"a\n1\n",
        },
    )
    found = discover(source(lake))
    sales_path, users_path = str(lake / "sales"), str(lake / "users.csv")
    assert set(found) == {sales_path, users_path}
    sales = found[sales_path]
    assert sales.namespace == "file"
    assert sales.uri == f"file://{sales_path}/"
    assert sales.format == "parquet"
    assert sales.columns == [{"name": "id", "type": "int64"}, {"name": "score", "type": "double"}]
    ref = sales.reference
    assert ref["partitioning"] == "hive" and ref["partition_keys"] == ["date"]
    assert [p["path"] for p in ref["parts"]] == [
        "date=2026-12-01/part-0.parquet",
        "date=2026-12-02/part-0.parquet",
    ]
    part = lake / "sales/date=2026-12-01/part-0.parquet"
    assert ref["parts"][0] == {
        "path": ref["parts"][0]["path"],
        "size": part.stat().st_size,
        "mtime_ns": part.stat().st_mtime_ns,
    }
    users = found[users_path]
    assert users.columns == [{"name": "id"}, {"name": "name"}]
    assert users.reference.keys() == {"size", "mtime_ns"}
    # The URI reads back as the same file through catalog.files (as registering a path does).
    assert files.path_from_file_uri(users.uri) == Path(users_path)


def test_layout_files_and_globs_on_the_path_under_the_folder(lake):
    write(
        lake,
        {
            "t/date=1/p.csv": b"a\n1\n",
            "t/date=2/p.csv": b"a\n2\n",
            "tmp/x.csv": b"a\n1\n",
            "b.jsonl": b'{"a": 1}\n',
        },
    )
    every = discover(source(lake, layout="files"))
    assert set(every) == {str(lake / p) for p in ("t/date=1/p.csv", "t/date=2/p.csv", "tmp/x.csv", "b.jsonl")}
    assert set(discover(source(lake, include=["t/*"]))) == {str(lake / "t")}
    assert set(discover(source(lake, exclude=["tmp/*", "*.jsonl"]))) == {str(lake / "t")}


def test_an_empty_folder_holds_no_dataset(lake):
    assert discover(source(lake)) == {}


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("outside", "outside the folders"),
        ("missing", "does not exist"),
        ("a-file", "is not a folder"),
    ],
)
def test_a_folder_that_cannot_be_a_source_is_a_source_error(lake, tmp_path, where, message):
    (lake / "a-file").write_bytes(b"a\n1\n")
    (tmp_path / "outside").mkdir()
    folder = {"outside": tmp_path / "outside", "missing": lake / "missing", "a-file": lake / "a-file"}[where]
    connector = FolderConnector(source(folder))
    with pytest.raises(SourceError, match=message):
        connector.check()
    with pytest.raises(SourceError, match=message):
        list(connector.discover())


def test_symbolic_links_are_followed_only_inside_data_roots(data_root, lake, tmp_path):
    outside = tmp_path / "outside"
    write(outside, {"secret.csv": b"a\n1\n"})
    write(data_root / "shared", {"common.csv": b"a\n1\n"})
    write(lake, {"inner/real.csv": b"a\n1\n", "2026/data.csv": b"a\n1\n"})
    (lake / "out.csv").symlink_to(outside / "secret.csv")
    (lake / "outdir").symlink_to(outside)
    (lake / "dangling.csv").symlink_to(tmp_path / "nowhere.csv")
    (lake / "alias").symlink_to(lake / "inner")  # walked as inner/, not twice
    (lake / "inner" / "loop").symlink_to(lake)  # a loop back to the top
    (lake / "latest.csv").symlink_to(lake / "2026/data.csv")  # a file link names a dataset
    (lake / "shared").symlink_to(data_root / "shared")  # elsewhere in DATA_ROOTS: followed
    found = discover(source(lake))
    for link in ("out.csv", "outdir", "dangling.csv"):
        assert "outside DATA_ROOTS" in found[str(lake / link)].message
    datasets = {n for n, r in found.items() if isinstance(r, Found)}
    assert datasets == {
        str(lake / p) for p in ("inner/real.csv", "2026/data.csv", "latest.csv", "shared/common.csv")
    }


def test_a_file_whose_bytes_lie_about_its_extension_is_a_problem_and_the_rest_goes_on(lake):
    write(
        lake,
        {
            "text.parquet": b"a,b\n1,2\n",
            "binary.csv": parquet_bytes(),
            "zip.csv": b"PK\x03\x04rest-of-a-zip",
            "plain.csv.gz": b"a,b\n1,2\n",
            "semicolons.csv": b"a;b\n1;2\n",
            "empty.csv": b"",
            "t/d=1/p.parquet": b"not parquet at all",
            "fine.csv": b"a,b\n1,2\n",
        },
    )
    found = discover(source(lake))
    problems = {Path(n).name: r.message for n, r in found.items() if isinstance(r, Problem)}
    assert set(problems) == {
        "text.parquet",
        "binary.csv",
        "zip.csv",
        "plain.csv.gz",
        "semicolons.csv",
        "empty.csv",
        "t",
    }
    assert "zip archive" in problems["zip.csv"]
    assert "';'" in problems["semicolons.csv"]
    assert "empty" in problems["empty.csv"]
    assert problems["t"].startswith("d=1/p.parquet: ")
    assert isinstance(found[str(lake / "fine.csv")], Found)


def test_names_with_spaces_quotes_and_non_ascii(lake):
    relative = [
        'été 2026/l\'export "final".csv',
        "100% sûr #1?.csv",
        "日本語/テーブル.jsonl",
        "part=ä b/x.csv",
    ]
    write(lake, {r: (b'{"a": 1}\n' if r.endswith(".jsonl") else b"a,b\n1,2\n") for r in relative})
    found = discover(source(lake))
    assert set(found) == {str(lake / r) for r in relative[:3]} | {str(lake)}
    for name, result in found.items():
        assert isinstance(result, Found), result
        assert " " not in result.uri and "#" not in result.uri
        if not result.uri.endswith("/"):
            assert files.path_from_file_uri(result.uri) == Path(name)
    # The source's own folder holds the partitions: it is the partitioned dataset.
    assert found[str(lake)].reference["partition_keys"] == ["part"]


def test_fingerprint_is_stable_and_moves_when_one_part_changes(lake):
    write(lake, {f"t/day={d}/part.csv": f"a\n{d}\n".encode() for d in range(3)} | {"single.csv": b"a\n1\n"})
    src = source(lake)
    first = {n: r.fingerprint for n, r in discover(src).items()}
    assert {n: r.fingerprint for n, r in discover(src).items()} == first
    part = lake / "t/day=1/part.csv"
    stat = part.stat()
    os.utime(part, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # touched, same bytes
    second = {n: r.fingerprint for n, r in discover(src).items()}
    assert second[str(lake / "t")] != first[str(lake / "t")]
    assert second[str(lake / "single.csv")] == first[str(lake / "single.csv")]
    (lake / "t/day=3").mkdir()
    (lake / "t/day=3/part.csv").write_bytes(b"a\n3\n")
    assert discover(src)[str(lake / "t")].fingerprint not in (first[str(lake / "t")], second[str(lake / "t")])


def test_known_fingerprints_are_not_read_again(lake):
    write(lake, {"a.csv": b"x\n1\n"})
    first = discover(source(lake))[str(lake / "a.csv")]
    (again,) = FolderConnector(source(lake), known={first.name: first.fingerprint}).discover()
    assert again.fingerprint == first.fingerprint and again.columns == []


class TestHeads:
    """The bounded format check itself (catalog.connectors.heads), on local bytes."""

    def inspect(self, content: bytes, fmt: str, compression: str = "", name: str = "x"):
        reads = []

        def read(offset, length):
            reads.append((offset, length))
            return content[offset : offset + length]

        info = heads.inspect(read, size=len(content), format=fmt, compression=compression, filename=name)
        return info, reads

    def test_a_large_file_is_read_by_its_head_only(self):
        content = b"a,b\n" + b"1,2\n" * 1_000_000
        info, reads = self.inspect(content, "csv")
        assert info.columns == [{"name": "a"}, {"name": "b"}]
        assert reads == [(0, heads.HEAD)]

    def test_a_header_longer_than_the_head_is_read_further(self):
        header = ",".join(f"column_number_{i:04d}" for i in range(4500)).encode()  # 85 KB
        content = header + b"\n" + b",".join([b"1"] * 4500) + b"\n"
        info, reads = self.inspect(content, "csv")
        assert len(info.columns) == 4500
        assert reads == [(0, heads.HEAD), (0, len(content))]

    def test_parquet_reads_head_tail_and_footer(self):
        content = parquet_bytes(200_000)
        info, reads = self.inspect(content, "parquet")
        assert info.columns[0] == {"name": "id", "type": "int64"}
        assert sum(length for _, length in reads) <= 3 * heads.HEAD

    def test_a_truncated_gzip_file_is_refused(self):
        content = gzip.compress(b"a,b\n1,2\n" * 10)[:-12]
        with pytest.raises(FormatError, match="truncated|corrupt"):
            self.inspect(content, "csv", "gzip")

    def test_parquet_inside_gzip_is_refused(self):
        with pytest.raises(FormatError, match="Parquet inside gzip"):
            self.inspect(gzip.compress(parquet_bytes()), "parquet", "gzip")
