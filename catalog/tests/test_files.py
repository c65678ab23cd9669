"""catalog.files: format detection from content, readability checks, file:// path rules."""

import gzip
import io

import pytest
from django.core.exceptions import ValidationError

from catalog import files, whole_file


def inspect(content: bytes, filename: str = "x.csv") -> files.FileInfo:
    return files.inspect(io.BytesIO(content), filename=filename)


def message(exc: pytest.ExceptionInfo) -> str:
    return " ".join(exc.value.message_dict["file"])


def test_csv_tsv_jsonl_gzip():
    assert inspect(b"a,b\n1,2\n").format == "csv"
    assert inspect(b"a\tb\n1\t2\n").format == "tsv"
    assert inspect(b'{"a": 1}\n\n{"a": 2}\n').format == "jsonl"
    info = inspect(gzip.compress(b"a,b\n1,2\n"), "x.gz")
    assert (info.format, info.compression, info.encoding) == ("csv", "gzip", "utf-8")


def test_utf8_bom_is_fine():
    assert inspect(b"\xef\xbb\xbfa,b\n1,\xc3\xa9\n").encoding == "utf-8"


def test_quoted_delimiters_and_newlines_are_not_ragged():
    assert inspect(b'a,b\n"1,5","two\nlines"\n3,4\n').format == "csv"


def test_concatenated_gzip_members_are_valid():
    assert inspect(gzip.compress(b"a,b\n1,2\n") + gzip.compress(b"3,4\n"), "x.gz").compression == "gzip"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "empty"),
        (b"   \n\n", "no data"),
        (b"a,b\x00\n", "binary"),
        (b"a,b\n1\n", "ragged"),
        (b",,\n1,2,3\n", "header row is empty"),
        (b'{"a": 1}\n[1, 2]\n', "not a JSON object"),
        (gzip.compress(b"a,b\n1,2\n", mtime=0)[:-6], "truncated"),
        (b"\x1f\x8b\x08\x00garbage-garbage", "gzip"),
        (b"PAR1 not really parquet PAR1", "Parquet"),
    ],
)
def test_refusals_say_why(content, expected):
    with pytest.raises(ValidationError) as exc:
        inspect(content)
    assert expected in message(exc)


def test_size_limit(settings):
    settings.GOUVERNAIL_MAX_VERSION_BYTES = 10
    with pytest.raises(ValidationError) as exc:
        inspect(b"a,b\n1,2\n3,4\n")
    assert "limit" in message(exc)


def test_whole_file_check_can_be_skipped():
    content = b"a,b\n" + b"1,2\n" * 300_000 + b"1,2,3\n"
    with pytest.raises(ValidationError):
        inspect(content)
    assert files.inspect(io.BytesIO(content), whole=False).format == "csv"


def test_large_gzip_csv_checked_to_the_end():
    content = gzip.compress(b"a,b\n" + b"1,2\n" * 300_000 + b"1\n")
    with pytest.raises(ValidationError) as exc:
        inspect(content, "x.csv.gz")
    assert "ragged" in message(exc)


def test_large_jsonl_checked_to_the_end():
    content = b'{"a": 1}\n' * 150_000 + b"oops\n"
    with pytest.raises(ValidationError) as exc:
        inspect(content, "x.jsonl")
    assert "Line 150001" in message(exc)


def test_sha256_of():
    import hashlib

    data = b"x" * (3 * files.CHUNK + 5)
    assert files.sha256_of(io.BytesIO(data)) == (hashlib.sha256(data).hexdigest(), len(data))


# ---------------------------------------------------------------------------------------------
# Registered paths


def uri_error(uri: str) -> str:
    with pytest.raises(ValidationError) as exc:
        files.path_from_file_uri(uri)
    return " ".join(exc.value.message_dict["uri"])


def test_path_inside_root(data_root):
    f = data_root / "a b.csv"
    f.write_bytes(b"a\n1\n")
    assert files.path_from_file_uri(f.as_uri()) == f.resolve()
    assert files.path_from_file_uri(f"file://localhost{f}") == f.resolve()


def test_symlink_inside_root_is_fine(data_root):
    f = data_root / "real.csv"
    f.write_bytes(b"a\n1\n")
    (data_root / "alias.csv").symlink_to(f)
    assert files.path_from_file_uri((data_root / "alias.csv").as_uri()) == f.resolve()


def test_path_rules(data_root, tmp_path):
    assert "file://" in uri_error("s3://bucket/key.csv")
    assert "file://" in uri_error("")
    assert "local path" in uri_error("file://otherhost/data/a.csv")
    assert "NUL" in uri_error(f"file://{data_root}/a%00.csv")
    assert ".." in uri_error(f"file://{data_root}/x/../a.csv")
    assert "DATA_ROOTS" in uri_error("file:///etc/passwd")
    # A sibling folder whose name starts like the root is still outside it.
    sibling = tmp_path / (data_root.name + "-evil")
    sibling.mkdir()
    (sibling / "a.csv").write_bytes(b"a\n1\n")
    assert "DATA_ROOTS" in uri_error((sibling / "a.csv").as_uri())
    outside = tmp_path / "outside"
    outside.mkdir()
    (data_root / "escape").symlink_to(outside)
    (outside / "a.csv").write_bytes(b"a\n1\n")
    assert "DATA_ROOTS" in uri_error((data_root / "escape" / "a.csv").as_uri())
    assert "does not exist" in uri_error((data_root / "missing.csv").as_uri())


def test_a_row_longer_than_a_parse_block_is_not_refused():
    long_value = "x" * (whole_file.CSV_BLOCK * 3)
    content = b"a,b\n" + b"1,2\n" * 300_000 + f'3,"{long_value}"\n'.encode() + b"4,5\n"
    assert inspect(content).format == "csv"


# ---------------------------------------------------------------------------------------------
# The whole-file CSV check converts one column: every other rule still holds to the last row


def big_csv(tail: bytes, rows: int = 90_000) -> bytes:
    """A CSV past the head that detection reads, ``tail`` as its last-but-some lines."""
    body = b"".join(b"%d,plain,ascii text,%d\n" % (i, i * 3) for i in range(rows))
    content = b"id,kind,note,v\n" + body + tail + body[: body.index(b"\n", 2000) + 1]
    assert len(content) > 2 * files.HEAD_BYTES
    return content


@pytest.fixture(params=["memory", "file"])
def as_file(request, tmp_path):
    """The same bytes as an in-memory upload and as a file on disk (read beside the parse)."""

    def make(content: bytes):
        if request.param == "memory":
            return io.BytesIO(content)
        path = tmp_path / "data.csv"
        path.write_bytes(content)
        return path.open("rb")

    return make


@pytest.mark.parametrize(
    ("tail", "expected"),
    [
        (b"7,plain,ascii text\n", "Expected 4 columns, got 3"),  # a field short, not in column 1
        (b"7,plain,ascii text,1,2\n", "Expected 4 columns, got 5"),
        (b"7,plain,caf\xe9 \xff,1\n", "not valid UTF-8"),  # a bad byte in a column not converted
        (b"7,plain,ascii,\xc3\n", "not valid UTF-8"),  # a cut character in the last column
    ],
)
def test_bad_rows_deep_in_a_large_file_in_any_column(as_file, tail, expected):
    with pytest.raises(ValidationError) as exc:
        files.inspect(as_file(big_csv(tail)), filename="x.csv")
    assert expected in message(exc)


def test_not_utf8_deep_in_a_large_file_says_where(as_file):
    with pytest.raises(ValidationError) as exc:
        files.inspect(as_file(big_csv(b"7,plain,caf\xe9,1\n")), filename="x.csv")
    assert "on line 90002" in message(exc)


def test_not_utf8_at_the_very_end_is_refused(as_file):
    content = big_csv(b"")
    with pytest.raises(ValidationError) as exc:
        files.inspect(as_file(content + b"8,plain,x,caf\xc3"), filename="x.csv")
    assert "not valid UTF-8" in message(exc)


def test_utf8_characters_across_read_chunks_are_fine(as_file):
    # Two-byte characters from the start: the 1 MiB chunks the check reads cut through some.
    row = "é,ü,ß,€\n".encode()
    content = b"a,b,c,d\n" + row * (3 * files.CHUNK // len(row) + 7)
    assert files.inspect(as_file(content), filename="x.csv").format == "csv"


def test_gzip_text_not_utf8_deep_inside_is_refused():
    content = gzip.compress(big_csv(b"7,plain,caf\xe9,1\n"))
    with pytest.raises(ValidationError) as exc:
        inspect(content, "x.csv.gz")
    assert "not valid UTF-8" in message(exc) and "decompressed" in message(exc)


def test_cp1252_byte_it_has_no_character_for_deep_inside_is_refused():
    # Detected as cp1252 from its head; 0x81 further on is no cp1252 character (was a crash).
    text = "".join(f"{i},Très élevé à côté du théâtre municipal prévu en été\n" for i in range(30_000))
    content = b"id,note\n" + text.encode("cp1252") + b"7,caf\x81\n" + b"8,x\n"
    with pytest.raises(ValidationError) as exc:
        inspect(content)
    assert "not valid cp1252" in message(exc)


@pytest.mark.parametrize(
    ("content", "name"),
    [
        (b"a,b\n1,2\n", "x.csv"),
        (None, "x.csv"),  # past the head: hashed beside the whole-file parse
        (gzip.compress(b"a,b\n" + b"1,2\n" * 400_000), "x.csv.gz"),
        (b'{"a": 1}\n' * 200_000, "x.jsonl"),
    ],
)
def test_checksum_is_the_sha256_of_the_bytes(as_file, content, name):
    import hashlib

    content = big_csv(b"") if content is None else content
    info = files.inspect(as_file(content), filename=name, checksum=True)
    assert (info.sha256, info.size) == (hashlib.sha256(content).hexdigest(), len(content))


def test_checksum_of_parquet(tmp_path):
    import hashlib

    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "x.parquet"
    pq.write_table(pa.table({"a": list(range(1000))}), path)
    with path.open("rb") as fh:
        info = files.inspect(fh, filename="x.parquet", checksum=True)
    data = path.read_bytes()
    assert (info.format, info.sha256, info.size) == ("parquet", hashlib.sha256(data).hexdigest(), len(data))


# ---------------------------------------------------------------------------------------------
# A large file on disk is parsed as two halves at once, cut at a true record start


@pytest.fixture
def halves(monkeypatch):
    """Files of 1 MiB and more checked in two halves, whatever this machine's cores."""
    monkeypatch.setattr(whole_file, "SPLIT_BYTES", files.CHUNK)
    monkeypatch.setattr(whole_file, "_cores", lambda: 2)


def quoted_rows(n: int, start: int = 0) -> bytes:
    """Rows whose quoted values hold line breaks, delimiters and quotes: a newline is no record end."""
    return b"".join(b'%d,"multi\nline, ""quoted""\n%d,2,3",x\n' % (i, i) for i in range(start, start + n))


def check_file(tmp_path, content: bytes) -> str:
    path = tmp_path / "halves.csv"
    path.write_bytes(content)
    with path.open("rb") as fh:
        try:
            info = files.inspect(fh, filename="x.csv", checksum=True)
        except ValidationError as exc:
            return " ".join(exc.message_dict["file"])
    assert info.size == len(content)
    return "accepted"


def test_halves_are_cut_at_a_true_record_start(halves, tmp_path):
    content = b"id,note,t\n" + quoted_rows(80_000)
    path = tmp_path / "q.csv"
    path.write_bytes(content)
    with path.open("rb") as fh:
        cut, size = whole_file._half_way(fh, ",")
    assert size == len(content) and size // 2 <= cut < size
    assert content[cut - 1 : cut] == b"\n" and content[cut:].split(b",", 1)[0].isdigit()
    assert check_file(tmp_path, content) == "accepted"


@pytest.mark.parametrize("where", ["first half, past the head", "second half", "last row"])
def test_a_bad_row_in_either_half_is_refused_as_in_one_parse(halves, tmp_path, monkeypatch, where):
    rows = 80_000
    at = {"first half, past the head": 30_000, "second half": 60_000, "last row": rows}[where]
    content = b"id,note,t\n" + quoted_rows(at) + b"7,x\n" + quoted_rows(rows - at, at)
    in_halves = check_file(tmp_path, content)
    monkeypatch.setattr(whole_file, "SPLIT_BYTES", 1 << 40)
    in_one = check_file(tmp_path, content)
    assert "Expected 3 columns, got 2: 7,x" in in_halves
    # pyarrow's record number (the header is record 1) is the same whichever half met the row.
    assert f"Row #{at + 2}:" in in_halves and f"Row #{at + 2}:" in in_one


def test_a_byte_its_encoding_lacks_in_the_second_half_is_refused(halves, tmp_path):
    text = "".join(f"{i},Très élevé à côté du théâtre municipal prévu en été\n" for i in range(60_000))
    content = b"id,note\n" + text.encode("cp1252") + b"7,caf\x81\n" + b"8,x\n"
    assert "not valid cp1252" in check_file(tmp_path, content)


def test_a_head_cut_inside_a_quoted_value_is_not_an_unclosed_quote():
    # Valid rows whose quoted values span lines: the 1 MiB head ends inside one of them.
    content = b"id,note,t\n" + quoted_rows(60_000)
    assert len(content) > files.HEAD_BYTES
    assert inspect(content).format == "csv"
    assert files.inspect(io.BytesIO(content), whole=False).format == "csv"


def test_an_unclosed_quote_is_still_refused_in_the_head_and_past_it():
    rows = b"".join(b"%d,plain,text\n" % i for i in range(100_000))
    head_quote = b"id,note,t\n" + rows[:5000] + b'7,"never closed,x\n' + rows[5000:]
    with pytest.raises(ValidationError):  # (as Python's csv reads it: a field past its size limit)
        inspect(head_quote)
    late_quote = b"id,note,t\n" + rows + b'7,"never closed,x\n' + rows[:5000]
    with pytest.raises(ValidationError) as exc:
        inspect(late_quote)
    assert "Expected 3 columns, got 2" in message(exc)
    small = b"id,note,t\n1,a,b\n" + b'7,"never closed,x\n' + b"2,c,d\n3,e,f\n"
    with pytest.raises(ValidationError) as exc:
        inspect(small)
    assert "not closed" in message(exc)
