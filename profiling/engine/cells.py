"""Cells: the pieces a file is read in, the same whether it is profiled in one pass or in parts.

A cell is a Parquet row group, or a byte range of an uncompressed CSV/TSV file that starts at a
true record start (the first cell holds the header; the others are read with the header's bytes
put in front of them). Parts are runs of whole cells, so a row belongs to the same cell and has the
same number within it however the file is split: (cell, row number) is a stable row id, which the
row sample keys on (sketches.RowSample), and one pass reads the same cells one after the other.
A file that cannot be cut (gzip, JSON Lines, a text encoding that is not ASCII-compatible, a file
smaller than a cell) is one cell.

Where a CSV record starts. A newline ends a record unless it is inside a quoted value, and whether
it is depends on everything before it. pyarrow's parser (arrow/csv/parser.cc) opens a quoted value
only with a quote at the start of a field (after a delimiter or a line end), takes "" inside one
as a quote, and ends it at a lone quote; a quote anywhere else (5'11") is a plain character. Over
the runs of consecutive quotes that makes three kinds of run:
- a run of even length changes nothing ("" is an empty value outside, an escaped quote inside);
- an odd run right after a delimiter or a line end flips inside/outside (it opens a value when
  outside, and closes one when inside: "a,"),
- any other odd run leaves the parser outside, whatever it was before (a closing quote after a
  value's text, or a literal quote in an unquoted value).
So the state is known after the first run of the third kind (a reset) past a cut point, and from
there on follows from the flips: the cut is the first newline after that reset found outside a
quoted value. That is a few vectorised numpy passes over a window of bytes (1 MiB, widened when
needed), not a scan from the file's start. With no quote at all within ``max_row_bytes`` after the
point, the point cannot be inside a quoted value (the record holding it would be longer than a row
may be), so the first newline is the cut; the same near the end of the file when there is no quote
from a row's length before the end. With quotes but no reset within that reach, the point is
left out and its cell joins the next one: fewer, bigger cells, never a wrong one.
"""

import codecs
import io
import os
from dataclasses import dataclass

import numpy as np
import pyarrow.parquet as pq

QUOTE, LF, CR = 0x22, 0x0A, 0x0D
WINDOW = 1 << 20  # bytes looked at first after a cut point
ID_BITS = 40  # a CSV cell's rows are numbered from cell << ID_BITS (a trillion rows per cell)
UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Cell:
    """One piece of the file: CSV bytes [start, end), or Parquet row groups [start, end)."""

    index: int
    start: int
    end: int
    first_id: int  # the row id of the cell's first row
    rows: int = 0  # Parquet: rows in the row group (CSV: unknown until read)

    def to_list(self) -> list[int]:
        return [self.index, self.start, self.end, self.first_id, self.rows]

    @classmethod
    def from_list(cls, values: list[int]) -> "Cell":
        return cls(*(int(v) for v in values))


def splittable_encoding(encoding: str) -> bool:
    """Whether quotes, delimiters and newlines are single bytes that no other character contains
    (UTF-8 and the one-byte or ASCII-compatible code pages; not UTF-16 or UTF-32)."""
    try:
        name = codecs.lookup(encoding or "utf-8").name
    except LookupError:
        return False
    return (
        not name.startswith(("utf-16", "utf-32", "utf_16", "utf_32"))
        and '\n,\t"'.encode(name, errors="replace") == b'\n,\t"'
    )


def parquet_cells(path: str) -> list[Cell]:
    """One cell per row group, the row ids being row numbers in the file."""
    meta = pq.ParquetFile(path).metadata
    cells, offset = [], 0
    for i in range(meta.num_row_groups):
        rows = meta.row_group(i).num_rows
        cells.append(Cell(i, i, i + 1, offset, rows))
        offset += rows
    return cells


def csv_cells(path: str, *, delimiter: str, cell_bytes: int, max_row_bytes: int) -> tuple[list[Cell], int]:
    """The cells of an uncompressed CSV/TSV file, cut near every ``cell_bytes`` at true record
    starts → (cells, bytes of the header record). One cell when the file is small."""
    size = os.path.getsize(path)
    with open(path, "rb", buffering=0) as fh:
        head = _read(fh, 0, 3)
        skip = 3 if head == UTF8_BOM else 0
        header_end = _cut_after(fh, skip, size, ord(delimiter), max_row_bytes, known=True)
        header_end = size if header_end is None else header_end
        cuts: list[int] = []
        last = header_end
        for point in range(cell_bytes, size, max(1, cell_bytes)):
            if point < last:
                continue
            cut = _cut_after(fh, point, size, ord(delimiter), max_row_bytes, known=False)
            if cut is not None and last < cut < size:
                cuts.append(cut)
                last = cut
    bounds = [0, *cuts, size]
    cells = [Cell(i, bounds[i], bounds[i + 1], i << ID_BITS) for i in range(len(bounds) - 1)]
    return cells, header_end


def record_start_after(path: str, point: int, *, delimiter: str, max_row_bytes: int) -> int | None:
    """A true record start after byte ``point`` of a CSV/TSV file, or None (see _cut_after)."""
    size = os.path.getsize(path)
    if point >= size:
        return None
    with open(path, "rb", buffering=0) as fh:
        return _cut_after(fh, max(1, point), size, ord(delimiter), max_row_bytes, known=False)


def _read(fh, offset: int, n: int) -> bytes:
    return os.pread(fh.fileno(), n, offset)


def _cut_after(fh, point: int, size: int, delimiter: int, max_row_bytes: int, *, known: bool) -> int | None:
    """A true record start after byte ``point`` (the first one after a reset, see the module's
    docstring), or None when there is none to be sure of. ``known``: the parser is outside a
    quoted value at ``point``, at the start of a field (the file's start)."""
    window = WINDOW
    prev = LF if known else _read(fh, point - 1, 1)[0]
    while True:
        end = min(size, point + window)
        data = np.frombuffer(_read(fh, point, end - point), dtype=np.uint8)
        reach = end - point >= max_row_bytes
        if end == size and not reach and not known and not (data == QUOTE).any():
            # No quote from here to the end: inside a quoted value only if one opened before
            # and never closed, within a row's length of the end.
            lo = max(0, size - max_row_bytes)
            reach = b'"' not in _read(fh, lo, point - lo)
        final = reach or end == size
        cut = cut_in_window(data, prev, delimiter, known=known, final=final, reach=reach)
        if cut is not None:
            return point + cut if cut >= 0 else None
        if final:
            return None
        window *= 4


def cut_in_window(
    data: np.ndarray, prev: int, delimiter: int, *, known: bool, final: bool, reach: bool = False
) -> int | None:
    """Offset in ``data`` of a true record start, -1 when ``data`` (final: all there is to look at)
    has none that can be established, None when more bytes are needed. ``prev`` is the byte before
    ``data``; ``reach``: ``data`` is as long as a row may be."""
    quotes = np.flatnonzero(data == QUOTE)
    if len(quotes) == 0:
        if known or reach:
            return _first_newline(data, 0, final)
        # Could be inside a quoted value that goes on (to the end of the file, if unclosed).
        return -1 if final else None
    run_mask = np.ones(len(quotes), dtype=bool)
    run_mask[1:] = np.diff(quotes) != 1
    run_first = np.flatnonzero(run_mask)
    starts = quotes[run_first]
    lengths = np.diff(np.append(run_first, len(quotes)))
    before = np.where(starts > 0, data[np.maximum(starts - 1, 0)], prev)
    opening = (before == delimiter) | (before == LF) | (before == CR)
    odd = (lengths & 1) == 1
    reset = odd & ~opening
    if prev == QUOTE and starts[0] == 0 and not known:
        reset[0] = False  # a run cut by the window's start: its length, so its kind, is unknown
    flip = (odd & opening).astype(np.int64)
    if known:
        r0, after = -1, 0
    else:
        if not reset.any():
            return -1 if final else None
        r0 = int(np.argmax(reset))
        after = int(starts[r0] + lengths[r0])
    # Inside (1) or outside (0) after each run: the flips since the last reset (or the start).
    flips = np.cumsum(flip)
    last_reset = np.maximum.accumulate(np.where(reset, np.arange(len(reset)), -1))
    base = np.where(last_reset >= 0, flips[np.maximum(last_reset, 0)], 0)
    inside = (flips - base) & 1
    newlines = np.flatnonzero(data[after:] == LF) + after
    if len(newlines) == 0:
        return -1 if final else None
    run = np.searchsorted(starts, newlines, side="right") - 1  # the last run before each newline
    state = np.where(run >= 0, inside[np.maximum(run, 0)], 0)
    outside = np.flatnonzero(state == 0)
    if len(outside) == 0:
        return -1 if final else None
    return int(newlines[outside[0]]) + 1


def _first_newline(data: np.ndarray, start: int, final: bool) -> int | None:
    newlines = np.flatnonzero(data[start:] == LF)
    if len(newlines) == 0:
        return -1 if final else None
    return int(newlines[0]) + start + 1


class CellFile(io.RawIOBase):
    """A CSV cell as a file for pyarrow: the header record's bytes, then the cell's bytes
    (the first cell, which starts at 0, holds the header already)."""

    def __init__(self, path: str, header_end: int, start: int, end: int):
        super().__init__()
        self._fh = open(path, "rb", buffering=0)  # noqa: SIM115 -- closed by close()
        self._header = memoryview(_read(self._fh, 0, header_end) if start > 0 else b"")
        self._pos, self._end = start, end

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        if len(self._header):
            n = min(len(view), len(self._header))
            view[:n] = self._header[:n]
            self._header = self._header[n:]
            return n
        n = min(len(view), self._end - self._pos)
        if n <= 0:
            return 0
        got = os.preadv(self._fh.fileno(), [view[:n]], self._pos)
        self._pos += got
        return got

    def close(self) -> None:
        self._fh.close()
        super().close()
