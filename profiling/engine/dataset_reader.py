"""Hive-partitioned datasets: the parts a scan listed, read as one dataset, with the partition
columns (``date=2026-12-01/`` in the parts' paths) as columns of every row.

Parquet parts go through ``pyarrow.dataset``: one fragment per part, made from the listed path and
size (no listing, no request per part before it is read), split by row group and scanned part after
part with the part's partition values as its partition expression, so that the scanner fills the
partition columns and reads only the selected columns' chunks, about one row group in memory.
CSV, TSV and JSON Lines parts are read one after the other by the engine's own readers (ragged
rows, widened types, gzip), each batch given its part's partition values; the types the first part
settled on hold for the next ones, and a part that disagrees restarts the pass with the column
widened, as a later block of one file does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pyarrow as pa
import pyarrow.dataset as ds

from profiling.engine.location import Part, partition_scalars, partition_schema
from profiling.engine.read_plan import ReadPlan, Retype, clean
from profiling.engine.types import ProfileError

FileBatches = Callable[[ReadPlan], Iterator[pa.RecordBatch]]
CACHE = pa.CacheOptions(hole_size_limit=1 << 20, range_size_limit=64 << 20)


def partitioned_batches(plan: ReadPlan, file_batches: FileBatches) -> Iterator[pa.RecordBatch]:
    """Every part's batches in the reference's order, partition columns last."""
    parts = plan.location.parts
    if not parts:
        raise ProfileError(
            f"The partitioned dataset {plan.location.label or plan.path} has no parts to read."
        )
    keys = partition_schema(parts)
    sizes = [p.size or 0 for p in parts]
    total = sum(sizes) or len(parts)
    done = 0.0
    current: list[Callable[[], float]] = [lambda: 0.0]

    def fraction() -> float:
        return min((done + current[0]()) / total, 1.0)

    reader = _parquet_part if plan.format == "parquet" else _text_part
    yielded = False
    plan.dataset_schema = None  # set by the first part, again on each pass
    for index, part in enumerate(parts):
        weight = (sizes[index] or 1) if sum(sizes) else 1
        for batch, part_fraction in reader(plan, part, keys, file_batches, first=index == 0):
            current[0] = lambda f=part_fraction, w=weight: f() * w
            plan.progress_fraction = fraction
            if batch.num_rows == 0 and (yielded or index < len(parts) - 1):
                continue  # an empty part: only the last may stand for the schema
            yielded = True
            yield batch
        done += weight
    plan.reader = (
        "pyarrow.dataset (Parquet fragments by row group)"
        if plan.format == "parquet"
        else f"{plan.reader}, part by part"
    )


def partitioned_names(plan: ReadPlan) -> list[str]:
    """The dataset's top-level column names: the first part's, then the partition columns."""
    parts = plan.location.parts
    if not parts:
        return []
    fragment = _fragment(plan, parts[0], partition_schema(parts))
    names = _physical_schema(fragment, plan).names
    return names + [k for k in partition_schema(parts).names if k not in names]


# --------------------------------------------------------------------------- Parquet parts
def _fragment(plan: ReadPlan, part: Part, keys: pa.Schema) -> ds.ParquetFileFragment:
    from pyarrow import fs as pafs

    fmt = _format()
    expression = None
    for name, value in partition_scalars(part, keys).items():
        term = ds.field(name).is_null() if not value.is_valid else ds.field(name) == value
        expression = term if expression is None else expression & term
    return fmt.make_fragment(
        part.path,
        filesystem=plan.filesystem or pafs.LocalFileSystem(),
        partition_expression=expression,
        file_size=part.size,
    )


def _format() -> ds.ParquetFileFormat:
    # pre_buffer: a row group's column chunks fetched in a few large requests (an object store
    # answers each request after a round trip, whatever its size).
    return ds.ParquetFileFormat(
        default_fragment_scan_options=ds.ParquetFragmentScanOptions(pre_buffer=True, cache_options=CACHE)
    )


def _physical_schema(fragment: ds.ParquetFileFragment, plan: ReadPlan) -> pa.Schema:
    try:
        return fragment.physical_schema
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
        raise ProfileError(f"The Parquet part {fragment.path} cannot be read: {clean(exc)}") from exc
    except OSError as exc:
        if plan.filesystem is None:
            raise ProfileError(f"The Parquet part {fragment.path} cannot be read: {clean(exc)}") from exc
        raise  # the store or the network: the job tries again


def _parquet_part(plan: ReadPlan, part: Part, keys: pa.Schema, _files: FileBatches, *, first: bool):
    """(batch, fraction of the part read) of one Parquet part, through pyarrow.dataset."""
    fragment = _fragment(plan, part, keys)
    physical = _physical_schema(fragment, plan)
    if first or plan.dataset_schema is None:
        extra = [f for f in keys if f.name not in physical.names]
        plan.dataset_schema = pa.schema(list(physical) + extra)
    schema = plan.dataset_schema
    try:
        pieces = fragment.split_by_row_group()
        rows = max(sum(p.row_groups[0].num_rows for p in pieces), 1)
        dataset = ds.FileSystemDataset(
            pieces, schema=schema, format=_format(), filesystem=fragment.filesystem
        )
        columns = [c for c in plan.columns if c in schema.names] if plan.columns else None
        scanner = dataset.scanner(
            columns=columns,
            batch_size=plan.batch_rows,
            use_threads=True,
            batch_readahead=4,
            fragment_readahead=1,  # one row group at a time: memory holds one, not the part
        )
        done = 0
        any_rows = False
        for batch in scanner.to_batches():
            done += batch.num_rows
            any_rows = any_rows or batch.num_rows > 0
            yield batch, (lambda d=done: min(d / rows, 1.0))
        if not any_rows:
            empty = schema if columns is None else pa.schema([schema.field(c) for c in columns])
            yield pa.RecordBatch.from_pylist([], schema=empty), (lambda: 1.0)
    except pa.ArrowCancelled:
        raise
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise ProfileError(
            f"The Parquet part {part.path} cannot be read with the others: {clean(exc)}"
        ) from exc


# --------------------------------------------------------------------------- text parts
def _text_part(plan: ReadPlan, part: Part, keys: pa.Schema, file_batches: FileBatches, *, first: bool):
    """(batch, fraction of the part read) of one CSV, TSV or JSON Lines part, its partition
    values added as columns."""
    wanted = plan.columns
    plan.path, plan.size = part.path, part.size
    if wanted:
        in_file = [c for c in wanted if c not in keys.names]
        # Only partition columns asked for: the file is still read (for its rows), all of it.
        plan.columns = in_file or None
    plan.parsed_bytes = 0
    plan.depth_checked = part.path in plan.checked_paths
    scalars = partition_scalars(part, keys)
    per_file = None
    try:
        for batch in file_batches(plan):
            if per_file is None:
                per_file = plan.progress_fraction  # the reader's own, set before its first batch
            if plan.dataset_schema is None:
                plan.dataset_schema = batch.schema
                _settle_types(plan, batch.schema)
            elif batch.schema != plan.dataset_schema:
                batch = _conform(batch, plan.dataset_schema, part)
            yield _with_partitions(batch, scalars), per_file
        if plan.depth_checked:
            plan.checked_paths.add(part.path)
    finally:
        plan.columns = wanted


def _settle_types(plan: ReadPlan, schema: pa.Schema) -> None:
    """The types the first part was read with hold for every later part: CSV parses each part
    with them (a column of digits stays text if the first part made it text; a value that does
    not fit restarts the pass with the column widened)."""
    if plan.format not in ("csv", "tsv"):
        return  # JSON Lines: a later part's types are cast to the first's (_conform)
    for f in schema:
        if f.name not in plan.column_types and not pa.types.is_null(f.type):
            plan.column_types[f.name] = f.type


def _conform(batch: pa.RecordBatch, schema: pa.Schema, part: Part) -> pa.RecordBatch:
    """A later part's batch in the first part's schema: its types cast, its missing columns null.
    A value that does not fit restarts the pass with the column widened (``Retype``)."""
    extra = [n for n in batch.schema.names if n not in schema.names]
    if extra:
        raise ProfileError(
            f"The part {part.path} has columns the first part does not have ({', '.join(extra[:5])}); "
            "the parts of a dataset must share their columns."
        )
    arrays = []
    for f in schema:
        if f.name not in batch.schema.names:
            arrays.append(pa.nulls(batch.num_rows, f.type))
            continue
        column = batch.column(f.name)
        if column.type != f.type:
            try:
                column = column.cast(f.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
                raise Retype(
                    f.name, _wider(f.type, column.type), f"part {part.path}: {f.name} is {column.type}"
                ) from exc
        arrays.append(column)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _wider(first: pa.DataType, later: pa.DataType) -> pa.DataType:
    if pa.types.is_null(first):
        return later
    numeric = (pa.types.is_integer(first) or pa.types.is_floating(first)) and (
        pa.types.is_integer(later) or pa.types.is_floating(later)
    )
    return pa.float64() if numeric else pa.string()


def _with_partitions(batch: pa.RecordBatch, scalars: dict[str, pa.Scalar]) -> pa.RecordBatch:
    arrays = list(batch.columns)
    names = list(batch.schema.names)
    for name, value in scalars.items():
        if name in names:
            continue  # the file has a column of that name: the file's values win
        arrays.append(pa.repeat(value, batch.num_rows))
        names.append(name)
    return pa.RecordBatch.from_arrays(arrays, names=names)
