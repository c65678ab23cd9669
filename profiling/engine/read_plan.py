"""How the profiler reads one file: the plan (format, widened column types, what reading noticed),
``Retype``, the signal to start reading again with a changed plan, and what every reader shares.

Column types are inferred by pyarrow from the first block; when a later block disagrees (a number
column that turns out to hold text, a column empty at first), the reader raises ``Retype`` and is
started again with that column widened (``apply_retype``).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from catalog.formats import is_utf8
from profiling.engine.location import Location, open_stream, read_head, read_tail
from profiling.engine.types import ProfileError

CSV_BLOCK = 4 * 1024 * 1024  # bytes per parsed block, CSV and JSON alike
MAX_RETYPES = 50
NEWLINES = "\x00newlines"  # Retype marker: re-read with quoted values allowed to span lines
RENAMED = "\x00renamed"  # Retype marker: the plan now renames repeated header names
MIXED_JSON = "mixed"  # read type of a JSON field whose values change type (read as text)
JSON_TEXT = "\x00jsontext:"  # Retype marker + fields: read these JSON fields as text
UINT64 = "\x00uint64:"  # Retype marker + fields: read these as uint64 (integers past 2**63)
NO_UINT64 = "\x00nouint64"  # Retype marker: a field read as uint64 holds something else, read as float
NO_DATES = "\x00nodates:"  # Retype marker + field: a JSON text field that looked like dates is not


class Retype(Exception):  # noqa: N818 -- a signal to restart, not an error people see
    """Reading must start again with a changed plan: a later block disagreed with a column's
    inferred type (``column`` and ``new_type``), or a marker (``NEWLINES``, ``RENAMED``...) says
    what else to change."""

    def __init__(self, column: str, new_type: pa.DataType | None, reason: str):
        super().__init__(reason)
        self.column = column
        self.new_type = new_type
        self.reason = reason


@dataclass
class ReadPlan:
    """How to read one file: format, widened column types so far, and what reading noticed."""

    path: str
    format: str
    compression: str = ""
    encoding: str = "utf-8"
    batch_rows: int = 65_536
    columns: list[str] | None = None
    column_types: dict[str, pa.DataType] = field(default_factory=dict)
    json_python_columns: set[str] | None = None  # set: read JSON with the slower, tolerant reader
    max_row_bytes: int = 16 * 1024 * 1024
    max_text_bytes: int | None = None  # decompressed text bytes a file may hold
    max_expansion: float | None = None  # decompressed bytes per gzip byte (past EXPANSION_GRACE)
    max_json_depth: int = 64
    depth_checked: bool = False  # every JSON Lines line is within max_json_depth (checked once)
    block_size: int = CSV_BLOCK  # bytes pyarrow parses at a time (and infers types from, first)
    skipped_rows: list[str] = field(default_factory=list)  # ragged CSV rows (first few kept)
    skipped_count: int = 0
    skipped_quoted: bool = False
    parsed_bytes: int = 0  # text bytes handed out as batches so far (block by block)
    text_dates: set[str] = field(default_factory=set)  # JSON text fields not to read as dates
    column_names: list[str] | None = None  # replaces a header that repeats names
    notes: list[str] = field(default_factory=list)  # what reading changed, for the warnings
    newlines_in_values: bool = False
    # Reading a file in cells (cells.py): every column's type as inferred once from the file's
    # first block (so that every cell is read alike), and the cell to read.
    schema_types: dict[str, pa.DataType] = field(default_factory=dict)
    byte_range: tuple[int, int] | None = None  # CSV: these bytes, after the header's
    header_end: int = 0  # CSV: bytes of the header record
    row_groups: list[int] | None = None  # Parquet: these row groups
    reader: str = ""
    progress_fraction: Callable[[], float] = lambda: 0.0
    # Where the bytes are (profiling.engine.location): ``path`` on ``filesystem`` (None: this
    # machine's disk), its ``size`` when known; ``location`` for partitioned datasets and tables.
    filesystem: Any = None
    size: int | None = None
    location: Any = None
    source_notes: dict[str, Any] = field(default_factory=dict)  # what reading the source changed
    dataset_schema: pa.Schema | None = None  # a partitioned dataset's columns, from its first part
    checked_paths: set[str] = field(default_factory=set)  # JSON Lines parts whose depth was checked

    @property
    def label(self) -> str:
        """The file as messages name it."""
        if self.location is not None and self.location.label and self.location.parts is None:
            return self.location.label
        return self.path

    def open_stream(self) -> pa.NativeFile:
        """The file's bytes from the start, sequentially (never decompressed here)."""
        if self.filesystem is None:
            return pa.OSFile(self.path, "r")
        return open_stream(self.filesystem, self.path)

    def head(self, n: int) -> bytes:
        if self.filesystem is None:
            with open(self.path, "rb") as fh:
                return fh.read(n)
        return read_head(self.filesystem, self.path, n)

    def tail(self, n: int) -> bytes:
        if self.filesystem is None:
            with open(self.path, "rb") as fh:
                fh.seek(0, 2)
                fh.seek(max(0, fh.tell() - n))
                return fh.read(n)
        return read_tail(self.filesystem, self.path, n)


def new_plan(
    source: Any,
    *,
    format: str = "",
    compression: str = "",
    encoding: str = "utf-8",
    **fields: Any,  # noqa: A002
) -> ReadPlan:
    """The plan for reading ``source``: a path on this machine's disk (with its format, compression
    and encoding), or a ``Location``, which carries its own."""
    if isinstance(source, Location):
        return ReadPlan(
            path=source.path,
            format=source.format,
            compression=source.compression or "",
            encoding=source.encoding or "utf-8",
            filesystem=source.filesystem,
            size=source.size,
            location=source,
            **fields,
        )
    return ReadPlan(
        path=str(source), format=format, compression=compression or "", encoding=encoding or "utf-8", **fields
    )


def apply_retype(plan: ReadPlan, retype: Retype) -> None:
    """Widen the plan after a ``Retype`` so that the next attempt reads further."""
    if retype.column == RENAMED:
        return
    if retype.column.startswith(JSON_TEXT):
        for name in retype.column[len(JSON_TEXT) :].split(","):
            # Read as text; the engine's own date check then finds which of them really are dates.
            plan.column_types[name] = pa.string()
        return
    if retype.column.startswith(UINT64):
        for name in retype.column[len(UINT64) :].split(","):
            plan.column_types[name] = pa.uint64()
        return
    if retype.column == NO_UINT64:
        for name, t in list(plan.column_types.items()):
            if pa.types.is_uint64(t):
                plan.column_types[name] = pa.float64()
        return
    if retype.column.startswith(NO_DATES):
        plan.text_dates.add(retype.column[len(NO_DATES) :])
        return
    if retype.column == NEWLINES:
        plan.newlines_in_values = True
        plan.skipped_count, plan.skipped_rows, plan.skipped_quoted = 0, [], False
        return
    if not retype.column:  # a row longer than the block: read bigger blocks
        plan.block_size *= 4
        return
    plan.skipped_count, plan.skipped_rows, plan.skipped_quoted = 0, [], False
    if plan.format == "jsonl":
        plan.json_python_columns = (plan.json_python_columns or set()) | {retype.column}
        return
    plan.column_types[retype.column] = retype.new_type or pa.string()


def check_big_integers(batch: pa.RecordBatch, plan: ReadPlan) -> None:
    """pyarrow's CSV and JSON readers infer int64 or float64, never uint64: integers past 2**63
    (hashed ids) come out as floats and collapse to a few values. When the first block's float
    column holds only whole numbers in 0..2**64 with some past 2**63, read it again as uint64 (a
    later value that is not one sends it back to float64 through the conversion error)."""
    big = []
    for f in batch.schema:
        if not pa.types.is_float64(f.type) or f.name in plan.column_types or f.name in plan.schema_types:
            continue
        col = batch.column(f.name)
        if col.null_count == len(col):
            continue
        mm = pc.min_max(col)
        lo, hi = mm["min"].as_py(), mm["max"].as_py()
        if lo is None or lo < 0 or not 2.0**63 <= hi <= 2.0**64:
            continue
        values = col.drop_null().to_numpy()
        if np.all(np.floor(values) == values):
            big.append(f.name)
    if big:
        raise Retype(UINT64 + ",".join(big), None, f"integers past 2**63 in {', '.join(big)}")


def not_utf8(column: str | None, plan: ReadPlan) -> ProfileError:
    where = f" in column {column}" if column else ""
    return ProfileError(
        f"The file holds bytes that are not valid {_enc_name(plan.encoding)}{where}. Re-save it as UTF-8 "
        "(or register it again so that its encoding is detected)."
    )


def _enc_name(encoding: str) -> str:
    return "UTF-8" if is_utf8(encoding) else encoding


def clean(error: object, limit: int = 300) -> str:
    """An error's text fit for people: printable characters only, and not too long (pyarrow quotes
    the offending row, which may be binary garbage or megabytes long)."""
    text = "".join(ch if ch.isprintable() else " " for ch in str(error))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
