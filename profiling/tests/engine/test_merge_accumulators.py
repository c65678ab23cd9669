"""Each accumulator's merge against the same accumulator fed every batch (one pass): column
statistics through exact tables and sketches, the row sample, bias counts; states as bytes; the
spec and its parts; a part that needs a wider type restarts the whole profile."""

import gzip
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from profiling.engine import (
    ProfileError,
    ProfileOptions,
    ProfileSpec,
    Retype,
    finish,
    from_bytes,
    merge_states,
    prepare,
    profile_file,
    profile_part,
    to_bytes,
    widen,
)
from profiling.engine.bias import BiasAccumulator
from profiling.engine.columns import ColumnStats
from profiling.engine.sketches import RowSample
from profiling.tests.engine.conftest import column, profile_in_parts


def fed(arrow_type: pa.DataType, batches: list[pa.Array], limit: int = 1_000) -> ColumnStats:
    c = ColumnStats("c", arrow_type, exact_limit=limit)
    for b in batches:
        c.update(b)
    return c


def merged(arrow_type: pa.DataType, groups: list[list[pa.Array]], limit: int = 1_000) -> ColumnStats:
    parts = [fed(arrow_type, g, limit) for g in groups]
    for p in parts[1:]:
        parts[0].merge(p)
    return parts[0]


def batches_of(values: pa.Array, size: int) -> list[pa.Array]:
    return [values.slice(i, size) for i in range(0, len(values), size)]


CASES = {
    # distinct values per part / in all (limit 1,000): exact + exact staying exact, exact + exact
    # over the limit, sketched + exact, exact + sketched, sketched + sketched, a part of nulls.
    "exact": [np.arange(500) % 300, np.arange(500) % 300 + 200],
    "switch at merge": [np.arange(800), np.arange(800) + 700],
    "sketched then exact": [np.arange(3000), np.arange(100)],
    "exact then sketched": [np.arange(100) * 7, np.arange(5000)],
    "both sketched": [np.arange(4000), np.arange(2000, 9000)],
    "nulls then values": [None, np.arange(2000)],
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("kind", ["integer", "float", "string"])
def test_column_merge_is_the_pass_over_both(case, kind):
    arrays = []
    for values in CASES[case]:
        if values is None:
            arr = pa.nulls(700, type=pa.int64())
        else:
            arr = pa.array(values * 3 + 1, type=pa.int64())
        if kind == "float":
            arr = pa.compute.divide(arr.cast(pa.float64()), 4.0)
        elif kind == "string":
            arr = arr.cast(pa.string())
        arrays.append(arr)
    t = arrays[0].type
    one = fed(t, [b for a in arrays for b in batches_of(a, 333)])
    two = merged(t, [batches_of(a, 250) for a in arrays])
    assert (two.rows, two.nulls, two.n, two.min, two.max, two.exact) == (
        one.rows,
        one.nulls,
        one.n,
        one.min,
        one.max,
        one.exact,
    )
    a = one.finish(bins=10, top_k=5)
    b = two.finish(bins=10, top_k=5)
    if one.exact:
        assert b == a
        return
    # Sketches: HyperLogLog and count-min are the same registers and counts as one pass's.
    assert np.array_equal(one.hll.registers, two.hll.registers)
    assert np.array_equal(one.cms.table, two.cms.table)
    assert b["distinct_count"] == a["distinct_count"]
    if kind != "string":
        assert b["mean"] == pytest.approx(a["mean"], rel=1e-12)
        assert b["std"] == pytest.approx(a["std"], rel=1e-12)
        assert two.kll.n == one.kll.n == one.n
        values = np.sort(np.concatenate([a.drop_null().cast(pa.float64()).to_numpy() for a in arrays]))
        err = 2 * two.kll.normalized_rank_error(False)
        for q, v in b["quantiles"].items():
            rank = np.searchsorted(values, v, side="right") / len(values)
            assert abs(rank - float(q)) <= err + 1 / len(values)


def test_value_tables_merge_whatever_the_order_of_the_rows():
    rng = np.random.default_rng(3)
    words = pa.array([f"w{i}" for i in rng.integers(0, 900, 5000)])
    one = fed(pa.string(), [words])
    parts = merged(pa.string(), [[words.slice(3000)], [words.slice(0, 1200)], [words.slice(1200, 1800)]])
    a, b = one.finish(bins=10, top_k=10), parts.finish(bins=10, top_k=10)
    assert a == b and a["distinct_count"] == len(set(words.to_pylist()))
    # Ties at the cut of the top values go to the smallest values, so drift's table agrees too.
    assert one.drift_state(None, max_sample=10) == parts.drift_state(None, max_sample=10)


def test_a_column_that_could_not_be_summarised_in_one_part_is_counted_in_all():
    good = fed(pa.int64(), [pa.array([1, 2, None])])
    bad = fed(pa.int64(), [pa.array([3])])
    bad.family, bad.unsupported = "nested", "int64: something pyarrow cannot do"
    good.merge(bad)
    assert good.family == "nested" and good.rows == 4 and good.nulls == 1
    with pytest.raises(ValueError):
        good.merge(fed(pa.string(), [pa.array(["x"])]))


def test_row_samples_of_parts_merge_into_the_sample_of_one_pass():
    batch = pa.record_batch({"i": np.arange(20_000)})
    one = RowSample(500, seed=7)
    for start in range(0, 20_000, 3_000):
        one.update(batch.slice(start, 3_000))
    parts = []
    for lo, hi in ((0, 4_500), (4_500, 4_600), (4_600, 20_000)):
        s = RowSample(500, seed=7)
        s.update(batch.slice(lo, hi - lo), first_id=lo)
        parts.append(s)
    parts[2].merge(parts[0])
    parts[2].merge(parts[1])
    assert parts[2].result().equals(one.result())
    assert len(set(one.result().column("i").to_pylist())) == 500
    other_seed = RowSample(500, seed=8)
    other_seed.update(batch)
    assert not other_seed.result().equals(one.result())


def test_bias_counts_merge_and_too_many_groups_survive_a_merge():
    def acc_of(groups: list[str], labels: list[int]) -> BiasAccumulator:
        a = BiasAccumulator(["g"], "y", 1, max_groups=3)
        a.update(pa.record_batch({"g": pa.array(groups), "y": pa.array(labels)}))
        return a

    one = acc_of(["a", "b", "a", None, "c"], [1, 0, 0, 1, None])
    first, second = acc_of(["a", "b"], [1, 0]), acc_of(["a", None, "c"], [0, 1, None])
    first.merge(second)
    assert first.result(row_count=5, representation_threshold=0.1) == one.result(
        row_count=5, representation_threshold=0.1
    )
    # Two parts of three groups each, four in all: past max_groups only once merged.
    x, y = acc_of(["a", "b", "c"], [1, 1, 1]), acc_of(["d", "b", "c"], [1, 1, 1])
    x.merge(y)
    assert x.too_many == {"g"}


def test_states_go_through_bytes_and_finish_alike(write_table):
    rng = np.random.default_rng(1)
    n = 4000
    table = pa.table(
        {
            "id": np.arange(n),
            "word": [f"w{i % 1500}" for i in range(n)],
            "when": pa.array(np.datetime64("2024-01-01") + rng.integers(0, 900, n).astype("timedelta64[D]")),
            "tags": pa.array([[i % 3] for i in range(n)]),
            "g": rng.choice(["f", "m"], n),
            "y": rng.integers(0, 2, n),
        }
    )
    path = write_table(table, "parquet")
    kw = dict(format="parquet", sensitive_columns=["g"], label_column="y", positive_label=1)
    spec = prepare(path, **kw)
    assert len(spec.cells) >= 3 and spec.split  # the fixture writes row groups of a third
    state = profile_part(spec)
    data = to_bytes(state)
    again = from_bytes(data)
    assert to_bytes(again) == data
    a, b = finish(state), finish(from_bytes(data))
    for r in (a, b):
        r.method.pop("seconds")
    assert a.columns == b.columns and a.bias == b.bias and a.method == b.method
    with pytest.raises(ProfileError):
        from_bytes(b"not a state")
    with pytest.raises(ProfileError):
        from_bytes(data[:4] + b"\xff" * 12 + data[16:])


def test_states_merged_from_an_iterator_are_let_go_one_by_one(write_table):
    # What the merge task does: each part's state decoded from its bytes as the merge needs it;
    # a state merged in is no longer held when the next one is made (two states at a time, not all).
    import gc
    import weakref

    table = pa.table({"id": np.arange(9_999), "w": [f"w{i % 4000}" for i in range(9_999)]})
    path = write_table(table, "parquet")
    spec = prepare(path, format="parquet")
    blobs = [to_bytes(profile_part(spec, [cell])) for cell in range(len(spec.cells))]
    made: list[weakref.ref] = []

    def states():
        for blob in blobs:
            gc.collect()
            # Every state before the last one made is gone, but the first (it holds the merge).
            assert [ref() is None for ref in made[1:-1]] == [True] * len(made[1:-1])
            state = from_bytes(blob)
            made.append(weakref.ref(state))
            yield state
            del state

    streamed = finish(merge_states(states()))
    listed = finish(merge_states([from_bytes(b) for b in blobs]))
    assert len(made) == len(blobs) >= 3
    for r in (streamed, listed):
        r.method.pop("seconds")
    assert streamed.columns == listed.columns and streamed.method == listed.method


def test_parts_are_runs_of_cells_and_all_must_be_there(write_table):
    table = pa.table({"x": np.arange(9_999)})  # three row groups of 3,333
    path = write_table(table, "parquet")
    spec = ProfileSpec.from_json(prepare(path, format="parquet").to_json())
    assert spec.parts(2) == [[0], [1, 2]] or spec.parts(2) == [[0, 1], [2]]
    assert spec.parts(10) == [[0], [1], [2]] and spec.parts(1) == [[0, 1, 2]]
    states = [profile_part(spec, cells) for cells in spec.parts(3)]
    with pytest.raises(ProfileError, match="missing 1 of the file's 3 parts"):
        finish(merge_states(states[:2]))
    with pytest.raises(ValueError, match="overlap"):
        merge_states([profile_part(spec, [0, 1]), profile_part(spec, [1, 2])])
    with pytest.raises(ValueError):
        profile_part(spec, [7])
    other = prepare(path, format="parquet", options=ProfileOptions(top_values=3))
    with pytest.raises(ProfileError, match="different specs"):
        merge_states([profile_part(spec, [0]), profile_part(other, [1, 2])])


def test_a_part_that_needs_a_wider_type_restarts_the_whole_profile(write):
    # Integers in the first block, text in a later cell: the part that meets it raises Retype.
    text = "id,v\n" + "".join(f"{i},{i % 50}\n" for i in range(3000)) + "9999,oops\n"
    path = write("late.csv", text)
    options = ProfileOptions(cell_bytes=4096, block_bytes=4096)
    spec = prepare(path, format="csv", options=options)
    assert spec.plan().schema_types["v"] == pa.int64()
    *_, last = spec.parts(3)
    with pytest.raises(Retype) as caught:
        profile_part(spec, last)
    widened = widen(spec, caught.value)
    assert widened.plan().column_types["v"] == pa.string()
    assert json.loads(widened.to_json())["retypes"][0]["column"] == "v"
    result, _ = profile_in_parts(path, 3, format="csv", options=options)
    one = profile_file(path, format="csv", options=options)
    assert result.columns == one.columns and result.warnings == one.warnings
    assert any("Column v mixes kinds of values" in w for w in result.warnings)


def test_gzip_and_json_lines_are_one_part(write):
    text = "a,b\n" + "1,2\n" * 5000
    gz = write("a.csv.gz", text, gz=True)
    jl = write("a.jsonl", "".join(json.dumps({"a": i}) + "\n" for i in range(3000)))
    for path, fmt, comp in ((gz, "csv", "gzip"), (jl, "jsonl", "")):
        spec = prepare(path, format=fmt, compression=comp, options=ProfileOptions(cell_bytes=4096))
        assert len(spec.cells) == 1 and not spec.split
        assert finish(profile_part(spec)).row_count in (5000, 3000)
    assert gzip.decompress(open(gz, "rb").read()).startswith(b"a,b")


def test_an_empty_parquet_file_and_a_part_without_rows(tmp_path):
    path = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"x": pa.array([], type=pa.int64())}), path)
    result, _ = profile_in_parts(str(path), 2, format="parquet")
    assert result.row_count == 0 and column(result, "x")["null_count"] == 0


def test_drift_sketch_of_a_big_exact_column_keeps_its_shares():
    # Drift's KLL of an exact column is fed scaled-down counts past about a million rows.
    import base64

    import datasketches as ds

    rng = np.random.default_rng(2)
    values = rng.zipf(1.3, 3_000_000) % 200
    c = fed(pa.int64(), batches_of(pa.array(values), 1 << 16))
    assert c.exact
    state = c.drift_state(None, max_sample=10)
    sketch = ds.kll_doubles_sketch.deserialize(base64.b64decode(state["kll"]))
    assert sketch.n < 1_200_000 and state["n"] == 3_000_000
    ordered = np.sort(values)
    for q in (0.1, 0.5, 0.9):
        v = sketch.get_quantile(q)
        lower = np.searchsorted(ordered, v, side="left") / len(values)
        upper = np.searchsorted(ordered, v, side="right") / len(values)
        assert lower - 0.03 <= q <= upper + 0.03
