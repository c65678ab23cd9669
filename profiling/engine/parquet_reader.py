"""Parquet through ``pyarrow.parquet.ParquetFile.iter_batches``: columns are typed by the file."""

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


def parquet_batches(plan: ReadPlan) -> Iterator[pa.RecordBatch]:
    try:
        pf = pq.ParquetFile(plan.path)
    except PARQUET_ERRORS as exc:  # pyarrow raises several types for a damaged footer
        raise ProfileError(f"The Parquet file cannot be read: {clean(exc)}") from exc
    groups = plan.row_groups
    meta = pf.metadata
    rows = meta.num_rows if groups is None else sum(meta.row_group(i).num_rows for i in groups)
    total = max(rows, 1)
    done = 0
    plan.progress_fraction = lambda: min(done / total, 1.0)
    try:
        for batch in pf.iter_batches(
            batch_size=plan.batch_rows, row_groups=groups, columns=plan.columns, use_threads=True
        ):
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
        raise ProfileError(f"The Parquet file cannot be read: {clean(exc)}") from exc


def parquet_schema(path: str) -> pa.Schema:
    try:
        return pq.ParquetFile(path).schema_arrow
    except PARQUET_ERRORS as exc:
        raise ProfileError(f"The Parquet file cannot be read: {clean(exc)}") from exc
