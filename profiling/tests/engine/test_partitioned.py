"""Hive-partitioned datasets read by the engine (profiling.engine.dataset_reader): parts that disagree
on types or columns, null partitions, and selecting partition columns."""

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from profiling.engine import Location, Part, iter_batches, profile_file
from profiling.engine.location import hive_values, partition_schema
from profiling.tests.engine.conftest import column


def dataset(root: Path, fmt: str, files: dict[str, str | pa.Table]) -> Location:
    parts = []
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, pa.Table):
            pq.write_table(content, path)
        else:
            path.write_text(content)
        parts.append(Part(path=str(path), size=path.stat().st_size, values=hive_values(relative)))
    return Location(format=fmt, path=str(root), parts=tuple(parts), partitioning="hive")


def test_hive_values_and_their_types():
    assert hive_values("year=2026/region=eu%2Fwest/part-0.csv") == (("year", "2026"), ("region", "eu/west"))
    assert hive_values("day=__HIVE_DEFAULT_PARTITION__/x.csv") == (("day", None),)
    parts = [
        Part("a", values=(("n", "1"), ("d", "2026-01-31"), ("s", "x"))),
        Part("b", values=(("n", "20"), ("d", None), ("s", "2"))),
    ]
    schema = partition_schema(parts)
    assert [(f.name, str(f.type)) for f in schema] == [("n", "int64"), ("d", "date32[day]"), ("s", "string")]


def test_a_later_csv_part_with_decimals_widens_the_column_for_every_part(tmp_path):
    location = dataset(
        tmp_path,
        "csv",
        {
            "k=1/part.csv": "x,name\n1,a\n2,b\n",
            "k=2/part.csv": "x,name\n2.5,c\n,d\n",
        },
    )
    r = profile_file(location)
    assert r.row_count == 4
    x = column(r, "x")
    assert x["type"] == "float" and x["null_count"] == 1
    assert x["mean"] == pytest.approx((1 + 2 + 2.5) / 3)
    assert column(r, "k")["type"] == "integer"


def test_a_csv_part_keeps_the_first_parts_text_column_as_text(tmp_path):
    # Digits in the second part stay text (zip codes keep their leading zero).
    location = dataset(tmp_path, "csv", {"p=a/f.csv": "zip\nA1\n", "p=b/f.csv": "zip\n01234\n"})
    r = profile_file(location)
    assert {v["value"] for v in column(r, "zip")["top_values"]} == {"A1", "01234"}


def test_json_parts_missing_a_field_give_nulls_and_a_null_partition_is_null(tmp_path):
    rows = [json.dumps({"a": i, "b": f"t{i}"}) for i in range(3)]
    location = dataset(
        tmp_path,
        "jsonl",
        {
            "day=2026-12-01/p.jsonl": "\n".join(rows) + "\n",
            "day=__HIVE_DEFAULT_PARTITION__/p.jsonl": '{"a": 7}\n',
        },
    )
    r = profile_file(location)
    assert r.row_count == 4
    assert column(r, "b")["null_count"] == 1
    assert column(r, "day")["null_count"] == 1 and column(r, "day")["type"] == "datetime"


def test_parquet_parts_selected_columns_include_partition_columns(tmp_path):
    table = pa.table({"v": [1, 2, 3], "w": ["x", "y", "z"]})
    location = dataset(tmp_path, "parquet", {"g=1/a.parquet": table, "g=2/a.parquet": table})
    batches = list(iter_batches(location, columns=["g", "v"], batch_rows=100))
    got = pa.Table.from_batches(batches)
    assert got.column_names == ["g", "v"]
    assert got.column("g").to_pylist() == [1, 1, 1, 2, 2, 2]
    assert profile_file(location).row_count == 6
