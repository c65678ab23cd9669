"""Parquet through ``pyarrow.parquet.ParquetFile.iter_batches``: columns are typed by the file.

Read a few row groups at a time (``row_group_runs``), so that memory holds about one run whatever
the file's size. An object on S3 is read in place through its ``pyarrow.fs`` file system with
``pre_buffer`` (the selected columns of a run fetched in a few large ranged requests, not one per
page), and nothing is copied to disk.
"""

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from profiling.engine.read_plan import ReadPlan, clean
from profiling.engine.types import ProfileError

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
# Compressed bytes of row groups read together from an object store (memory holds about this
# much compressed, and its decoded batches, at a time).
RUN_BYTES = 64 * 1024 * 1024
# On an object store an OSError is the network's or the store's (retried by the job), not damage.
REMOTE_PARQUET_ERRORS = (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError, TypeError)


def _errors(plan: ReadPlan) -> tuple[type[BaseException], ...]:
    return PARQUET_ERRORS if plan.filesystem is None else REMOTE_PARQUET_ERRORS


def open_parquet(plan: ReadPlan) -> tuple[pq.ParquetFile, pa.NativeFile | None]:
    """(the file, its footer read; the object store's file to close, or None); ProfileError when
    it is no Parquet file."""
    source = None
    try:
        if plan.filesystem is None:
            return pq.ParquetFile(plan.path), None
        source = plan.filesystem.open_input_file(plan.path)
        return pq.ParquetFile(source, pre_buffer=True), source
    except _errors(plan) as exc:  # pyarrow raises several types for a damaged footer
        if source is not None:
            source.close()
        raise ProfileError(f"The Parquet file cannot be read: {clean(exc)}") from exc
    except BaseException:
        if source is not None:
            source.close()
        raise


def parquet_batches(plan: ReadPlan) -> Iterator[pa.RecordBatch]:
    pf, source = open_parquet(plan)
    groups = plan.row_groups  # some row groups only: one part's cells (cells.py)
    meta = pf.metadata
    rows = meta.num_rows if groups is None else sum(meta.row_group(i).num_rows for i in groups)
    total = max(rows, 1)
    done = 0
    plan.progress_fraction = lambda: min(done / total, 1.0)
    try:
        for batch in _batches(pf, plan):
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
        if plan.filesystem is not None and not isinstance(exc, pa.ArrowInvalid):
            raise  # the store or the network: the job tries again
        raise ProfileError(f"The Parquet file cannot be read: {clean(exc)}") from exc
    finally:
        if source is not None:
            source.close()


def _batches(pf: pq.ParquetFile, plan: ReadPlan) -> Iterator[pa.RecordBatch]:
    options = {"batch_size": plan.batch_rows, "columns": plan.columns, "use_threads": True}
    # A few row groups at a time: pyarrow's reader over the whole file keeps memory of the row
    # groups it has read (about 430 MB of a 10 M-row file, against 65 MB this way), and pre_buffer
    # over the whole file would hold all of it.
    for groups in row_group_runs(pf.metadata, plan.columns, groups=plan.row_groups):
        yield from pf.iter_batches(row_groups=groups, **options)


def row_group_runs(
    metadata: pq.FileMetaData,
    columns: list[str] | None,
    budget: int = RUN_BYTES,
    *,
    groups: list[int] | None = None,
) -> list[list[int]]:
    """Consecutive row groups (of ``groups``, all by default) joined while their selected columns'
    compressed bytes stay within ``budget`` (one at least): small row groups are read together,
    big ones one by one."""
    names = set(columns) if columns else None
    runs: list[list[int]] = []
    size = 0
    previous = -2
    for i in range(metadata.num_row_groups) if groups is None else groups:
        group = metadata.row_group(i)
        nbytes = 0
        for j in range(group.num_columns):
            chunk = group.column(j)
            if names is None or chunk.path_in_schema.split(".")[0] in names:
                nbytes += chunk.total_compressed_size
        if runs and size + nbytes <= budget and i == previous + 1:
            runs[-1].append(i)
            size += nbytes
        else:
            runs.append([i])
            size = nbytes
        previous = i
    return runs


def parquet_schema(plan: ReadPlan) -> pa.Schema:
    pf, source = open_parquet(plan)
    if source is not None:
        source.close()
    return pf.schema_arrow
