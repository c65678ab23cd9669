"""CSV and TSV through pyarrow's streaming reader (``pyarrow.csv.open_csv``), block by block.

Ragged rows are skipped and counted; a header that repeats names is renamed; a value that does not
fit the type pyarrow inferred from the first block restarts the read with that column widened.
"""

import codecs
import re
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.csv as pacsv

from catalog.formats import is_utf8, text_stream
from profiling.engine.cores import spare
from profiling.engine.read_plan import (
    NEWLINES,
    RENAMED,
    ReadPlan,
    Retype,
    check_big_integers,
    clean,
    not_utf8,
)
from profiling.engine.types import ProfileError

# pyarrow's message when a value does not fit the type it inferred from the first block.
_CSV_CONVERSION = re.compile(
    r"In CSV column #(\d+): (?:Row #\d+: )?CSV conversion error to (\w+)[^']*'(.*)'", re.S
)
_INT_RE = re.compile(r"^\s*[-+]?\d+\s*$")
_FLOAT_RE = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$|^\s*[-+]?(inf|nan)\s*$", re.I)


def csv_batches(plan: ReadPlan, native: pa.NativeFile) -> Iterator[pa.RecordBatch]:
    """The file's batches as CSV (TSV) per ``plan``; may raise ``Retype`` or ``ProfileError``."""
    stream = text_stream(native, plan.compression)
    read_options, parse_options, convert_options = _csv_options(plan)
    reader = _open_csv(plan, stream, read_options, parse_options, convert_options)
    try:
        names = _checked_header(plan, reader, read_options, parse_options)
        yield from _read_blocks(plan, reader, names)
    finally:
        reader.close()


def _csv_options(plan: ReadPlan) -> tuple[pacsv.ReadOptions, pacsv.ParseOptions, pacsv.ConvertOptions]:
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
        # On two cores this reader's thread and the statistics' keep both busy; pyarrow's own
        # parsing threads would take turns with them (10 % slower pass on the 1M-row file).
        use_threads=spare(),
        encoding="utf8" if is_utf8(encoding) else encoding,
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
        column_types={**plan.schema_types, **plan.column_types} or None,
        strings_can_be_null=True,
        include_columns=plan.columns or None,
    )
    return read_options, parse_options, convert_options


def _open_csv(
    plan: ReadPlan, stream, read_options, parse_options, convert_options
) -> pacsv.CSVStreamingReader:
    try:
        return pacsv.open_csv(
            stream, read_options=read_options, parse_options=parse_options, convert_options=convert_options
        )
    except pa.ArrowKeyError as exc:  # a selected column is not in the header (as it is)
        names = _csv_header(plan, read_options, parse_options)
        if len(set(names)) < len(names) and not plan.column_names:
            plan.column_names = _dedupe(names)
            raise Retype(RENAMED, None, "the header repeats column names") from exc
        raise ProfileError(f"A selected column is not in the file: {clean(exc)}") from exc
    except pa.ArrowInvalid as exc:
        if "Empty CSV" in str(exc):
            raise ProfileError("The file is empty: it has no header row.") from exc
        # A cell read with the types of the file's first block, or a later part of a partitioned
        # dataset read with the first part's types, can fail on its own first block: pyarrow
        # numbers the column, the header (or the types' names) name it.
        names = plan.column_names or list(plan.schema_types)
        if not names and plan.column_types:
            names = _csv_header(plan, read_options, parse_options)
        raise _csv_error(exc, names, plan) from exc


def _checked_header(plan: ReadPlan, reader, read_options, parse_options) -> list[str]:
    """The header's names as in the file (for pyarrow's column numbers in errors); a header that
    repeats names restarts the read with them renamed."""
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
    return names


def _read_blocks(plan: ReadPlan, reader, names: list[str]) -> Iterator[pa.RecordBatch]:
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
            raise not_utf8(binary[0], plan)
        if not yielded:
            check_big_integers(batch, plan)
        yielded = True
        plan.parsed_bytes += plan.block_size
        yield batch


def _csv_header(plan: ReadPlan, read_options, parse_options) -> list[str]:
    with plan.open_stream() as native:
        reader = pacsv.open_csv(
            text_stream(native, plan.compression), read_options=read_options, parse_options=parse_options
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
            return not_utf8(names[index], plan)
        name = names[index] if index < len(names) else f"#{index}"
        return Retype(
            name, _widen(target, value), f"column {name} holds '{value[:40]}' after values read as {target}"
        )
    if "invalid UTF8" in msg or "UTF8" in msg:
        return not_utf8(None, plan)
    if "newlines_in_values" in msg and not plan.newlines_in_values:
        return Retype(NEWLINES, None, "a quoted value spans lines")
    if "straddl" in msg or "block size" in msg:
        if plan.block_size * 4 <= plan.max_row_bytes:
            return Retype("", None, "row longer than the block size")
        return ProfileError(
            f"A row of the file is longer than {plan.max_row_bytes // (1024 * 1024)} MiB; rows that long "
            "cannot be profiled. Check the delimiter and the quoting (an unclosed quote makes one huge row)."
        )
    return ProfileError(f"The file cannot be read as {plan.format.upper()}: {clean(msg)}")
