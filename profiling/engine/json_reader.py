"""JSON Lines through pyarrow's streaming reader (``pyarrow.json.open_json``), and the tolerant reader
that reads line by line when a field changes type between rows (those fields are read as text).
Each line is checked by the same rule as at upload (catalog.formats.json_line_object).
"""

import gzip
import io
import json
import re
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from catalog.formats import FormatError, is_utf8, json_line_object, not_an_object, repeated_key, text_stream
from profiling.engine.read_plan import (
    JSON_TEXT,
    NO_DATES,
    NO_UINT64,
    ReadPlan,
    Retype,
    check_big_integers,
    clean,
    not_utf8,
)
from profiling.engine.types import ProfileError

# A JSON text value that reads as an ISO-8601 date or timestamp.
ISO_DATE = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}:?[0-9]{2})?)?$"
)
_JSON_CHANGED = re.compile(r"Column\(([^)]*)\) changed from (\w+) to (\w+)")
_REPEATED = re.compile(r"Column\(([^)]*)\) was specified twice")


class CountingFile(io.RawIOBase):
    """A read-only binary file that counts the bytes read, for progress by bytes: a path on this
    machine's disk, or a binary stream already open (an object read in place)."""

    def __init__(self, source: "str | Any"):
        self._fh = open(source, "rb") if isinstance(source, str) else source  # noqa: SIM115 -- closed by close()
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


def json_batches(plan: ReadPlan, native: pa.NativeFile) -> Iterator[pa.RecordBatch]:
    """The file's batches through pyarrow's JSON reader; may raise ``Retype`` or ``ProfileError``."""
    stream = text_stream(native, plan.compression)
    if not is_utf8(plan.encoding):
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
                check_big_integers(batch, plan)
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
    if m and not m.group(1).strip("/"):
        # The line itself, not one of its fields, is something else than an object.
        return ProfileError(not_an_object())
    if m:
        top = m.group(1).lstrip("/").split("/")[0]
        return Retype(top, pa.string(), f"field {top} changes from {m.group(2)} to {m.group(3)}")
    m = _REPEATED.search(msg)
    if m:
        return ProfileError(repeated_key(m.group(1).lstrip("/").split("/")[-1]))
    if "straddl" in msg or "block size" in msg:
        if plan.block_size * 4 <= plan.max_row_bytes:
            return Retype("", None, "row longer than the block size")
        return ProfileError(
            f"A line of the file is longer than {plan.max_row_bytes // (1024 * 1024)} MiB; lines that long "
            "cannot be profiled."
        )
    if "UTF8" in msg or "utf-8" in msg.lower():
        return not_utf8(None, plan)
    return ProfileError(f"The file is not valid JSON Lines: {clean(msg)}")


def json_python_batches(plan: ReadPlan, counting: CountingFile) -> Iterator[pa.RecordBatch]:
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
        # first row's keys only, and fields that start later would be silently dropped.
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
            try:
                obj = json_line_object(line, lineno, max_depth=plan.max_json_depth)
            except FormatError as exc:
                raise ProfileError(str(exc)) from exc
            if obj is None:
                continue
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
        raise not_utf8(None, plan) from exc


def json_date_columns(batch: pa.RecordBatch, excluded: set[str]) -> dict[str, pa.DataType]:
    """Text fields of a JSON Lines file whose values in the first batch are all ISO-8601 dates or
    timestamps (pyarrow's JSON reader leaves them as text): the type to read them as."""
    casts: dict[str, pa.DataType] = {}
    for field in batch.schema:
        if not pa.types.is_string(field.type) or field.name in excluded:
            continue
        values = batch.column(field.name).drop_null()
        if len(values) == 0 or not pc.all(pc.match_substring_regex(values, ISO_DATE)).as_py():
            continue
        for t in (pa.timestamp("us"), pa.timestamp("us", tz="UTC")):
            try:
                values.cast(t)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                continue
            casts[field.name] = t
            break
    return casts


def cast_dates(batch: pa.RecordBatch, casts: dict[str, pa.DataType]) -> pa.RecordBatch:
    arrays = []
    for field, col in zip(batch.schema, batch.columns, strict=True):
        if field.name in casts:
            try:
                col = col.cast(casts[field.name])
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                # A later value is no date: read the field as text from the start.
                raise Retype(
                    NO_DATES + field.name, None, f"field {field.name} holds text that is no date"
                ) from exc
        arrays.append(col)
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)
