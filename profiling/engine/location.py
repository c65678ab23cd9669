"""Where the profiler reads a dataset: a ``Location``, and opening its bytes wherever they are.

A location is one file (on this machine's disk, or an object on S3 through a ``pyarrow.fs``
file system), the parts of a Hive-partitioned dataset (the same, one file per part, the partition
columns taken from the parts' paths) or a PostgreSQL table (streamed as Arrow batches). It says
how to read, never what the data is: the format, compression and encoding are the version's.

Nothing here knows Django or the catalog: profiling.locations builds locations from versions
(credentials included, which never appear in ``describe()``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import pyarrow as pa

HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"  # Hive's (and Spark's) folder name for a null value
_INT = re.compile(r"^[-+]?\d{1,18}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Part:
    """One file of a partitioned dataset: its path on the location's file system, its size when
    known (spares a request per part) and its partition values as written in its path."""

    path: str
    size: int | None = None
    values: tuple[tuple[str, str | None], ...] = ()


@dataclass(frozen=True)
class Table:
    """A PostgreSQL table or view. ``query(schema, table, columns=..., sample_percent=...)`` gives
    the quoted SELECT (profiling.locations supplies it); ``dsn`` holds the credentials."""

    dsn: str = field(repr=False)  # holds the password: never in a message, a log or the profile
    schema: str
    name: str
    # catalog.connectors.postgres.table_sql (supplied by profiling.locations: the quoting's one home)
    query: Callable[..., str] | None = None
    sample_percent: float | None = None
    row_estimate: int | None = None

    def sql(self, columns: list[str] | None = None) -> str:
        if self.query is None:
            raise ValueError("a TableSource needs its query builder (catalog.connectors.postgres.table_sql)")
        return self.query(self.schema, self.name, columns=columns, sample_percent=self.sample_percent)


@dataclass(frozen=True)
class Location:
    """Where and how to read one dataset version; see the module's docstring."""

    format: str
    path: str = ""  # the file (bucket/key on S3) or, partitioned, the dataset's folder
    compression: str = ""
    encoding: str = "utf-8"
    filesystem: Any = None  # a pyarrow.fs.FileSystem; None: this machine's disk, read as before
    size: int | None = None  # the file's size when known (spares a request)
    parts: tuple[Part, ...] | None = None  # a partitioned dataset's files (None: one file)
    partitioning: str = ""  # "hive"
    table: Table | None = None
    label: str = ""  # how messages name it: s3://bucket/key, postgres://host:port/db schema.table
    warnings: tuple[str, ...] = ()  # what reading this way changes, stated on the profile
    notes: dict[str, Any] = field(default_factory=dict)  # more of the same for the profile's method

    @property
    def kind(self) -> str:
        if self.table is not None:
            return "table"
        if self.parts is not None:
            return "partitioned"
        return "object" if self.filesystem is not None else "file"

    def describe(self) -> dict[str, Any]:
        """What the profile's ``method`` says about where the data was read (no credentials)."""
        table = f"{self.table.schema}.{self.table.name}" if self.table is not None else ""
        out: dict[str, Any] = {"kind": self.kind, "where": self.label or self.path or table}
        if self.filesystem is not None:
            out["filesystem"] = type(self.filesystem).__name__
        if self.parts is not None:
            out.update(parts=len(self.parts), partitioning=self.partitioning or None)
        if self.table is not None and self.table.sample_percent is not None:
            out["sample"] = {
                "method": "TABLESAMPLE SYSTEM",
                "percent": self.table.sample_percent,
                "row_estimate": self.table.row_estimate,
            }
        out.update(self.notes)
        return out


def local(path: str, *, format: str, compression: str = "", encoding: str = "utf-8") -> Location:  # noqa: A002
    """A file on this machine's disk, read exactly as ``profile_file(path)`` always did."""
    return Location(format=format, path=str(path), compression=compression, encoding=encoding)


# --------------------------------------------------------------------------- opening bytes
def file_size(filesystem: Any, path: str, known: int | None = None) -> int | None:
    """The file's size: ``known`` when given, else asked of the file system; None when it is no
    file (missing, or a folder)."""
    if known is not None:
        return known
    from pyarrow import fs as pafs

    info = filesystem.get_file_info(path)
    if info.type != pafs.FileType.File:
        return None
    return info.size


def open_stream(filesystem: Any, path: str) -> pa.NativeFile:
    """The file's bytes from the start, read sequentially (no random access needed: CSV, JSON).
    ``compression=None``: pyarrow would otherwise guess from the extension and decompress a .gz
    behind the readers' back (they decompress themselves, and count the text they get)."""
    return filesystem.open_input_stream(path, compression=None)


def open_random(filesystem: Any, path: str) -> pa.NativeFile:
    """Random access to the file (Parquet's footer and column chunks): ranged reads on S3."""
    return filesystem.open_input_file(path)


def read_head(filesystem: Any, path: str, n: int) -> bytes:
    with filesystem.open_input_file(path) as fh:
        return bytes(fh.read_at(n, 0)) if fh.size() else b""


def read_tail(filesystem: Any, path: str, n: int) -> bytes:
    with filesystem.open_input_file(path) as fh:
        size = fh.size()
        return bytes(fh.read_at(min(n, size), max(0, size - n)))


# --------------------------------------------------------------------------- Hive partitions
def hive_values(relative: str) -> tuple[tuple[str, str | None], ...]:
    """``date=2026-12-01/region=eu/part-0.parquet`` → (("date", "2026-12-01"), ("region", "eu")):
    the folders of the part's path below the dataset's folder that read key=value, URL-decoded
    as Hive, Spark and pyarrow write them; Hive's default partition is null."""
    out = []
    for segment in relative.strip("/").split("/")[:-1]:
        key, sep, value = segment.partition("=")
        if not sep or not key:
            continue
        text = unquote(value)
        out.append((unquote(key), None if text == HIVE_NULL else text))
    return tuple(out)


def partition_schema(parts: tuple[Part, ...] | list[Part]) -> pa.Schema:
    """The partition columns and their types over every part: integers when every value is one,
    dates when every value is an ISO date, text otherwise. Keys in the order they first appear."""
    values: dict[str, list[str]] = {}
    for part in parts:
        for key, value in part.values:
            values.setdefault(key, [])
            if value is not None:
                values[key].append(value)
    return pa.schema([pa.field(k, _partition_type(v)) for k, v in values.items()])


def _partition_type(values: list[str]) -> pa.DataType:
    if values and all(_INT.match(v) for v in values):
        return pa.int64()
    if values and all(_DATE.match(v) and _is_date(v) for v in values):
        return pa.date32()
    return pa.string()


def _is_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def partition_scalars(part: Part, schema: pa.Schema) -> dict[str, pa.Scalar]:
    """The part's partition values as typed scalars (null for a key its path does not name)."""
    given = dict(part.values)
    out = {}
    for f in schema:
        value = given.get(f.name)
        if value is None:
            out[f.name] = pa.scalar(None, type=f.type)
        elif pa.types.is_date32(f.type):
            out[f.name] = pa.scalar(dt.date.fromisoformat(value), type=f.type)
        elif pa.types.is_integer(f.type):
            out[f.name] = pa.scalar(int(value), type=f.type)
        else:
            out[f.name] = pa.scalar(value, type=f.type)
    return out
