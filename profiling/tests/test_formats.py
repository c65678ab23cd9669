"""One home for file formats (catalog.formats): a file accepted at upload is read by the profiler, and
a file that breaks a format rule is refused by both, in the same words."""

import gzip
import io
import zipfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.exceptions import ValidationError

from catalog.files import HEAD_BYTES, inspect
from profiling.engine import ProfileError, profile_file

# Past the head that upload's format detection reads: the rest is checked by the whole-file pass.
BIG_ROWS = HEAD_BYTES // 8 + 1000


def _parquet() -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.table({"a": [1, 2, 3], "b": ["x", "y", None]}), buf)
    return buf.getvalue()


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("data.csv", "a,b\n1,2\n")
    return buf.getvalue()


# file name -> (bytes, rows the profiler must find)
ACCEPTED = {
    "plain.csv": (b"a,b\n1,x\n2,y\n3,z\n", 3),
    "plain.tsv": (b"a\tb\n1\tx\n2\ty\n", 2),
    "plain.jsonl": (b'{"a": 1, "b": "x"}\n{"a": 2, "b": "y"}\n', 2),
    "plain.parquet": (_parquet(), 3),
    "compressed.csv.gz": (gzip.compress(b"a,b\n1,x\n2,y\n"), 2),
    "compressed.jsonl.gz": (gzip.compress(b'{"a": 1}\n{"a": 2}\n'), 2),
    "two-members.csv.gz": (gzip.compress(b"a,b\n1,x\n") + gzip.compress(b"2,y\n"), 2),
    "windows.csv": (("a,b\n" + "1,café\n2,naïve\n" * 40).encode("cp1252"), 80),
    "windows.jsonl": ('{"a": "café naïve résumé"}\n'.encode("cp1252") * 40, 40),
    "bom.csv": (b"\xef\xbb\xbfa,b\n1,x\n", 1),
    "bom.jsonl": (b'\xef\xbb\xbf{"a": 1}\n{"a": 2}\n', 2),
    "bom-big.jsonl": (b"\xef\xbb\xbf" + b'{"a": 1}\n' * BIG_ROWS, BIG_ROWS),
    "crlf.jsonl": (b'{"a": 1}\r\n\r\n{"a": 2}\r\n', 2),
    "nested.jsonl": (b'{"a": {"b": 1}}\n{"a": {"b": 2}}\n', 2),
    "type-changes.jsonl": (b'\xef\xbb\xbf{"a": 1}\n{"a": "x"}\n{"a": [1]}\n', 3),
    "big.csv": (b"a,b\n" + b"1,x\n" * BIG_ROWS, BIG_ROWS),
    "header-only.csv": (b"a,b\n", 0),
}


@pytest.mark.parametrize("name", list(ACCEPTED))
def test_a_file_accepted_at_upload_is_read_by_the_profiler(tmp_path, name):
    data, rows = ACCEPTED[name]
    path = tmp_path / name
    path.write_bytes(data)
    with path.open("rb") as fh:
        info = inspect(fh, filename=name)
    result = profile_file(
        str(path), format=info.format, compression=info.compression, encoding=info.encoding or "utf-8"
    )
    assert result.row_count == rows
    assert {c["name"] for c in info.columns} <= {c["name"].split(".")[0] for c in result.columns}


# name -> (bytes, the format the profiler is told, words both say)
REFUSED = {
    "bzip2": (b"BZh91AY&SY" + bytes(40), "csv", "This is bzip2-compressed."),
    "zip": (_zip(), "csv", "This is a zip archive"),
    "utf-16": ("a,b\n1,2\n".encode("utf-16"), "csv", "This text is UTF-16"),
    "array-line": (b'{"a": 1}\n[1, 2]\n', "jsonl", "not a JSON object; JSON Lines datasets hold one object"),
    "number-line": (b'{"a": 1}\n5\n', "jsonl", "not a JSON object; JSON Lines datasets hold one object"),
    "array-line-late": (
        b'{"a": 1}\n' * BIG_ROWS + b"[1, 2]\n",
        "jsonl",
        "not a JSON object; JSON Lines datasets hold one object",
    ),
    "array-line-after-a-type-change": (
        b'{"a": 1}\n{"a": "x"}\n[1]\n',
        "jsonl",
        "Line 3 is not a JSON object; JSON Lines datasets hold one object",
    ),
    "repeated-key": (b'{"a": 1, "a": 2}\n', "jsonl", "repeats the key 'a'"),
    "repeated-nested-key-late": (
        b'{"a": {"b": 1}}\n' * BIG_ROWS + b'{"a": {"b": 1, "b": 2}}\n',
        "jsonl",
        "repeats the key 'b'",
    ),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_a_file_refused_at_upload_is_refused_by_the_profiler_in_the_same_words(tmp_path, name):
    data, fmt, words = REFUSED[name]
    path = tmp_path / name
    path.write_bytes(data)
    with path.open("rb") as fh, pytest.raises(ValidationError) as refused:
        inspect(fh, filename=name)
    assert words in refused.value.message_dict["file"][0]
    with pytest.raises(ProfileError) as failed:
        profile_file(str(path), format=fmt)
    assert words in str(failed.value)
