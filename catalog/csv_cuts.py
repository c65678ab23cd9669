"""Where a CSV record starts: a point in a file's bytes from which the rest can be parsed apart
from what comes before (the profiler's cells, registration's check in two halves).

A newline ends a record unless it is inside a quoted value, and whether
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

import os

import numpy as np

QUOTE, LF, CR = 0x22, 0x0A, 0x0D
WINDOW = 1 << 20  # bytes looked at first after a cut point


def _read(fh, offset: int, n: int) -> bytes:
    return os.pread(fh.fileno(), n, offset)


def cut_after(fh, point: int, size: int, delimiter: int, max_row_bytes: int, *, known: bool) -> int | None:
    """A true record start after byte ``point`` of the file ``fh`` (of ``size`` bytes, read with
    os.pread: its position is left alone), the first one after a reset (see the module's
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
