"""PostgreSQL tables and views streamed as Arrow batches by the ADBC PostgreSQL driver
(``adbc_driver_postgresql``: the query runs as ``COPY ... TO STDOUT (FORMAT binary)`` and arrives as
Arrow record batches of about 16 MB, never the whole table in memory).

The column types are asked first (the same query, ``LIMIT 0``). What the driver hands over as an
Arrow type the statistics know is kept; ``numeric`` (text from the driver) is read as float64,
``json``/``jsonb`` as their text, ``money`` as a number of currency units; every other type the
driver has no Arrow type for (uuid, inet, ranges, geometric types, xml, bit strings, intervals,
composite types...) is cast to text by the server, so that an unknown type is profiled as text
rather than failing the profile. Arrays stay lists (counted, not summarised, like Parquet lists).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from profiling.engine.pg_sql import quote_ident
from profiling.engine.read_plan import ReadPlan, Retype, clean
from profiling.engine.types import ProfileError

PG_TYPE = b"POSTGRESQL:type"
# Words of a libpq or server message that mean "try again later", not "this cannot work".
TRANSIENT = (
    "could not connect",
    "connection refused",
    "timeout",
    "timed out",
    "server closed the connection",
    "terminating connection",
    "the database system is starting up",
    "too many connections",
    "could not translate host name",
)


def table_batches(plan: ReadPlan) -> Iterator[pa.RecordBatch]:
    """One attempt at reading the table per ``plan`` (``plan.columns``: only those columns)."""
    table = plan.location.table
    plan.reader = "adbc_driver_postgresql (COPY binary, Arrow batches)"
    expected = _expected_rows(table)
    done = 0
    plan.progress_fraction = lambda: min(done / expected, 0.99) if expected else 0.0
    conn = _connect(plan)
    try:
        with conn.cursor() as cur:
            inner = table.sql(plan.columns)
            probe = _run(cur, f"SELECT * FROM ({inner}) AS src LIMIT 0", plan)  # noqa: S608 - quoted
            schema = probe.schema
            probe.close()
            exprs, casts = _select_list(schema, plan)
            plan.source_notes["casts"] = casts
            reader = _run(cur, f"SELECT {', '.join(exprs)} FROM ({inner}) AS src", plan)  # noqa: S608
            yielded = False
            for batch in _batches(reader, plan):
                done += batch.num_rows
                yielded = True
                yield batch
            if not yielded:
                yield _empty(reader.schema, plan)
    finally:
        conn.close()


def _expected_rows(table: Any) -> int | None:
    if not table.row_estimate or table.row_estimate < 0:
        return None
    if table.sample_percent is not None:
        return max(1, int(table.row_estimate * table.sample_percent / 100))
    return table.row_estimate


def _connect(plan: ReadPlan):
    import adbc_driver_postgresql.dbapi as adbc

    try:
        return adbc.connect(plan.location.table.dsn)
    except Exception as exc:  # noqa: BLE001 - the driver's errors are sorted into ours
        raise _error(exc, plan, "cannot connect to the database") from exc


def _run(cur, query: str, plan: ReadPlan) -> pa.RecordBatchReader:
    try:
        cur.execute(query)
        return cur.fetch_record_batch()
    except Exception as exc:  # noqa: BLE001 - the driver's errors are sorted into ours
        raise _error(exc, plan, "the table cannot be read") from exc


def _error(exc: Exception, plan: ReadPlan, what: str) -> Exception:
    """A network or server hiccup is an OSError (the job tries again later); anything else (no
    such table, no permission, a wrong password) ends the job with the server's own words."""
    first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]
    table = plan.location.table
    name = f"{table.schema}.{table.name}"
    lower = first.lower()
    if any(word in lower for word in TRANSIENT):
        return OSError(f"PostgreSQL {plan.location.label or name}: {what}: {clean(first)}")
    if "does not exist" in lower and "relation" in lower:
        return ProfileError(
            f"The table {name} no longer exists at the source (dropped or renamed since the scan "
            "registered this version); the next scan marks it removed."
        )
    return ProfileError(f"The table {name} cannot be read: {clean(first)}")


def _select_list(schema: pa.Schema, plan: ReadPlan) -> tuple[list[str], dict[str, str]]:
    """The SELECT list: each column as is, or cast by the server when the driver would hand over a
    type the statistics cannot read → (expressions, {column: what it was read as})."""
    exprs, casts = [], {}
    for f in schema:
        name = quote_ident(f.name)
        pg_type = (f.metadata or {}).get(PG_TYPE, b"").decode("utf-8", "replace")
        kind = _kind(f.type, pg_type)
        if kind == "text":
            exprs.append(f"{name}::text AS {name}")
            casts[f.name] = f"{pg_type or f.type} read as text"
        elif kind == "money":
            exprs.append(f"{name}::numeric::float8 AS {name}")
            casts[f.name] = "money read as a number"
        else:
            exprs.append(name)
            if kind == "numeric":
                casts[f.name] = "numeric read as float64"
    return exprs, casts


def _kind(t: pa.DataType, pg_type: str) -> str:
    if pg_type == "money":
        return "money"
    if isinstance(t, pa.BaseExtensionType):
        name = getattr(t, "type_name", "") if t.extension_name == "arrow.opaque" else ""
        if name == "numeric" and pa.types.is_string(t.storage_type):
            return "numeric"
        if t.extension_name == "arrow.json" and pa.types.is_string(t.storage_type):
            return "json"
        return "text"
    if pa.types.is_interval(t) or pa.types.is_union(t) or pa.types.is_dictionary(t):
        return "text"
    return "keep"


def _batches(reader: pa.RecordBatchReader, plan: ReadPlan) -> Iterator[pa.RecordBatch]:
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except pa.ArrowException as exc:
            raise _error(exc, plan, "reading stopped") from exc
        except OSError as exc:
            raise _error(exc, plan, "reading stopped") from exc
        yield _plain(batch, plan)


def _plain(batch: pa.RecordBatch, plan: ReadPlan) -> pa.RecordBatch:
    """Extension columns as the plain types the statistics read: numeric text as float64 (or text,
    once a value would not read as a number), JSON as its text."""
    if not any(isinstance(f.type, pa.BaseExtensionType) for f in batch.schema):
        return batch
    arrays, fields = [], []
    for f, column in zip(batch.schema, batch.columns, strict=True):
        if isinstance(f.type, pa.BaseExtensionType):
            column = column.storage
            if _kind(f.type, "") == "numeric" and not pa.types.is_string(
                plan.column_types.get(f.name, pa.null())
            ):
                try:
                    column = pc.cast(column, pa.float64())
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise Retype(
                        f.name, pa.string(), f"numeric column {f.name} holds a value that is no number"
                    ) from exc
        arrays.append(column)
        fields.append(pa.field(f.name, column.type, metadata=f.metadata))
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


def _empty(schema: pa.Schema, plan: ReadPlan) -> pa.RecordBatch:
    """No rows: still the columns, in the types batches would have had."""
    return _plain(pa.RecordBatch.from_pylist([], schema=schema), plan)
