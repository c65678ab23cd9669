"""catalog.formats: the format rules that upload and the profiler share."""

import gzip

import pyarrow as pa
import pytest

from catalog import formats
from catalog.formats import FormatError


def test_first_bytes_tell_compression_and_known_binaries():
    assert formats.compression_of(gzip.compress(b"a\n")[:4]) == "gzip"
    assert formats.compression_of(b"a,b\n") == ""
    with pytest.raises(FormatError, match="bzip2"):
        formats.refuse_known_binaries(b"BZh9")
    formats.refuse_known_binaries(b"a,b\n")


@pytest.mark.parametrize(
    ("magic", "fmt", "compression", "words"),
    [
        (b"PAR1", "csv", "", "The file is Parquet, not CSV"),
        (b"\x1f\x8b\x08\x00", "csv", "", "gzip-compressed but was given as uncompressed"),
        (b"a,b\n", "csv", "gzip", "given as gzip-compressed but is not gzip"),
        (b"PK\x03\x04", "jsonl", "", "zip archive"),
    ],
)
def test_a_file_given_as_text_is_refused_when_its_first_bytes_say_otherwise(magic, fmt, compression, words):
    with pytest.raises(FormatError, match=words):
        formats.check_text_magic(magic, format=fmt, compression=compression)


def test_known_formats_and_compressions():
    formats.check_format("jsonl", "gzip")
    with pytest.raises(FormatError, match="Unknown format"):
        formats.check_format("xlsx", "")
    with pytest.raises(FormatError, match="Unknown compression"):
        formats.check_format("csv", "bzip2")


def test_json_lines_lines():
    assert formats.json_line_object("  \n", 3) is None
    assert formats.json_line_object('\ufeff{"a": 1}', 1) == {"a": 1}
    assert formats.json_line_object(b'{"a": {"b": 2}}', 2) == {"a": {"b": 2}}
    with pytest.raises(FormatError, match="Line 2 is not a JSON object"):
        formats.json_line_object("[1]", 2)
    with pytest.raises(FormatError, match="Line 4 is not valid JSON"):
        formats.json_line_object('{"a": ', 4)
    with pytest.raises(FormatError, match="Line 5 repeats the key 'b'"):
        formats.json_line_object('{"a": {"b": 1, "b": 2}}', 5)
    assert formats.looks_like_jsonl('\n  {"a": 1}\n')
    assert not formats.looks_like_jsonl("a,b\n{x}\n")


def test_text_stream_decompresses():
    raw = pa.BufferReader(gzip.compress(b"a,b\n1,2\n"))
    assert formats.text_stream(raw, "gzip").read() == b"a,b\n1,2\n"
    assert formats.text_stream(pa.BufferReader(b"plain"), "").read() == b"plain"


def test_utf8_names():
    assert formats.is_utf8("") and formats.is_utf8("UTF_8") and formats.is_utf8("utf8")
    assert not formats.is_utf8("cp1252")
