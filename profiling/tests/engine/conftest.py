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


def profile_in_parts(path: str, parts: int | list[list[int]] | None = None, *, ship: bool = True, **kw):
    """Profile a file as the parts tasks would: prepare, every part apart (their states through
    bytes when ``ship``), the whole profile again after a Retype, merge, finish → (result, spec).
    ``parts``: how many, or the cell indexes of each (a callable spec -> list also works)."""
    from profiling.engine import (
        Retype,
        finish,
        from_bytes,
        merge_states,
        prepare,
        profile_part,
        retype_from_dict,
        retype_to_dict,
        to_bytes,
        widen,
    )
    from profiling.engine.spec import ProfileSpec

    spec = prepare(path, **kw)
    while True:
        spec = ProfileSpec.from_json(spec.to_json())
        layout = parts(spec) if callable(parts) else parts
        layout = spec.parts(layout or 2) if not isinstance(layout, list) else layout
        try:
            states = [profile_part(spec, cells) for cells in layout]
        except Retype as retype:
            spec = widen(spec, retype_from_dict(retype_to_dict(retype), spec))
            continue
        if ship:
            states = [from_bytes(to_bytes(s)) for s in states]
        return finish(merge_states(states)), spec
