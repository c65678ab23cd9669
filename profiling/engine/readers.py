"""Streaming readers: a dataset file in, ``pyarrow.RecordBatch`` es out, never the whole file in memory.

``stream`` makes one attempt at reading a file by its plan (read_plan.py) with the reader of its
format: CSV and TSV through ``pyarrow.csv.open_csv`` (csv_reader.py; chosen over DuckDB's streaming
reader for speed, docs/benchmarks.md), JSON Lines through ``pyarrow.json.open_json`` (json_reader.py),
Parquet through ``ParquetFile.iter_batches`` (parquet_reader.py). What a readable file is, the
upload's rules as well, is catalog.formats. When a later block disagrees with the types inferred
from the first, the reader is restarted with that column widened (``Retype``). Profiling restarts
its whole pass, so its figures always come from one consistent schema; ``iter_batches`` resumes
after the rows it has already yielded (see its docstring).
"""

import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from queue import Queue

import pyarrow as pa

from catalog.formats import (
    MAX_JSON_DEPTH,
    DepthScan,
    FormatError,
    check_expansion,
    check_format,
    check_text_magic,
    gunzip_blocks,
)
from profiling.engine.cells import CellFile
from profiling.engine.cores import usable
from profiling.engine.csv_reader import csv_batches
from profiling.engine.dataset_reader import partitioned_batches, partitioned_names
from profiling.engine.json_reader import CountingFile, json_batches, json_python_batches
from profiling.engine.location import Location, file_size
from profiling.engine.parquet_reader import parquet_batches, parquet_schema
from profiling.engine.read_plan import (
    CSV_BLOCK,
    MAX_RETYPES,
    MIXED_JSON,
    ReadPlan,
    Retype,
    apply_retype,
    clean,
    new_plan,
    not_utf8,
)
from profiling.engine.table_reader import table_batches
from profiling.engine.types import ProfileError

# Batches read ahead of the statistics from an object store or a database: about one run of row
# groups of a 10 M-row file, so that the next run is fetched while the current one is profiled.
READ_AHEAD_BYTES = 192 * 1024 * 1024


def _check_args(plan: ReadPlan) -> int:
    try:
        check_format(plan.format, plan.compression)
    except FormatError as exc:
        raise ProfileError(str(exc)) from None
    if plan.filesystem is not None:
        size = file_size(plan.filesystem, plan.path, plan.size)
        if size is None:
            raise ProfileError(f"The object {plan.label} does not exist (or is a folder).")
        return size
    p = Path(plan.path)
    if not p.is_file():
        raise ProfileError(f"The file {plan.path} does not exist or is not a regular file.")
    return p.stat().st_size


def stream(plan: ReadPlan) -> Iterator[pa.RecordBatch]:
    """One attempt at reading the data per ``plan``; may raise ``Retype`` or ``ProfileError``.

    A file (on disk or an object store), the parts of a partitioned dataset, or a table."""
    location = plan.location
    if location is not None and location.table is not None:
        yield from table_batches(plan)
    elif location is not None and location.parts is not None:
        yield from partitioned_batches(plan, file_batches)
    else:
        yield from file_batches(plan)


def file_batches(plan: ReadPlan) -> Iterator[pa.RecordBatch]:
    """One attempt at reading one file (``plan.path`` on ``plan.filesystem``)."""
    size = _check_args(plan)
    if plan.format == "parquet":
        plan.reader = "pyarrow.parquet.ParquetFile.iter_batches"
        yield from parquet_batches(plan)
        return
    _check_magic(plan)
    if plan.format == "jsonl" and not plan.depth_checked:
        check_json_lines(plan, size)
    python_json = plan.format == "jsonl" and plan.json_python_columns is not None
    if plan.byte_range is not None:  # one cell of a CSV file on this disk (cells.py)
        handle = CellFile(plan.path, plan.header_end, *plan.byte_range)
        size = plan.byte_range[1] - plan.byte_range[0]
    elif python_json:
        handle = CountingFile(plan.path if plan.filesystem is None else plan.open_stream())
    else:
        handle = plan.open_stream()

    # pyarrow reads far ahead of the batches it has parsed (about 100 MB), so the file position
    # says little; progress counts the blocks parsed against the text's size instead.
    plan.parsed_bytes = 0
    total = _text_size(plan, size) if plan.compression == "gzip" else size

    def fraction() -> float:
        if python_json:
            done = handle.read_bytes
        else:
            done = plan.parsed_bytes
        return min(done / total, 0.99) if total else 0.0

    plan.progress_fraction = fraction
    source = None
    try:
        if plan.format in ("csv", "tsv"):
            plan.reader = "pyarrow.csv.open_csv"
            source = csv_batches(plan, handle)
        elif python_json:
            plan.reader = "json (line by line, fields that change type read as text)"
            source = json_python_batches(plan, handle)
        else:
            plan.reader = "pyarrow.json.open_json"
            source = json_batches(plan, handle)
        try:
            for batch in source:
                # Hand out at most batch_rows at a time: the block size, not the row count, sets
                # how big pyarrow's batches are.
                if plan.compression == "gzip":
                    _check_expansion(plan, plan.parsed_bytes, size)
                if batch.num_rows > plan.batch_rows:
                    for start in range(0, batch.num_rows, plan.batch_rows):
                        yield batch.slice(start, plan.batch_rows)
                else:
                    yield batch
        except pa.ArrowInvalid as exc:
            raise ProfileError(f"The file cannot be read as {plan.format}: {clean(exc)}") from exc
        except UnicodeDecodeError as exc:
            raise not_utf8(None, plan) from exc
        except OSError as exc:
            # Damaged compressed data is the file's fault, not a passing I/O error (which the
            # job retries): say so once and for all.
            text = str(exc).lower()
            if any(w in text for w in ("compress", "inflate", "gzip", "zlib", "truncated", "deflate")):
                raise ProfileError(f"The compressed data of the file is damaged: {clean(exc)}.") from exc
            raise
    except StopIteration:
        return
    finally:
        if source is not None:
            source.close()  # closes pyarrow's reader before the file under it
        handle.close()


def threaded(
    source: Iterator[pa.RecordBatch], depth: int = 3, *, ahead_bytes: int = 0
) -> Iterator[pa.RecordBatch]:
    """Parse in a helper thread while the caller computes on the previous batch (pyarrow releases
    the GIL while parsing, so the two overlap on two cores). Exceptions are re-raised here.

    At most ``depth`` batches wait; with ``ahead_bytes``, as many as fit in that many bytes
    instead (data read over a network: the next row groups are fetched while the caller computes
    on the current ones, rather than after).

    A process that may run on one core only (a worker pinned to its core) reads a local file in
    the caller's thread: there the helper would only take turns with it (measured on 5M rows of
    the 10M-row reference Parquet file: 7.35 → 6.83 s and 8.27 → 7.87 s, docs/benchmarks.md)."""
    if not ahead_bytes and usable() < 2:
        yield from source
        return
    queue: Queue = Queue(maxsize=0 if ahead_bytes else depth)
    budget = _Budget(ahead_bytes)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for item in source:
                if stop.is_set():
                    break
                budget.take(item.nbytes, stop)
                queue.put(("batch", item))
            queue.put(("end", done))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            queue.put(("error", exc))

    worker = threading.Thread(target=produce, name="profile-reader", daemon=True)
    worker.start()
    try:
        while True:
            kind, item = queue.get()
            if kind == "batch":
                budget.give(item.nbytes)
                yield item
            elif kind == "error":
                raise item
            else:
                return
    finally:
        stop.set()
        budget.give(0)
        # Drain so that a blocked producer can see ``stop`` and finish.
        while worker.is_alive():
            while not queue.empty():
                queue.get_nowait()
            worker.join(timeout=0.05)


class _Budget:
    """Bytes of batches waiting in ``threaded``'s queue, bounded (0: no bound, the queue's depth is)."""

    def __init__(self, limit: int) -> None:
        self.limit, self.used = limit, 0
        self.changed = threading.Condition()

    def take(self, n: int, stop: threading.Event) -> None:
        if not self.limit:
            return
        with self.changed:
            # One batch always fits, however big: the reader never waits for an empty queue.
            while self.used and self.used + n > self.limit and not stop.is_set():
                self.changed.wait(0.1)
            self.used += n

    def give(self, n: int) -> None:
        if not self.limit:
            return
        with self.changed:
            self.used = max(0, self.used - n)
            self.changed.notify_all()


def read_ahead(plan: ReadPlan) -> int:
    """Bytes of batches to read ahead of the statistics: some for data that comes over a network
    (an object store, a database), none (the queue's few batches) for a file on this disk."""
    location = plan.location
    remote = plan.filesystem is not None or (location is not None and location.table is not None)
    return READ_AHEAD_BYTES if remote else 0


def flatten(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Struct columns become one column per field, named parent.child (recursively)."""
    if not any(pa.types.is_struct(f.type) for f in batch.schema):
        return batch
    table = pa.Table.from_batches([batch])
    while any(pa.types.is_struct(f.type) for f in table.schema):
        table = table.flatten()
    if table.num_rows == 0:
        return pa.RecordBatch.from_pylist([], schema=table.schema)
    return table.combine_chunks().to_batches()[0]


def iter_batches(
    path: "str | Location",
    *,
    format: str = "",
    compression: str = "",
    encoding: str = "utf-8",
    batch_rows: int = 65_536,
    columns: list[str] | None = None,
    column_types: dict[str, str | pa.DataType] | None = None,
    block_bytes: int = CSV_BLOCK,
    max_json_depth: int = MAX_JSON_DEPTH,
) -> Iterator[pa.RecordBatch]:
    """Stream the file (csv|tsv|parquet|jsonl, gzip or not) in batches; raise ProfileError on unreadable data.

    ``path`` is a file on this machine's disk, or a ``Location`` (an object on S3, a partitioned
    dataset, a PostgreSQL table: profiling.engine.location), whose format, compression and
    encoding then replace the keyword arguments.

    Nested records (Parquet structs, JSON objects) come flattened into ``parent.child`` columns, the
    names ``profile_file`` reports; ``columns`` selects among those names. Types are inferred from
    the first block. If a later block disagrees, reading restarts with the column widened and
    resumes after the rows already yielded, so the later batches carry the wider type for that
    column. Pass ``column_types`` (``ProfileResult.method["read_types"]`` of a finished profile) to
    get one consistent schema from the first batch on.
    """
    wanted = list(columns) if columns else None
    types = parse_types(column_types or {})
    plan = new_plan(
        path,
        format=format,
        compression=compression,
        encoding=encoding,
        batch_rows=max(1, int(batch_rows)),
        column_types=types,
        block_size=max(4096, int(block_bytes)),
        max_json_depth=max_json_depth,
    )
    mixed = {n for n, t in (column_types or {}).items() if t == MIXED_JSON}
    if plan.format == "jsonl" and mixed:
        # Fields whose JSON values change type need the line-by-line reader.
        plan.json_python_columns = mixed
    if wanted and plan.format in ("csv", "tsv", "table"):
        plan.columns = wanted
    elif wanted and plan.format == "parquet":
        top = _top_names(plan)
        plan.columns = [n for n in top if n in wanted or any(w.startswith(n + ".") for w in wanted)]
    yield from _coalesce(_resumable(plan, wanted), plan.batch_rows)


def _resumable(plan: ReadPlan, wanted: list[str] | None) -> Iterator[pa.RecordBatch]:
    """Batches of the file, restarting after a ``Retype`` and skipping the rows already handed out."""
    yielded = 0
    for _attempt in range(MAX_RETYPES):
        skip = yielded
        try:
            for raw in threaded(stream(plan), ahead_bytes=read_ahead(plan)):
                batch = flatten(raw)
                if wanted and batch.schema.names != wanted:
                    batch = batch.select([c for c in wanted if c in batch.schema.names])
                if skip:
                    if batch.num_rows <= skip:
                        skip -= batch.num_rows
                        continue
                    batch = batch.slice(skip)
                    skip = 0
                yielded += batch.num_rows
                yield batch
            return
        except Retype as retype:
            apply_retype(plan, retype)
    raise ProfileError("The column types of the file keep changing while it is read; it cannot be profiled.")


def _coalesce(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """Join pyarrow's block-sized batches into batches of ``rows`` rows (the last may be shorter),
    so that a consumer with a per-batch cost (GX) sees as few batches as it asked for."""
    pending: list[pa.RecordBatch] = []
    count = 0

    def joined() -> pa.RecordBatch:
        if len(pending) == 1:
            return pending[0]
        return pa.Table.from_batches(pending).combine_chunks().to_batches(max_chunksize=None)[0]

    for batch in batches:
        if pending and batch.schema != pending[0].schema:  # a widened column after a restart
            yield joined()
            pending, count = [], 0
        pending.append(batch)
        count += batch.num_rows
        while count >= rows:
            whole = joined()
            yield whole.slice(0, rows)
            rest = whole.slice(rows)
            pending, count = ([rest] if rest.num_rows else []), rest.num_rows
    if pending and count:
        yield joined()
    elif pending:
        yield pending[0]  # no rows at all: still the schema


_TYPE_NAMES = {
    "int64": pa.int64(),
    "uint64": pa.uint64(),
    "float64": pa.float64(),
    "double": pa.float64(),
    "string": pa.string(),
    "bool": pa.bool_(),
}


def parse_types(types: dict[str, str | pa.DataType]) -> dict[str, pa.DataType]:
    out: dict[str, pa.DataType] = {}
    for name, t in types.items():
        if isinstance(t, pa.DataType):
            out[name] = t
        elif t in _TYPE_NAMES:
            out[name] = _TYPE_NAMES[t]
    return out


def _text_size(plan: ReadPlan, compressed_size: int) -> int:
    """The uncompressed size of a gzip file from its trailer (ISIZE, the size modulo 2**32);
    when that cannot be right (a file over 4 GiB of text), a guess of 4 x the compressed size."""
    try:
        isize = int.from_bytes(plan.tail(4), "little")
    except OSError:
        return 4 * compressed_size
    return isize if isize >= compressed_size else 4 * compressed_size


def _check_expansion(plan: ReadPlan, text_bytes: int, size: int) -> None:
    try:
        check_expansion(text_bytes, size, max_bytes=plan.max_text_bytes, max_ratio=plan.max_expansion)
    except FormatError as exc:
        raise ProfileError(str(exc)) from None


def check_json_lines(plan: ReadPlan, size: int) -> None:
    """Read a JSON Lines file once before pyarrow does: every line nested at most
    ``plan.max_json_depth`` levels deep (pyarrow's parser would crash the process on one a few
    thousand levels deep) and no longer than ``plan.max_row_bytes``; a gzip file within the limits
    on its decompressed size, counted exactly here."""
    scan = DepthScan(plan.max_json_depth, max_line=plan.max_row_bytes)
    text_bytes = 0
    try:
        with _binary(plan) as fh:
            blocks = gunzip_blocks(fh) if plan.compression == "gzip" else iter(lambda: fh.read(1 << 20), b"")
            for block in blocks:
                text_bytes += len(block)
                if plan.compression == "gzip":
                    _check_expansion(plan, text_bytes, size)
                scan.feed(block)
        scan.close()
    except FormatError as exc:
        raise ProfileError(str(exc)) from None
    except zlib.error as exc:
        raise ProfileError(f"The compressed data of the file is damaged: {clean(exc)}.") from exc
    plan.depth_checked = True


def _check_magic(plan: ReadPlan) -> None:
    """Refuse early, and clearly, a file whose first bytes say it is something else."""
    magic = plan.head(4)
    try:
        check_text_magic(magic, format=plan.format, compression=plan.compression)
    except FormatError as exc:
        raise ProfileError(str(exc)) from None


def _binary(plan: ReadPlan):
    """The file's bytes as a binary file object (Python's own for a file on disk)."""
    return open(plan.path, "rb") if plan.filesystem is None else plan.open_stream()  # noqa: SIM115


def _top_names(plan: ReadPlan) -> list[str]:
    """The top-level column names of a Parquet dataset (a partitioned one: with its partition
    columns), for selecting columns by their flattened names."""
    location = plan.location
    if location is not None and location.parts is not None:
        return partitioned_names(plan)
    _check_args(plan)
    return parquet_schema(plan).names
