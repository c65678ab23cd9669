"""What a readable data file is: the formats and the compression Gouvernail reads, what a file's first
bytes say it is, how a text file's bytes are opened as a stream, and what each line of a JSON Lines
file must be.

Upload and registration (catalog.files) and the profiler's readers (profiling.engine) both go by these
rules, so that a file accepted at upload is a file the profiler reads, and a file one refuses the
other refuses with the same words. Plain Python (pyarrow imported when a stream is opened): no
Django, no database, so that the profiling engine can use it.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Iterator
from typing import Any

FORMATS = ("csv", "tsv", "parquet", "jsonl")
COMPRESSIONS = ("", "gzip")
GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
ONLY_GZIP = "Only gzip compression is read: recompress with gzip, or upload it plain."
UTF16 = 'This text is UTF-16 (Excel\'s "Unicode text"). Save it as UTF-8 CSV and upload that.'
# Files handed to us by mistake, told apart by their first bytes (otherwise they read as text full of
# NUL bytes or as bytes that are not UTF-8, which says nothing about what to do).
KNOWN_BINARIES = (
    (b"BZh", f"This is bzip2-compressed. {ONLY_GZIP}"),
    (b"PK\x03\x04", "This is a zip archive (or an Excel .xlsx). Upload the CSV, TSV, Parquet or JSON Lines file itself."),
    (b"\xfd7zX", f"This is xz-compressed. {ONLY_GZIP}"),
    (b"\x28\xb5\x2f\xfd", f"This is zstd-compressed. {ONLY_GZIP}"),
    (b"\xff\xfe", UTF16),
    (b"\xfe\xff", UTF16),
)  # fmt: skip


class FormatError(ValueError):
    """A file that breaks a format rule; ``str(exc)`` is a message a person can act on."""


class TooLarge(FormatError):
    """A file past the size limit once decompressed."""


# Decompressed text up to this size passes whatever its ratio: small files compress very well.
EXPANSION_GRACE = 16 * 1024 * 1024
# The deepest nesting of a JSON Lines line when nobody says otherwise (GOUVERNAIL_MAX_JSON_DEPTH).
MAX_JSON_DEPTH = 64
# The longest line of a JSON Lines file (the profiler's readers take no longer one either).
MAX_LINE_BYTES = 16 * 1024 * 1024


def too_many_columns(count: int, limit: int) -> str:
    return (
        f"The data has {count} columns; a dataset may have at most {limit} (GOUVERNAIL_MAX_COLUMNS). "
        "Split it into narrower datasets, or ask an administrator to raise the limit."
    )


def check_format(format: str, compression: str) -> None:  # noqa: A002 - the versions' own field name
    if format not in FORMATS:
        raise FormatError(f"Unknown format '{format}'; expected one of {', '.join(FORMATS)}.")
    if compression not in COMPRESSIONS:
        raise FormatError(f"Unknown compression '{compression}'; expected 'gzip' or none.")


def compression_of(magic: bytes) -> str:
    """The compression a file's first bytes show: "gzip" or "" (none)."""
    return "gzip" if magic[:2] == GZIP_MAGIC else ""


def refuse_known_binaries(magic: bytes) -> None:
    for prefix, message in KNOWN_BINARIES:
        if magic.startswith(prefix):
            raise FormatError(message)


def check_text_magic(magic: bytes, *, format: str, compression: str) -> None:  # noqa: A002
    """Refuse a file given as text (``format``, ``compression``) whose first bytes say otherwise."""
    if magic == PARQUET_MAGIC:
        raise FormatError(f"The file is Parquet, not {format.upper()}; register it as Parquet.")
    if magic[:2] == GZIP_MAGIC and compression != "gzip":
        raise FormatError("The file is gzip-compressed but was given as uncompressed.")
    if compression == "gzip" and magic and magic[:2] != GZIP_MAGIC:
        raise FormatError("The file was given as gzip-compressed but is not gzip data.")
    refuse_known_binaries(magic)


def gunzip_blocks(fh: Any, chunk: int = 1024 * 1024) -> Iterator[bytes]:
    """The decompressed bytes of a gzip file (concatenated members too), at most ``chunk`` bytes at a
    time however well the data compresses; raises zlib.error for damaged data and FormatError when
    the file ends inside a member."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    pending = b""
    while True:
        if not pending:
            pending = fh.read(chunk)
            if not pending:
                break
        if d.eof:  # the previous member ended and more bytes follow: the next member
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out = d.decompress(pending, chunk)
        pending = d.unused_data if d.eof else d.unconsumed_tail
        if out:
            yield out
    if not d.eof:
        raise FormatError("The gzip file is truncated: it ends before the end of its compressed stream.")


def check_expansion(
    text_bytes: int, compressed_bytes: int, *, max_bytes: int | None, max_ratio: float | None
) -> None:
    """Refuse a gzip file whose text, ``text_bytes`` of it read so far, is past the size limit
    (TooLarge) or expands more than ``max_ratio`` times the file once past EXPANSION_GRACE."""
    if max_bytes is not None and text_bytes > max_bytes:
        raise TooLarge(
            f"Decompressed, the file holds more than {max_bytes} bytes, the limit (GOUVERNAIL_MAX_VERSION_BYTES)."
        )
    if max_ratio and text_bytes > EXPANSION_GRACE and text_bytes > max_ratio * compressed_bytes:
        raise FormatError(
            f"The gzip data expands to more than {max_ratio:g} times its {compressed_bytes} bytes "
            "(GOUVERNAIL_MAX_EXPANSION_RATIO), as a decompression bomb does. If the data is genuine, "
            "send it uncompressed or ask an administrator to raise the limit."
        )


def is_utf8(encoding: str | None) -> bool:
    """Does this encoding name (as stored on a version; empty means UTF-8) name UTF-8?"""
    return (encoding or "utf-8").lower().replace("_", "-") in ("utf-8", "utf8")


def text_stream(source: Any, compression: str, *, buffer_size: int | None = None) -> Any:
    """A file's bytes from where ``source`` (a pyarrow NativeFile) stands, decompressed, as a pyarrow
    input stream. A native file read by pyarrow's own I/O threads never waits for the GIL."""
    import pyarrow as pa

    return pa.input_stream(source, compression=compression or None, buffer_size=buffer_size)


def looks_like_jsonl(text: str) -> bool:
    """A text whose first line that is not blank opens a JSON object is JSON Lines (else CSV/TSV)."""
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        return line.startswith("{")
    return False


def not_an_object(line_no: int | None = None) -> str:
    where = f"Line {line_no} is" if line_no is not None else "A line of the file is"
    return f"{where} not a JSON object; JSON Lines datasets hold one object per line."


def repeated_key(key: str, line_no: int | None = None) -> str:
    where = f"Line {line_no}" if line_no is not None else "A line of the file"
    return f"{where} repeats the key '{key[:100]}': each field of a JSON Lines object appears once."


class _RepeatedKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _RepeatedKey(key)
            seen.add(key)
    return obj


def too_deep(line_no: int | None, limit: int) -> str:
    where = f"Line {line_no}" if line_no is not None else "A line of the file"
    return (
        f"{where} nests objects and arrays more than {limit} levels deep, the limit "
        "(GOUVERNAIL_MAX_JSON_DEPTH). Flatten the data, or keep the deep part as a JSON string."
    )


_STRING = re.compile(rb'"(?:[^"\\\n]|\\.)*"')
_ALL_BYTES = bytes(range(256))
_NOT_BRACKETS = _ALL_BYTES.translate(None, b"{}[]")
_NOT_OPENERS_OR_NEWLINES = _ALL_BYTES.translate(None, b"{[\n")


def json_depth(line: str | bytes) -> int:
    """How deep a JSON text nests objects and arrays, read without parsing it (no recursion)."""
    data = line.encode("utf-8", "surrogatepass") if isinstance(line, str) else line
    depth = deepest = 0
    for bracket in _STRING.sub(b"", data).translate(None, _NOT_BRACKETS):
        if bracket in b"{[":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _openers(line: str | bytes) -> int:
    """An upper bound of the nesting depth, fast: how many objects and arrays the line opens."""
    return line.count("{" if isinstance(line, str) else b"{") + line.count(
        "[" if isinstance(line, str) else b"["
    )


class DepthScan:
    """Read a JSON Lines file's bytes block by block (as they come, decompressed) and raise
    FormatError at the first line nested deeper than ``limit`` or longer than ``max_line``, without
    parsing it: pyarrow's JSON parser recurses once per level and overflows its stack (the process
    dies) on lines a few thousand levels deep. Counting the brackets of each line is the fast check;
    only a line that opens more than ``limit`` objects and arrays is measured exactly."""

    def __init__(self, limit: int, *, max_line: int = MAX_LINE_BYTES) -> None:
        self.limit, self.max_line = limit, max_line
        self.lines = 0  # complete lines checked so far
        self._partial: list[bytes] = []
        self._partial_size = 0

    def feed(self, block: bytes) -> None:
        cut = block.rfind(b"\n") + 1
        if not cut:
            self._keep(block)
            return
        text = b"".join([*self._partial, block[:cut]])
        self._partial, self._partial_size = [], 0
        self._keep(block[cut:])
        self._scan(text)

    def close(self) -> None:
        if self._partial:
            self._scan(b"".join(self._partial) + b"\n")
            self._partial = []

    def _keep(self, rest: bytes) -> None:
        if not rest:
            return
        self._partial.append(rest)
        self._partial_size += len(rest)
        if self._partial_size > self.max_line:
            raise FormatError(line_too_long(self.lines + 1, self.max_line))

    def _scan(self, text: bytes) -> None:
        reduced = text.translate(None, _NOT_OPENERS_OR_NEWLINES)
        if len(reduced) - reduced.count(b"\n") > self.limit:  # some line may be too deep
            counts = reduced.split(b"\n")
            if max(map(len, counts)) > self.limit:
                for i, line in enumerate(text.split(b"\n")):
                    if len(counts[i]) > self.limit and json_depth(line) > self.limit:
                        raise FormatError(too_deep(self.lines + i + 1, self.limit))
        self.lines += text.count(b"\n")


def line_too_long(line_no: int, limit: int) -> str:
    return (
        f"Line {line_no} is longer than {limit // (1024 * 1024)} MiB; JSON Lines files hold one record "
        "per line, and lines that long cannot be profiled."
    )


def json_line_object(
    line: str | bytes, line_no: int, *, max_depth: int = MAX_JSON_DEPTH
) -> dict[str, Any] | None:
    """One line of a JSON Lines file → its object, None for a blank line; FormatError otherwise.

    A line must be one JSON object whose keys (nested ones too) each appear once: pyarrow's reader,
    which the profiler uses, refuses a repeated key where Python's json would keep the last value.
    It may nest objects and arrays at most ``max_depth`` levels deep (checked before parsing, which
    recurses per level).
    """
    if not line.strip():
        return None
    if line_no == 1 and isinstance(line, str):
        line = line.removeprefix("\ufeff")  # a byte order mark is not part of the first line
    if _openers(line) > max_depth and json_depth(line) > max_depth:
        raise FormatError(too_deep(line_no, max_depth))
    try:
        value = json.loads(line, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise FormatError(f"Line {line_no} is not valid JSON: {exc.msg}.") from exc
    except _RepeatedKey as exc:
        raise FormatError(repeated_key(exc.key, line_no)) from None
    except RecursionError:  # brackets inside broken strings can hide depth from json_depth
        raise FormatError(too_deep(line_no, max_depth)) from None
    if not isinstance(value, dict):
        raise FormatError(not_an_object(line_no))
    return value
