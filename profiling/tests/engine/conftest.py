"""Helpers for the engine tests: files written to tmp_path in every format the engine reads."""

import gzip

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest


@pytest.fixture
def write(tmp_path):
    """write(name, text_or_bytes, gz=False) -> path as str."""

    def make(name: str, content, *, gz: bool = False) -> str:
        data = content.encode("utf-8") if isinstance(content, str) else content
        path = tmp_path / name
        if gz:
            data = gzip.compress(data)
        path.write_bytes(data)
        return str(path)

    return make


@pytest.fixture
def write_table(tmp_path):
    """write_table(table, fmt, name=None) -> path; fmt is csv, tsv or parquet."""

    def make(table: pa.Table, fmt: str = "csv", name: str | None = None) -> str:
        path = tmp_path / (name or f"data.{fmt}")
        if fmt == "parquet":
            pq.write_table(table, path, row_group_size=max(1, table.num_rows // 3 or 1))
        else:
            pacsv.write_csv(
                table, path, write_options=pacsv.WriteOptions(delimiter="\t" if fmt == "tsv" else ",")
            )
        return str(path)

    return make


def column(result, name: str) -> dict:
    return next(c for c in result.columns if c["name"] == name)
