"""Are a data file's bytes what its name says? Checked on a bounded head (and, for Parquet, the tail
and the footer), read where the file lives: the object storage and folder connectors' format check.

The rules are the ones upload applies (catalog.formats, catalog.files.inspect_head), so that a file
a scan registers is a file the profiler reads. A file is never read whole here: at most HEAD bytes
(MAX_HEAD when the first line is longer), and a Parquet file's footer. ``read(offset, length)`` is
how the caller reads a byte range: a ranged GET for S3, ``os.pread`` for a folder.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ValidationError

from catalog import files, formats
from catalog.files import FileInfo
from catalog.formats import GZIP_MAGIC, PARQUET_MAGIC, FormatError

Read = Callable[[int, int], bytes]

HEAD = 64 * 1024
MAX_HEAD = files.HEAD_BYTES  # read when HEAD holds not even one whole line
MAX_FOOTER = 64 * 1024 * 1024  # a Parquet footer larger than this is not read in a scan


def inspect(read: Read, *, size: int, format: str, compression: str, filename: str) -> FileInfo:  # noqa: A002
    """What the file is, checked against what its name says (``format``, ``compression``), with its
    columns (names; types for Parquet). Raises FormatError with a message a person can act on."""
    if size <= 0:
        raise FormatError("The file is empty (0 bytes).")
    head = read(0, min(size, HEAD))
    if format == "parquet":
        return _parquet(read, head, size=size, compression=compression)
    return _text(read, head, size=size, format=format, compression=compression, filename=filename)


def _text(read: Read, head: bytes, *, size: int, format: str, compression: str, filename: str) -> FileInfo:  # noqa: A002
    formats.check_text_magic(head[:4], format=format, compression=compression)
    raw = head
    while True:
        text, complete = _gunzip(raw, complete=len(raw) >= size) if compression else (raw, len(raw) >= size)
        if complete or b"\n" in text or len(raw) >= min(size, MAX_HEAD):
            break
        raw = read(0, min(size, MAX_HEAD))  # a first line longer than HEAD (a very wide header)
    try:
        info = files.inspect_head(text, truncated=not complete, filename=filename, compression=compression)
    except ValidationError as exc:
        raise FormatError(exc.messages[0]) from None
    if format == "jsonl" and info.format != "jsonl":
        raise FormatError(
            "The name says JSON Lines, but the first line is not a JSON object (the file reads as "
            f"{info.format.upper()}): rename it, or write one JSON object per line."
        )
    if format != "jsonl" and info.format == "jsonl":
        raise FormatError(
            f"The name says {format.upper()}, but the file holds JSON Lines (one object per line): name it .jsonl."
        )
    return info


def _gunzip(raw: bytes, *, complete: bool) -> tuple[bytes, bool]:
    """The text the first bytes of a gzip file hold, at most MAX_HEAD of it → (text, the whole file
    was decompressed). ``complete``: ``raw`` is the whole file (a missing end is then an error)."""
    out: list[bytes] = []
    got, data = 0, raw
    try:
        while data and got < MAX_HEAD:
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            block = d.decompress(data, MAX_HEAD - got)
            out.append(block)
            got += len(block)
            if not d.eof:
                if complete and not d.unconsumed_tail and got < MAX_HEAD:
                    raise FormatError(
                        "The gzip file is truncated: it ends before the end of its compressed stream."
                    )
                return b"".join(out), False
            data = d.unused_data  # a next member (concatenated gzip), if any
    except zlib.error as exc:
        raise FormatError(f"The gzip data is corrupt: {exc}.") from None
    return b"".join(out), complete and not data


def _parquet(read: Read, head: bytes, *, size: int, compression: str) -> FileInfo:
    if compression:
        raise FormatError(
            "Parquet inside gzip cannot be read in place (Parquet compresses its own columns): store "
            "the .parquet file itself."
        )
    if head[:4] != PARQUET_MAGIC:
        raise FormatError(f"The name says Parquet, but the file is not Parquet: {_what(head)}")
    if size < 12:
        raise FormatError(f"The Parquet file is truncated: {size} bytes cannot hold a footer.")
    tail = head if size <= len(head) else read(size - HEAD, HEAD)
    if tail[-4:] != PARQUET_MAGIC:
        raise FormatError(
            "The Parquet file is truncated or damaged: it does not end with the magic bytes PAR1, as a "
            "whole Parquet file does (was it still being written?)."
        )
    length = int.from_bytes(tail[-8:-4], "little")
    if length > size - 12:
        raise FormatError(
            f"The Parquet file is damaged: its footer claims {length} bytes of a {size}-byte file."
        )
    if length > MAX_FOOTER:
        raise FormatError(
            f"The Parquet footer is {length} bytes, more than a scan reads ({MAX_FOOTER}): write the "
            "file with fewer row groups."
        )
    footer = tail[-length - 8 :] if length + 8 <= len(tail) else read(size - length - 8, length + 8)
    return parquet_footer(footer)


def parquet_footer(footer: bytes) -> FileInfo:
    """The columns of a Parquet file from its footer alone (metadata, 4-byte length, PAR1)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        metadata = pq.read_metadata(pa.BufferReader(PARQUET_MAGIC + footer))
        schema = metadata.schema.to_arrow_schema()
    except Exception as exc:  # pyarrow raises several types for a damaged footer
        raise FormatError(f"The Parquet footer cannot be read: {exc}.") from None
    limit = settings.GOUVERNAIL_MAX_COLUMNS
    if metadata.num_columns > limit:  # leaf columns, as upload counts them
        raise FormatError(formats.too_many_columns(metadata.num_columns, limit))
    columns: dict[str, dict] = {}
    for f in schema:
        columns.setdefault(f.name, {"name": f.name, "type": str(f.type)})
    return FileInfo(format="parquet", columns=list(columns.values()))


def _what(head: bytes) -> str:
    """What a file's first bytes look like, for a file that does not start as it should."""
    if head[:2] == GZIP_MAGIC:
        return "it is gzip-compressed data (name it .gz)."
    try:
        formats.refuse_known_binaries(head[:4])
    except FormatError as exc:
        return str(exc)
    sample = head[:4096]
    if sample and b"\x00" not in sample:
        try:
            sample.decode("utf-8")
            return "it starts as text (CSV or JSON Lines?), not with the magic bytes PAR1."
        except UnicodeDecodeError:
            pass
    return "it does not start with the magic bytes PAR1."
