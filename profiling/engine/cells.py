"""Cells: the pieces a file is read in, the same whether it is profiled in one pass or in parts.

A cell is a Parquet row group, or a byte range of an uncompressed CSV/TSV file that starts at a
true record start (the first cell holds the header; the others are read with the header's bytes
put in front of them). Parts are runs of whole cells, so a row belongs to the same cell and has the
same number within it however the file is split: (cell, row number) is a stable row id, which the
row sample keys on (sketches.RowSample), and one pass reads the same cells one after the other.
A file that cannot be cut (gzip, JSON Lines, a text encoding that is not ASCII-compatible, a file
smaller than a cell) is one cell.

Where a CSV record starts (a cell's first byte) is catalog.csv_cuts: pyarrow's quoting rules
followed over a window of bytes after each cut point.
"""

import codecs
import io
import os
from dataclasses import dataclass

import pyarrow.parquet as pq

from catalog.csv_cuts import cut_after

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
        header_end = cut_after(fh, skip, size, ord(delimiter), max_row_bytes, known=True)
        header_end = size if header_end is None else header_end
        cuts: list[int] = []
        last = header_end
        for point in range(cell_bytes, size, max(1, cell_bytes)):
            if point < last:
                continue
            cut = cut_after(fh, point, size, ord(delimiter), max_row_bytes, known=False)
            if cut is not None and last < cut < size:
                cuts.append(cut)
                last = cut
    bounds = [0, *cuts, size]
    cells = [Cell(i, bounds[i], bounds[i + 1], i << ID_BITS) for i in range(len(bounds) - 1)]
    return cells, header_end


def record_start_after(path: str, point: int, *, delimiter: str, max_row_bytes: int) -> int | None:
    """A true record start after byte ``point`` of a CSV/TSV file, or None (see catalog.csv_cuts.cut_after)."""
    size = os.path.getsize(path)
    if point >= size:
        return None
    with open(path, "rb", buffering=0) as fh:
        return cut_after(fh, max(1, point), size, ord(delimiter), max_row_bytes, known=False)


def _read(fh, offset: int, n: int) -> bytes:
    return os.pread(fh.fileno(), n, offset)


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
