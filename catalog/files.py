"""Reading what people hand us as a dataset version: where it may come from, what format it is,
and whether it is readable at all -- before anything is stored. The format rules themselves (what
the profiler reads too) are catalog.formats; reading a file through to its end (every row, the
sha256 in the same read) is catalog.whole_file.

Large files are never held in memory: uploads stream to a temporary file while being hashed
(``HashingUploadHandler``), registered paths are hashed in chunks, and format detection reads a
bounded head of the file.
"""

import csv
import errno
import gzip
import hashlib
import io
import os
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler

from catalog import formats
from catalog.formats import PARQUET_MAGIC, FormatError
from catalog.whole_file import (
    CHUNK,
    Borrowed,
    RawPass,
    Utf8Check,
    bad,
    check_csv_whole,
    check_gzip_whole,
    check_jsonl_whole,
    json_line,
)

HEAD_BYTES = 1024 * 1024  # how much of a file format detection reads


@dataclass
class FileInfo:
    """What inspection found: enough for the profiler to read the file without guessing again."""

    format: str
    compression: str = ""
    encoding: str = ""
    notes: list[str] = field(default_factory=list)
    # The schema as far as the bytes tell without profiling: [{"name", "type"?}] (types: Parquet only).
    columns: list[dict] = field(default_factory=list)
    # inspect(..., checksum=True): the file's sha256 and size, hashed in the same read as the checks.
    sha256: str = ""
    size: int | None = None


# ---------------------------------------------------------------------------------------------
# Where a registered path may come from


def file_stat(path: str | os.PathLike) -> str:
    """What the file system says of a file that changes whenever its bytes do: device, inode, size,
    modification and status-change times in ns. The status-change time (ctime) moves with every
    write, rename or ``touch`` and cannot be set back by the file's owner, so the same stat means
    the same bytes unless someone changed the system clock (or a file system that keeps no ctime)."""
    st = os.stat(path)
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"


STAT_SETTLED_NS = 2_000_000_000  # beyond any file system's time granularity (FAT's is 2 s)


def settled_stat(path: str | os.PathLike, before: str) -> str:
    """``before`` (file_stat taken before the file was read) when it still holds and the file last
    changed long enough ago that a later write must move it, else "". Times are kept in coarse
    ticks (a few ms; seconds on some file systems): a write in the same tick as the one before it
    may leave the stat as it was, which is why a file changed just before it was read is not
    trusted (git's "racily clean" files, the same reasoning)."""
    if not before or file_stat(path) != before:
        return ""
    changed_ns = int(before.rsplit(":", 1)[1])
    return before if time.time_ns() - changed_ns >= STAT_SETTLED_NS else ""


def path_from_file_uri(uri: str, *, folder: bool = False) -> Path:
    """Resolve a ``file://`` URI to a regular file (``folder``: a folder) inside ``DATA_ROOTS``, or
    refuse it clearly."""
    if not isinstance(uri, str) or not uri.strip():
        raise ValidationError({"uri": ["Give a file:// URI."]})
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        raise ValidationError(
            {"uri": [f"Only file:// URIs can be registered, not '{parsed.scheme or uri}'."]}
        )
    if parsed.netloc not in ("", "localhost"):
        raise ValidationError({"uri": ["file:// URIs must name a local path (file:///path)."]})
    raw = unquote(parsed.path)
    if "\x00" in raw:
        raise ValidationError({"uri": ["The path holds a NUL character."]})
    if ".." in Path(raw).parts:
        raise ValidationError({"uri": ["The path may not contain '..'."]})
    _check_path_lengths(raw)
    try:
        # resolve() follows symlinks, so a link that points outside DATA_ROOTS is caught below.
        path = Path(raw).resolve()
        roots = settings.DATA_ROOTS
        if not any(path == root or root in path.parents for root in roots):
            raise ValidationError(
                {"uri": [f"{raw} is outside the folders datasets may be registered from (DATA_ROOTS)."]}
            )
        if not path.exists():
            raise ValidationError({"uri": [f"{raw} does not exist."]})
        if folder:
            if not path.is_dir():
                raise ValidationError({"uri": [f"{raw} is not a folder."]})
            with os.scandir(path):
                pass
        else:
            if not path.is_file():
                raise ValidationError({"uri": [f"{raw} is not a regular file."]})
            with path.open("rb"):
                pass
    except RuntimeError as exc:  # Python 3.11's resolve() on a loop of symbolic links
        raise ValidationError({"uri": [f"{_short(raw)} cannot be read: {LOOP}"]}) from exc
    except OSError as exc:
        reason = LOOP if exc.errno == errno.ELOOP else f"{exc.strerror}."
        raise ValidationError({"uri": [f"{_short(raw)} cannot be read: {reason}"]}) from exc
    return path


LOOP = "its symbolic links lead round in a loop."
# What Linux file systems allow: a name (one component of a path) and a whole path, in bytes.
NAME_MAX, PATH_MAX = 255, 4096


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _check_path_lengths(raw: str) -> None:
    """Refuse, naming it, a path no file system can hold (rather than let the OS raise on it)."""
    try:
        encoded = raw.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError({"uri": ["The path is not valid UTF-8 text."]}) from None
    if len(encoded) > PATH_MAX:
        raise ValidationError({"uri": [f"The path is {len(encoded)} bytes long; the limit is {PATH_MAX}."]})
    for part in encoded.split(b"/"):
        if len(part) > NAME_MAX:
            name = _short(part.decode("utf-8", "replace"), 60)
            raise ValidationError(
                {
                    "uri": [
                        f"A component of the path is {len(part)} bytes long ({name}); the limit is {NAME_MAX}."
                    ]
                }
            )


# ---------------------------------------------------------------------------------------------
# Hashing while streaming


class HashingUploadHandler(TemporaryFileUploadHandler):
    """Streams an upload to a temporary file, hashing it and enforcing the size limit on the way.

    The sha256 is then known when the request body has been read, without reading the file again.
    """

    too_large = False
    hash_seconds = 0.0  # time spent hashing, reported in the response's Server-Timing header
    received = 0

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.sha256 = hashlib.sha256()
        self.received = 0
        self.hash_seconds = 0.0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > settings.GOUVERNAIL_MAX_VERSION_BYTES:
            # Closing the NamedTemporaryFile deletes it; the rest of the body is read and dropped.
            self.file.close()
            self.too_large = True
            raise StopUpload(connection_reset=False)
        started = time.perf_counter()
        self.sha256.update(raw_data)
        self.hash_seconds += time.perf_counter() - started
        return super().receive_data_chunk(raw_data, start)

    def file_complete(self, file_size):
        upload = super().file_complete(file_size)
        if upload is not None:
            upload.sha256 = self.sha256.hexdigest()
        return upload


def sha256_of(fh, chunk: int = CHUNK) -> tuple[str, int]:
    """(hex digest, size) of a binary file object, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    while True:
        block = fh.read(chunk)
        if not block:
            break
        digest.update(block)
        size += len(block)
    return digest.hexdigest(), size


# ---------------------------------------------------------------------------------------------
# What format is it, and can it be read at all


def _refuse_known_binaries(magic: bytes) -> None:
    try:
        formats.refuse_known_binaries(magic)
    except FormatError as exc:
        raise bad(str(exc)) from None


def _head_text(fh, compressed: bool) -> bytes:
    fh.seek(0)
    if compressed:
        try:
            with gzip.GzipFile(fileobj=fh) as gz:
                return gz.read(HEAD_BYTES)
        except (OSError, EOFError, zlib.error) as exc:
            raise bad(f"The gzip data is corrupt: {exc}.") from exc
    return fh.read(HEAD_BYTES)


def _decode_head(head: bytes, truncated: bool) -> tuple[str, str, list[str]]:
    """Decode the head as UTF-8, or as a single-byte encoding detected with confidence."""
    notes: list[str] = []
    if b"\x00" in head:
        raise bad(
            "This is a binary file, not text: it holds NUL bytes. Upload CSV, TSV, Parquet or JSON Lines."
        )
    sample = head
    if truncated:
        # The head may end inside a multi-byte character; drop the incomplete tail line.
        cut = sample.rfind(b"\n")
        sample = sample[: cut + 1] if cut > 0 else sample
    try:
        return sample.decode("utf-8-sig" if sample.startswith(b"\xef\xbb\xbf") else "utf-8"), "utf-8", notes
    except UnicodeDecodeError as exc:
        utf8_error = exc
    from charset_normalizer import from_bytes

    # Single-byte Western encodings are hard to tell apart (charset-normalizer may even rank a
    # Baltic code page first for French text), so look at every candidate it found and take the
    # least chaotic Western one -- only when its text reads cleanly (little "chaos").
    accepted = {"latin_1", "iso8859_1", "cp1252", "iso8859_15"}
    candidates = [m for m in from_bytes(sample) if m.encoding in accepted]
    best = min(candidates, key=lambda m: (m.chaos, m.encoding != "cp1252"), default=None)
    if best is not None and (1.0 - best.chaos) >= 0.9:
        encoding = "cp1252" if best.encoding == "cp1252" else "latin-1"
        notes.append(
            f"The file is not UTF-8; it was read as {encoding} (detected with "
            f"{(1.0 - best.chaos):.0%} confidence)."
        )
        return sample.decode(encoding), encoding, notes
    raise bad(
        f"The file is not valid UTF-8 (byte 0x{sample[utf8_error.start]:02x} at offset {utf8_error.start}) "
        "and no other text encoding could be detected with confidence. Re-save it as UTF-8."
    )


def _check_jsonl(text: str, truncated: bool) -> list[str]:
    """Check the head's lines; → the keys seen, in order of first appearance."""
    keys: dict[str, None] = {}
    lines = text.splitlines()
    if truncated and lines:
        lines = lines[:-1]
    for i, line in enumerate(lines, start=1):
        value = json_line(line, i)
        if value is not None:
            keys.update(dict.fromkeys(str(k) for k in value))
    return list(keys)


def _sniff_delimiter(text: str, filename: str) -> str:
    first = text.split("\n", 1)[0]
    if filename.lower().removesuffix(".gz").endswith((".tsv", ".tab")) or first.count("\t") > first.count(
        ","
    ):
        return "\t"
    if ";" in first and "," not in first:
        # European exports: ';' between fields, ',' as the decimal mark. Say so rather than
        # calling every row ragged.
        raise bad(
            "The file separates its fields with ';'. Gouvernail reads comma-separated (CSV) and "
            "tab-separated (TSV) files: export it again with ',' or tabs between fields (and '.' as the decimal mark)."
        )
    return ","


def _check_csv(text: str, delimiter: str, truncated: bool) -> list[str]:
    lines = text.splitlines(keepends=True)
    if truncated and len(lines) > 1:
        lines = lines[:-1]
    reader = csv.reader(io.StringIO("".join(lines)), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration as exc:
        raise bad("The file holds no header row.") from exc
    except csv.Error as exc:
        raise bad(f"The file is not valid CSV: {exc}.") from exc
    if not any(h.strip() for h in header):
        raise bad("The header row is empty.")
    width = len(header)
    _check_width(width)
    _check_rows(reader, width, truncated=truncated)
    return header


def _check_rows(reader, width: int, *, truncated: bool = False) -> None:
    """Every record has the header's width. ``truncated``: the text is a head that ends inside
    the file, so its last record may be cut short (a quoted value holding line breaks, cut by the
    head's end: its quote looks unclosed) and is not judged here; the whole-file parse reads it
    whole, and a file read by its head alone is read whole by the profiler."""
    try:
        start = reader.line_num + 1
        waiting = None  # the last record read, judged once another one follows
        for row in reader:
            if not row:
                start = reader.line_num + 1
                continue
            record = (row, start, reader.line_num)
            start = reader.line_num + 1
            if truncated:
                record, waiting = waiting, record
                if record is None:
                    continue
            _check_record(*record, width)
    except csv.Error as exc:
        raise bad(f"The file is not valid CSV near line {reader.line_num}: {exc}.") from exc


def _check_record(row: list[str], first_line: int, last_line: int, width: int) -> None:
    if len(row) != width and last_line > first_line and any("\n" in f for f in row):
        # One "row" over several lines with a field holding line breaks: a quote that opens
        # and never closes swallows the rest of the file (saying "ragged rows" would mislead).
        raise bad(
            f"A quote opened on line {first_line} is not closed: the field runs on to line "
            f"{last_line}. Close the quote, or double the quote characters inside it."
        )
    if len(row) != width:
        raise bad(
            f"Row {last_line} has {len(row)} fields where the header has {width} "
            "(ragged rows). Fix the file or quote the values that hold the delimiter."
        )


def _check_parquet(fh) -> list[dict]:
    """Read the footer (the check) → the schema's columns with their Arrow types."""
    import pyarrow.parquet as pq

    fh.seek(0)
    try:
        parquet = pq.ParquetFile(Borrowed(fh))
        schema = parquet.schema_arrow
    except Exception as exc:  # pyarrow raises several types for a damaged footer
        raise bad(f"The Parquet file cannot be read: {exc}.") from exc
    _check_width(len(parquet.schema))  # leaf columns: nested fields are profiled one by one
    return [{"name": f.name, "type": str(f.type)} for f in schema]


def _check_width(count: int) -> None:
    limit = settings.GOUVERNAIL_MAX_COLUMNS
    if count > limit:
        raise bad(formats.too_many_columns(count, limit))


def _named(names: list[str]) -> list[dict]:
    """Columns from header names: blank and repeated names are left to the profiler to name."""
    seen: dict[str, None] = {}
    for name in names:
        if name.strip() and name not in seen:
            seen[name] = None
    return [{"name": n} for n in seen]


def inspect(
    fh, *, filename: str = "", size: int | None = None, whole: bool = True, checksum: bool = False
) -> FileInfo:
    """Detect the format of a seekable binary file from its content and check that it is readable.

    The format comes from the bytes (Parquet and gzip magic, then the text itself), the name only
    breaks a tie between CSV and TSV. With ``whole`` (the default) a text file larger than the head
    that detection reads is then read through to its end, streaming, so that a ragged row or a bad
    byte deep inside is refused now rather than found by the profiler after the version exists.
    With ``checksum`` the file's sha256 and size are in the answer, hashed while it is checked.

    Raises ValidationError({"file": [...]}) with a message a person can act on.
    """
    fh.seek(0, io.SEEK_END)
    size = fh.tell() if size is None else size
    if size == 0:
        raise bad("The file is empty (0 bytes).")
    if size > settings.GOUVERNAIL_MAX_VERSION_BYTES:
        raise bad(f"The file is {size} bytes; the limit is {settings.GOUVERNAIL_MAX_VERSION_BYTES} bytes.")
    raw = [RawPass(fh, sha256=True)] if checksum else []
    try:
        info = _inspect(fh, size=size, filename=filename, whole=whole, raw=raw)
        if checksum:
            read = raw[0].result()
            info.sha256, info.size = read.digest.hexdigest(), read.size
    finally:
        for each in raw:
            each.stop()
    return info


def _inspect(fh, *, size: int, filename: str, whole: bool, raw: list[RawPass]) -> FileInfo:
    """inspect's checks; ``raw`` holds the read of the stored bytes if one was started (one is
    started when the whole CSV check needs it)."""
    fh.seek(0)
    magic = fh.read(4)
    if magic == PARQUET_MAGIC:
        typed = _check_parquet(fh)
        types = {c["name"]: c["type"] for c in typed}
        return FileInfo(
            format="parquet",
            columns=[{**c, "type": types[c["name"]]} for c in _named([t["name"] for t in typed])],
        )
    _refuse_known_binaries(magic)
    compression = formats.compression_of(magic)
    compressed = bool(compression)
    text_utf8 = check_gzip_whole(fh, size) if compressed else None
    head = _head_text(fh, compressed)
    truncated = len(head) >= HEAD_BYTES
    info, header = _inspect_text(head, truncated=truncated, filename=filename, compression=compression)
    if truncated and whole and info.format == "jsonl":
        check_jsonl_whole(fh, compressed=compressed, encoding=info.encoding)
    elif truncated and whole:
        if text_utf8 is None and not raw and formats.is_utf8(info.encoding):
            raw.append(RawPass(fh, sha256=False))  # read beside the parse

        def utf8() -> Utf8Check:
            return text_utf8 if text_utf8 is not None else raw[0].result().utf8

        delimiter = "\t" if info.format == "tsv" else ","
        check_csv_whole(
            fh,
            compressed=compressed,
            delimiter=delimiter,
            encoding=info.encoding,
            header=header,
            utf8=utf8,
            head_bytes=HEAD_BYTES,
        )
    return info


def inspect_head(head: bytes, *, truncated: bool, filename: str = "", compression: str = "") -> FileInfo:
    """What the first bytes of a text file say, by the rules ``inspect`` applies: JSON Lines, CSV or
    TSV, the encoding and the columns, each line of ``head`` checked. ``head`` is decompressed text;
    ``truncated``: the file goes on past it (its last, maybe cut, line is then left out). For
    sources, which check a bounded head of data that stays where it lives. Raises ValidationError."""
    return _inspect_text(head, truncated=truncated, filename=filename, compression=compression)[0]


def _inspect_text(
    head: bytes, *, truncated: bool, filename: str, compression: str
) -> tuple[FileInfo, list[str]]:
    """→ (what the head says, the CSV header as read: [] for JSON Lines)."""
    if compression and head[:4] == PARQUET_MAGIC:
        raise bad(
            "This is a Parquet file inside gzip. Upload the .parquet file itself: Parquet compresses its "
            "own columns."
        )
    if not head.strip():
        raise bad("The file holds no data (only white space).")
    text, encoding, notes = _decode_head(head, truncated)
    if text.lstrip("\ufeff \t\r\n").startswith("["):
        raise bad(
            "The file is a JSON array. Gouvernail reads JSON Lines (one object per line): "
            "convert it, e.g. with pandas' df.to_json(path, orient='records', lines=True)."
        )
    if formats.looks_like_jsonl(text):
        keys = _check_jsonl(text, truncated)
        _check_width(len(keys))
        info = FileInfo(
            format="jsonl", compression=compression, encoding=encoding, notes=notes, columns=_named(keys)
        )
        return info, []
    delimiter = _sniff_delimiter(text, filename)
    header = _check_csv(text, delimiter, truncated)
    info = FileInfo(
        format="tsv" if delimiter == "\t" else "csv",
        compression=compression,
        encoding=encoding,
        notes=notes,
        columns=_named(header),
    )
    return info, header
