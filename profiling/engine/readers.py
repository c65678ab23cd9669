"""Streaming readers: a dataset file in, ``pyarrow.RecordBatch`` es out, never the whole file in memory.

CSV and TSV go through ``pyarrow.csv.open_csv`` (measured faster than DuckDB's streaming reader on
this machine, see docs/benchmarks.md), JSON Lines through ``pyarrow.json.open_json``, Parquet
through ``ParquetFile.iter_batches``. Column types are inferred by pyarrow from the first block;
when a later block disagrees (a number column that turns out to hold text, a column empty at first),
the reader is restarted with that column widened (``Retype``). Profiling restarts its whole pass, so
its figures always come from one consistent schema; ``iter_batches`` resumes after the rows it has
already yielded (see its docstring).
"""

import codecs
import gzip
import io
import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from queue import Queue

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from profiling.engine.types import ProfileError

FORMATS = ("csv", "tsv", "parquet", "jsonl")
CSV_BLOCK = 4 * 1024 * 1024  # bytes per parsed block, CSV and JSON alike
MAX_RETYPES = 50
# What a damaged Parquet file makes pyarrow raise. Narrow on purpose: an exception raised by a
# signal handler (Celery's soft time limit) must go through, not become "cannot be read".
PARQUET_ERRORS = (
    pa.ArrowInvalid,
    pa.ArrowIOError,
    pa.ArrowNotImplementedError,
    OSError,
    ValueError,
    TypeError,
)
NEWLINES = "\x00newlines"  # Retype marker: re-read with quoted values allowed to span lines
RENAMED = "\x00renamed"  # Retype marker: the plan now renames repeated header names
MIXED_JSON = "mixed"  # read type of a JSON field whose values change type (read as text)
JSON_TEXT = "\x00jsontext:"  # Retype marker + fields: read these JSON fields as text
UINT64 = "\x00uint64:"  # Retype marker + fields: read these as uint64 (integers past 2**63)
NO_UINT64 = "\x00nouint64"  # Retype marker: a field read as uint64 holds something else, read as float
NO_DATES = "\x00nodates:"  # Retype marker + field: a JSON text field that looked like dates is not
# pyarrow's message when a value does not fit the type it inferred from the first block.
_CSV_CONVERSION = re.compile(
    r"In CSV column #(\d+): (?:Row #\d+: )?CSV conversion error to (\w+)[^']*'(.*)'", re.S
)
_JSON_CHANGED = re.compile(r"Column\(([^)]*)\) changed from (\w+) to (\w+)")
_INT_RE = re.compile(r"^\s*[-+]?\d+\s*$")
_FLOAT_RE = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$|^\s*[-+]?(inf|nan)\s*$", re.I)


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
    block_size: int = CSV_BLOCK  # bytes pyarrow parses at a time (and infers types from, first)
    skipped_rows: list[str] = field(default_factory=list)  # ragged CSV rows (first few kept)
    skipped_count: int = 0
    skipped_quoted: bool = False
    parsed_bytes: int = 0  # text bytes handed out as batches so far (block by block)
    text_dates: set[str] = field(default_factory=set)  # JSON text fields not to read as dates
    column_names: list[str] | None = None  # replaces a header that repeats names
    notes: list[str] = field(default_factory=list)  # what reading changed, for the warnings
    newlines_in_values: bool = False
    reader: str = ""
    progress_fraction: Callable[[], float] = lambda: 0.0


class _CountingFile(io.RawIOBase):
    """A read-only binary file that counts the bytes read from disk, for progress by bytes."""

    def __init__(self, path: str):
        self._fh = open(path, "rb")  # noqa: SIM115 -- closed by close()
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self._fh.readinto(buffer)
        self.read_bytes += n or 0
        return n

    def close(self) -> None:
        self._fh.close()
        super().close()


def _check_args(path: str, format: str, compression: str) -> int:
    if format not in FORMATS:
        raise ProfileError(f"Unknown format '{format}'; expected one of {', '.join(FORMATS)}.")
    if compression not in ("", "gzip"):
        raise ProfileError(f"Unknown compression '{compression}'; expected 'gzip' or none.")
    p = Path(path)
    if not p.is_file():
        raise ProfileError(f"The file {path} does not exist or is not a regular file.")
    return p.stat().st_size


def _text_stream(plan: ReadPlan, native: pa.NativeFile) -> pa.NativeFile:
    # A native file, not a Python one: pyarrow's I/O threads then never wait for the GIL (a
    # Python file left mid-read by a failed attempt could hang the interpreter at exit).
    stream: pa.NativeFile = native
    if plan.compression == "gzip":
        stream = pa.CompressedInputStream(stream, "gzip")
    return stream


def _csv_batches(plan: ReadPlan, native: pa.NativeFile) -> Iterator[pa.RecordBatch]:
    stream = _text_stream(plan, native)

    def on_invalid(row) -> str:
        # Ragged rows are skipped and counted rather than failing a whole profile.
        plan.skipped_count += 1
        if '"' in (row.text or ""):
            plan.skipped_quoted = True
        if len(plan.skipped_rows) < 5:
            plan.skipped_rows.append(f"expected {row.expected_columns} fields, got {row.actual_columns}")
        return "skip"

    encoding = plan.encoding or "utf-8"
    try:
        codecs.lookup(encoding)
    except LookupError as exc:
        raise ProfileError(f"Unknown text encoding '{encoding}'.") from exc
    read_options = pacsv.ReadOptions(
        block_size=plan.block_size,
        use_threads=True,
        encoding="utf8" if encoding.lower() in ("utf-8", "utf8") else encoding,
        # Renamed columns (a header that repeats a name) replace the header row.
        column_names=plan.column_names,
        skip_rows=1 if plan.column_names else 0,
    )
    parse_options = pacsv.ParseOptions(
        delimiter="\t" if plan.format == "tsv" else ",",
        invalid_row_handler=on_invalid,
        # Off by default (it slows pyarrow's parallel parsing); turned on by a restart when a
        # ragged row holds a quote, i.e. a quoted value probably spans lines.
        newlines_in_values=plan.newlines_in_values,
    )
    convert_options = pacsv.ConvertOptions(
        column_types=plan.column_types or None,
        strings_can_be_null=True,
        include_columns=plan.columns or None,
    )
    try:
        reader = pacsv.open_csv(
            stream, read_options=read_options, parse_options=parse_options, convert_options=convert_options
        )
    except pa.ArrowKeyError as exc:  # a selected column is not in the header (as it is)
        names = _csv_header(plan, read_options, parse_options)
        if len(set(names)) < len(names) and not plan.column_names:
            plan.column_names = _dedupe(names)
            raise Retype(RENAMED, None, "the header repeats column names") from exc
        raise ProfileError(f"A selected column is not in the file: {_clean(exc)}") from exc
    except pa.ArrowInvalid as exc:
        if "Empty CSV" in str(exc):
            raise ProfileError("The file is empty: it has no header row.") from exc
        raise _csv_error(exc, plan.column_names or [], plan) from exc
    names = reader.schema.names
    if plan.columns:
        # pyarrow's errors number columns as in the file, not as selected: read the header too.
        names = _csv_header(plan, read_options, parse_options)
    _check_header(names)
    if len(set(names)) < len(names) and not plan.column_names:
        plan.column_names = _dedupe(names)
        raise Retype(RENAMED, None, "the header repeats column names")
    if plan.column_names and not plan.notes:
        original = _csv_header(plan, pacsv.ReadOptions(encoding=read_options.encoding), parse_options)
        renamed = [f"{a} -> {b}" for a, b in zip(original, plan.column_names, strict=False) if a != b]
        plan.notes.append(f"The header repeats column names; renamed {', '.join(renamed)}.")
    try:
        yielded = False
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                if not yielded:  # a header and no rows: still a schema
                    yield pa.RecordBatch.from_pylist([], schema=reader.schema)
                return
            except pa.ArrowInvalid as exc:
                raise _csv_error(exc, names, plan) from exc
            if plan.skipped_quoted and not plan.newlines_in_values:
                raise Retype(NEWLINES, None, "a quoted value spans lines")
            binary = [
                f.name for f in batch.schema if pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type)
            ]
            if binary:
                # pyarrow reads text that is not valid in the encoding as raw bytes.
                raise _not_utf8(binary[0], plan)
            if not yielded:
                _check_big_integers(batch, plan)
            yielded = True
            plan.parsed_bytes += plan.block_size
            yield batch
    finally:
        reader.close()


def _check_big_integers(batch: pa.RecordBatch, plan: ReadPlan) -> None:
    """pyarrow's CSV and JSON readers infer int64 or float64, never uint64: integers past 2**63
    (hashed ids) come out as floats and collapse to a few values. When the first block's float
    column holds only whole numbers in 0..2**64 with some past 2**63, read it again as uint64 (a
    later value that is not one sends it back to float64 through the conversion error)."""
    big = []
    for f in batch.schema:
        if not pa.types.is_float64(f.type) or f.name in plan.column_types:
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


def _csv_header(plan: ReadPlan, read_options, parse_options) -> list[str]:
    with pa.OSFile(plan.path, "r") as native:
        reader = pacsv.open_csv(
            _text_stream(plan, native), read_options=read_options, parse_options=parse_options
        )
        try:
            return reader.schema.names
        finally:
            reader.close()


def _dedupe(names: list[str]) -> list[str]:
    """Repeated names get _2, _3... (skipping names the header already has)."""
    taken = set(names)
    seen: set[str] = set()
    out = []
    for name in names:
        if name in seen:
            k = 2
            while f"{name}_{k}" in taken:
                k += 1
            new = f"{name}_{k}"
            taken.add(new)
            out.append(new)
        else:
            seen.add(name)
            out.append(name)
    return out


def _check_header(names: list[str]) -> None:
    if not names or (len(names) == 1 and not names[0].strip()):
        raise ProfileError("The file has no header row.")


def _widen(target: str, value: str) -> pa.DataType:
    """The type a column should be re-read as, given the value that did not fit its inferred type."""
    if target in ("null",):
        if _INT_RE.match(value):
            return pa.int64()
        if _FLOAT_RE.match(value):
            return pa.float64()
        return pa.string()
    if target == "int64" and _INT_RE.match(value) and 0 <= int(value) < 2**64:
        return pa.uint64()  # an id past 2**63 after smaller ones: still an integer column
    if target.startswith(("int", "uint")) and _FLOAT_RE.match(value):
        return pa.float64()
    return pa.string()


def _csv_error(exc: Exception, names: list[str], plan: ReadPlan) -> Exception:
    msg = str(exc)
    m = _CSV_CONVERSION.search(msg)
    if m:
        index, target, value = int(m.group(1)), m.group(2), m.group(3)
        if target == "string":  # "invalid UTF8 data"
            return _not_utf8(names[index], plan)
        name = names[index] if index < len(names) else f"#{index}"
        return Retype(
            name, _widen(target, value), f"column {name} holds '{value[:40]}' after values read as {target}"
        )
    if "invalid UTF8" in msg or "UTF8" in msg:
        return _not_utf8(None, plan)
    if "newlines_in_values" in msg and not plan.newlines_in_values:
        return Retype(NEWLINES, None, "a quoted value spans lines")
    if "straddl" in msg or "block size" in msg:
        if plan.block_size * 4 <= plan.max_row_bytes:
            return Retype("", None, "row longer than the block size")
        return ProfileError(
            f"A row of the file is longer than {plan.max_row_bytes // (1024 * 1024)} MiB; rows that long "
            "cannot be profiled. Check the delimiter and the quoting (an unclosed quote makes one huge row)."
        )
    return ProfileError(f"The file cannot be read as {plan.format.upper()}: {_clean(msg)}")


def _not_utf8(column: str | None, plan: ReadPlan) -> ProfileError:
    where = f" in column {column}" if column else ""
    return ProfileError(
        f"The file holds bytes that are not valid {_enc_name(plan.encoding)}{where}. Re-save it as UTF-8 "
        "(or register it again so that its encoding is detected)."
    )


def _json_batches(plan: ReadPlan, native: pa.NativeFile) -> Iterator[pa.RecordBatch]:
    stream = _text_stream(plan, native)
    if (plan.encoding or "utf-8").lower() not in ("utf-8", "utf8"):
        stream = pa.transcoding_input_stream(stream, plan.encoding, "utf-8")
    parse_options = pajson.ParseOptions(
        explicit_schema=pa.schema(list(plan.column_types.items())) if plan.column_types else None,
        unexpected_field_behavior="infer",
        newlines_in_values=False,
    )
    try:
        reader = pajson.open_json(
            stream, read_options=pajson.ReadOptions(block_size=plan.block_size), parse_options=parse_options
        )
    except pa.ArrowInvalid as exc:
        if "Empty JSON" in str(exc):
            return  # an empty file: no rows and no columns
        raise _json_error(exc, plan) from exc
    except StopIteration:
        return
    try:
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except pa.ArrowInvalid as exc:
                if "to timestamp" in str(exc):
                    # pyarrow inferred timestamps from the first block; a later value is none.
                    stamps = [f.name for f in reader.schema if pa.types.is_timestamp(f.type)]
                    raise Retype(
                        JSON_TEXT + ",".join(stamps), None, "a field read as timestamps holds other text"
                    ) from exc
                raise _json_error(exc, plan) from exc
            if plan.columns:
                batch = batch.select([c for c in plan.columns if c in batch.schema.names])
            if not plan.parsed_bytes:
                _check_big_integers(batch, plan)
            plan.parsed_bytes += plan.block_size
            yield batch
    finally:
        reader.close()


def _json_error(exc: Exception, plan: ReadPlan) -> Exception:
    msg = str(exc)
    if "to uint64" in msg and any(pa.types.is_uint64(t) for t in plan.column_types.values()):
        # pyarrow does not say which field; every field guessed as uint64 goes back to float64.
        return Retype(NO_UINT64, None, "a field read as uint64 holds a negative, decimal or larger number")
    m = _JSON_CHANGED.search(msg)
    if m:
        top = m.group(1).lstrip("/").split("/")[0]
        return Retype(top, pa.string(), f"field {top} changes from {m.group(2)} to {m.group(3)}")
    if "straddl" in msg or "block size" in msg:
        if plan.block_size * 4 <= plan.max_row_bytes:
            return Retype("", None, "row longer than the block size")
        return ProfileError(
            f"A line of the file is longer than {plan.max_row_bytes // (1024 * 1024)} MiB; lines that long "
            "cannot be profiled."
        )
    if "UTF8" in msg or "utf-8" in msg.lower():
        return _not_utf8(None, plan)
    return ProfileError(f"The file is not valid JSON Lines: {_clean(msg)}")


def _json_python_batches(plan: ReadPlan, counting: _CountingFile) -> Iterator[pa.RecordBatch]:
    """The tolerant JSON Lines reader, used only when fields change type between rows.

    It parses line by line (slower than pyarrow's reader), turns the mixed fields into text, and
    reads every other field with the types pyarrow settled on.
    """
    mixed = plan.json_python_columns or set()
    raw: io.BufferedIOBase = io.BufferedReader(counting, buffer_size=1 << 20)
    if plan.compression == "gzip":
        raw = gzip.GzipFile(fileobj=raw)  # type: ignore[assignment]
    text = io.TextIOWrapper(raw, encoding=plan.encoding or "utf-8", errors="strict")
    schema: pa.Schema | None = None
    rows: list[dict] = []

    def column(name: str, values: list, type_: pa.DataType | None) -> pa.Array:
        try:
            return pa.array(values, type=type_)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
            raise Retype(name, pa.string(), f"field {name} changes type: {exc}") from exc

    def flush() -> pa.RecordBatch:
        nonlocal schema
        # Every field of the batch, in order of first appearance: pyarrow's from_pylist takes the
        # first row's keys only, and fields that start later were silently dropped (QA G16).
        names = list(dict.fromkeys(k for r in rows for k in r))
        if schema is None:
            arrays = [column(n, [r.get(n) for r in rows], None) for n in names]
            table = pa.Table.from_arrays(arrays, names=names)
            schema = table.schema
        else:
            for n in names:
                if n not in schema.names:
                    raise Retype(n, pa.string(), f"field {n} appears after the first rows")
            arrays = [column(f.name, [r.get(f.name) for r in rows], f.type) for f in schema]
            table = pa.Table.from_arrays(arrays, schema=schema)
        batch = table.to_batches()[0] if table.num_rows else pa.RecordBatch.from_pylist([], schema=schema)
        if plan.columns:
            batch = batch.select([c for c in plan.columns if c in batch.schema.names])
        return batch

    try:
        for lineno, line in enumerate(text, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ProfileError(f"Line {lineno} is not valid JSON: {exc.msg}.") from exc
            if not isinstance(obj, dict):
                raise ProfileError(
                    f"Line {lineno} is not a JSON object; JSON Lines hold one object per line."
                )
            for key in mixed & obj.keys():
                value = obj[key]
                if value is not None and not isinstance(value, str):
                    obj[key] = json.dumps(value, ensure_ascii=False)
            rows.append(obj)
            if len(rows) >= plan.batch_rows:
                yield flush()
                rows = []
        if rows or schema is None:
            if rows:
                yield flush()
    except UnicodeDecodeError as exc:
        raise _not_utf8(None, plan) from exc


def _parquet_batches(plan: ReadPlan) -> Iterator[pa.RecordBatch]:
    try:
        pf = pq.ParquetFile(plan.path)
    except PARQUET_ERRORS as exc:  # pyarrow raises several types for a damaged footer
        raise ProfileError(f"The Parquet file cannot be read: {_clean(exc)}") from exc
    total = max(pf.metadata.num_rows, 1)
    done = 0
    plan.progress_fraction = lambda: min(done / total, 1.0)
    try:
        for batch in pf.iter_batches(batch_size=plan.batch_rows, columns=plan.columns, use_threads=True):
            done += batch.num_rows
            yield batch
        if done == 0:
            schema = pf.schema_arrow
            if plan.columns:
                schema = pa.schema([schema.field(c) for c in plan.columns])
            yield pa.RecordBatch.from_pylist([], schema=schema)
    except pa.ArrowCancelled:
        raise  # an interruption (a signal), not damage
    except (pa.ArrowException, OSError) as exc:
        raise ProfileError(f"The Parquet file cannot be read: {_clean(exc)}") from exc


def parquet_schema(path: str) -> pa.Schema:
    try:
        return pq.ParquetFile(path).schema_arrow
    except PARQUET_ERRORS as exc:
        raise ProfileError(f"The Parquet file cannot be read: {_clean(exc)}") from exc


def stream(plan: ReadPlan) -> Iterator[pa.RecordBatch]:
    """One attempt at reading the file per ``plan``; may raise ``Retype`` or ``ProfileError``."""
    size = _check_args(plan.path, plan.format, plan.compression)
    if plan.format == "parquet":
        plan.reader = "pyarrow.parquet.ParquetFile.iter_batches"
        yield from _parquet_batches(plan)
        return
    _check_magic(plan)
    python_json = plan.format == "jsonl" and plan.json_python_columns is not None
    handle = _CountingFile(plan.path) if python_json else pa.OSFile(plan.path, "r")

    # pyarrow reads far ahead of the batches it has parsed (about 100 MB), so the file position
    # says little; progress counts the blocks parsed against the text's size instead.
    plan.parsed_bytes = 0
    total = _text_size(plan.path, size) if plan.compression == "gzip" else size

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
            source = _csv_batches(plan, handle)
        elif python_json:
            plan.reader = "json (line by line, fields that change type read as text)"
            source = _json_python_batches(plan, handle)
        else:
            plan.reader = "pyarrow.json.open_json"
            source = _json_batches(plan, handle)
        try:
            for batch in source:
                # Hand out at most batch_rows at a time: the block size, not the row count, sets
                # how big pyarrow's batches are.
                if batch.num_rows > plan.batch_rows:
                    for start in range(0, batch.num_rows, plan.batch_rows):
                        yield batch.slice(start, plan.batch_rows)
                else:
                    yield batch
        except pa.ArrowInvalid as exc:
            raise ProfileError(f"The file cannot be read as {plan.format}: {_clean(exc)}") from exc
        except UnicodeDecodeError as exc:
            raise _not_utf8(None, plan) from exc
        except OSError as exc:
            # Damaged compressed data is the file's fault, not a passing I/O error (which the
            # job retries): say so once and for all.
            text = str(exc).lower()
            if any(w in text for w in ("compress", "inflate", "gzip", "zlib", "truncated", "deflate")):
                raise ProfileError(f"The compressed data of the file is damaged: {_clean(exc)}.") from exc
            raise
    except StopIteration:
        return
    finally:
        if source is not None:
            source.close()  # closes pyarrow's reader before the file under it
        handle.close()


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


def threaded(source: Iterator[pa.RecordBatch], depth: int = 3) -> Iterator[pa.RecordBatch]:
    """Parse in a helper thread while the caller computes on the previous batch (pyarrow releases
    the GIL while parsing, so the two overlap on two cores). Exceptions are re-raised here."""
    queue: Queue = Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for item in source:
                if stop.is_set():
                    break
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
                yield item
            elif kind == "error":
                raise item
            else:
                return
    finally:
        stop.set()
        # Drain so that a blocked producer can see ``stop`` and finish.
        while worker.is_alive():
            while not queue.empty():
                queue.get_nowait()
            worker.join(timeout=0.05)


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
    path: str,
    *,
    format: str,
    compression: str = "",
    encoding: str = "utf-8",
    batch_rows: int = 65_536,
    columns: list[str] | None = None,
    column_types: dict[str, str | pa.DataType] | None = None,
    block_bytes: int = CSV_BLOCK,
) -> Iterator[pa.RecordBatch]:
    """Stream the file (csv|tsv|parquet|jsonl, gzip or not) in batches; raise ProfileError on unreadable data.

    Nested records (Parquet structs, JSON objects) come flattened into ``parent.child`` columns, the
    names ``profile_file`` reports; ``columns`` selects among those names. Types are inferred from
    the first block. If a later block disagrees, reading restarts with the column widened and
    resumes after the rows already yielded, so the later batches carry the wider type for that
    column. Pass ``column_types`` (``ProfileResult.method["read_types"]`` of a finished profile) to
    get one consistent schema from the first batch on.
    """
    wanted = list(columns) if columns else None
    types = parse_types(column_types or {})
    plan = ReadPlan(
        path=str(path),
        format=format,
        compression=compression or "",
        encoding=encoding or "utf-8",
        batch_rows=max(1, int(batch_rows)),
        column_types=types,
        block_size=max(4096, int(block_bytes)),
    )
    mixed = {n for n, t in (column_types or {}).items() if t == MIXED_JSON}
    if format == "jsonl" and mixed:
        # Fields whose JSON values change type need the line-by-line reader.
        plan.json_python_columns = mixed
    if wanted and format in ("csv", "tsv"):
        plan.columns = wanted
    elif wanted and format == "parquet":
        _check_args(plan.path, format, plan.compression)
        top = parquet_schema(plan.path).names
        plan.columns = [n for n in top if n in wanted or any(w.startswith(n + ".") for w in wanted)]
    yield from _coalesce(_resumable(plan, wanted), plan.batch_rows)


def _resumable(plan: ReadPlan, wanted: list[str] | None) -> Iterator[pa.RecordBatch]:
    """Batches of the file, restarting after a ``Retype`` and skipping the rows already handed out."""
    yielded = 0
    for _attempt in range(MAX_RETYPES):
        skip = yielded
        try:
            for raw in threaded(stream(plan)):
                batch = flatten(raw)
                if wanted and plan.format not in ("csv", "tsv"):
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


def _enc_name(encoding: str) -> str:
    return "UTF-8" if (encoding or "utf-8").lower().replace("_", "-") in ("utf-8", "utf8") else encoding


def _text_size(path: str, compressed_size: int) -> int:
    """The uncompressed size of a gzip file from its trailer (ISIZE, the size modulo 2**32);
    when that cannot be right (a file over 4 GiB of text), a guess of 4 x the compressed size."""
    try:
        with open(path, "rb") as fh:
            fh.seek(-4, 2)
            isize = int.from_bytes(fh.read(4), "little")
    except OSError:
        return 4 * compressed_size
    return isize if isize >= compressed_size else 4 * compressed_size


def _clean(error: object, limit: int = 300) -> str:
    """An error's text fit for people: printable characters only, and not too long (pyarrow quotes
    the offending row, which may be binary garbage or megabytes long)."""
    text = "".join(ch if ch.isprintable() else " " for ch in str(error))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _check_magic(plan: ReadPlan) -> None:
    """Refuse early, and clearly, a file whose first bytes say it is something else."""
    with open(plan.path, "rb") as fh:
        magic = fh.read(4)
    if magic == b"PAR1":
        raise ProfileError(f"The file is Parquet, not {plan.format.upper()}; register it as Parquet.")
    if magic[:2] == b"\x1f\x8b" and plan.compression != "gzip":
        raise ProfileError("The file is gzip-compressed but was given as uncompressed.")
    if plan.compression == "gzip" and magic and magic[:2] != b"\x1f\x8b":
        raise ProfileError("The file was given as gzip-compressed but is not gzip data.")
