"""Parts and merge with main's in-place reading and batch consumers: a Location read as a spec,
the quality suite fed by each part and merged like the states, Parquet parts read a few row groups
at a time."""

import pyarrow as pa
import pyarrow.parquet as pq

from profiling import expectations as gx_form
from profiling.engine import (
    Location,
    ProfileOptions,
    finish,
    merge_states,
    prepare,
    profile_file,
    profile_part,
)
from profiling.engine.parquet_reader import row_group_runs
from profiling.engine.parts import CellReader
from profiling.engine.spec import ProfileSpec
from profiling.native_expectations import NativeEvaluator

SUITE = [
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "x"}},
    {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "n", "min_value": 0, "max_value": 900},
    },
    {"type": "expect_table_row_count_to_equal", "kwargs": {"value": 3000}},
]


def _csv(tmp_path):
    lines = ["n,x"] + [f"{i},{'' if i % 11 == 0 else 'v' + str(i % 5)}" for i in range(3000)]
    path = tmp_path / "f.csv"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_consumers_of_parts_merge_into_one_pass(tmp_path):
    path = _csv(tmp_path)
    suite = gx_form.normalize_expectations(SUITE)
    whole = NativeEvaluator(suite)
    one = profile_file(path, format="csv", batch_consumers=[whole])
    spec = prepare(path, format="csv", options=ProfileOptions(cell_bytes=4096))
    layout = spec.parts(3)
    assert len(layout) == 3
    evaluators = [NativeEvaluator(suite) for _ in layout]
    states = [
        profile_part(spec, cells, batch_consumers=[e]) for cells, e in zip(layout, evaluators, strict=True)
    ]
    for other in evaluators[1:]:
        evaluators[0].merge(other)
    merged = finish(merge_states(states))
    assert merged.row_count == one.row_count == 3000
    assert evaluators[0].rows == whole.rows == 3000
    assert evaluators[0].results() == whole.results()
    assert whole.results()[0]["result"]["unexpected_count"] == 273


def test_a_location_is_a_spec_read_where_it_is(tmp_path):
    path = _csv(tmp_path)
    location = Location(format="csv", path=path)
    spec = prepare(location)
    assert spec.location is location and spec.format == "csv"
    # JSON leaves the location out; a part task gives it back.
    again = ProfileSpec.from_json(spec.to_json(), location=location)
    assert again.location is location and "location" not in spec.to_dict()
    result = finish(profile_part(again))
    assert result.row_count == 3000
    assert result.columns == profile_file(path, format="csv").columns


def test_parquet_parts_run_only_their_row_groups(tmp_path):
    path = tmp_path / "f.parquet"
    pq.write_table(pa.table({"n": list(range(1000))}), path, row_group_size=100)
    meta = pq.ParquetFile(path).metadata
    assert row_group_runs(meta, None, groups=[2, 3, 4, 7]) == [[2, 3, 4], [7]]
    assert row_group_runs(meta, None, budget=1, groups=[2, 3]) == [[2], [3]]
    spec = prepare(str(path), format="parquet")
    states = [profile_part(spec, cells) for cells in spec.parts(3)]
    assert len(states) == 3 and sum(s.row_count for s in states) == 1000
    assert finish(merge_states(states)).row_count == 1000


def test_a_partitioned_dataset_reports_progress_as_it_is_read(tmp_path):
    from profiling.tests.engine.test_partitioned import dataset

    files = {f"day=2024-01-0{d}/p.csv": "n\n" + "\n".join(str(i) for i in range(2000)) + "\n" for d in (1, 2)}
    location = dataset(tmp_path, "csv", files)
    result = profile_file(location, options=ProfileOptions(block_bytes=4096))
    assert result.row_count == 4000 and result.method["location"]["kind"] == "partitioned"
    spec = prepare(location, options=ProfileOptions(block_bytes=4096))
    reader = CellReader(spec, spec.plan(), spec.cells)
    fractions = [reader.fraction() for _batch in reader]
    assert 0 < fractions[0] < 1 and fractions == sorted(fractions), fractions
