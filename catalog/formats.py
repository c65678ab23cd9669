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


def json_line_object(line: str | bytes, line_no: int) -> dict[str, Any] | None:
    """One line of a JSON Lines file → its object, None for a blank line; FormatError otherwise.

    A line must be one JSON object whose keys (nested ones too) each appear once: pyarrow's reader,
    which the profiler uses, refuses a repeated key where Python's json would keep the last value.
    """
    if not line.strip():
        return None
    if line_no == 1 and isinstance(line, str):
        line = line.removeprefix("\ufeff")  # a byte order mark is not part of the first line
    try:
        value = json.loads(line, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise FormatError(f"Line {line_no} is not valid JSON: {exc.msg}.") from exc
    except _RepeatedKey as exc:
        raise FormatError(repeated_key(exc.key, line_no)) from None
    if not isinstance(value, dict):
        raise FormatError(not_an_object(line_no))
    return value
