"""Parts merged give the profile of one pass: random data (integers, floats with NaN and infinities,
text with commas, quotes and newlines, nulls, dates, timestamps, booleans, a sensitive column and a
label) split at random cell boundaries, the parts' states shipped as bytes and merged in random
trees. Exact figures must be identical; a sketched column's quantiles and histogram within KLL's
error of the truth, its mean and deviation within floating-point rounding."""

import datasketches as ds
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from profiling.engine import (
    ProfileOptions,
    finish,
    from_bytes,
    merge_states,
    prepare,
    profile_file,
    profile_part,
    to_bytes,
)
from profiling.engine.columns import KLL_K
from profiling.engine.spec import ProfileSpec

# KLL's stated normalised rank error (99 % confidence), doubled so that a test cannot flake.
RANK_ERROR = 2 * ds.kll_doubles_sketch.get_normalized_rank_error(KLL_K, False)
WORDS = ["a", "b,c", 'say "hi"', "two\nlines", "é", "", " x "]
SETTINGS = settings(
    max_examples=int(__import__("os").environ.get("MERGE_EXAMPLES", 25)),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


@st.composite
def tables(draw) -> pa.Table:
    n = draw(st.integers(0, 2000))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    null_p = draw(st.sampled_from([0.0, 0.1, 0.6, 1.0]))
    vocab = draw(st.sampled_from([3, 40, 3000]))
    spread = draw(st.sampled_from([5, 10**6]))  # few distinct integers (exact) or many (sketched)

    def nulls() -> np.ndarray:
        return rng.random(n) < null_p

    floats = rng.normal(10, 3, n)
    floats[rng.random(n) < 0.05] = np.nan
    floats[rng.random(n) < 0.01] = np.inf
    words = np.array([f"{WORDS[i % len(WORDS)]}{i}" for i in range(vocab)], dtype=object)
    late = np.where(np.arange(n) < n * 0.7, np.nan, rng.integers(0, 9, n))
    day = np.datetime64("2021-01-01")
    return pa.table(
        {
            "i": pa.array(rng.integers(-spread, spread, n), mask=nulls()),
            "f": pa.array(floats, mask=nulls()),
            "s": pa.array(words[rng.integers(0, vocab, n)] if n else [], type=pa.string(), mask=nulls()),
            "d": pa.array(day + rng.integers(0, 3000, n).astype("timedelta64[D]"), mask=nulls()),
            "t": pa.array(
                np.datetime64("2021-01-01T00:00:00") + rng.integers(0, 10**8, n).astype("timedelta64[s]"),
                mask=nulls(),
            ),
            "b": pa.array(rng.random(n) < 0.3, mask=nulls()),
            "late": pa.array(late, mask=np.isnan(late)).cast(pa.int64()),
            "g": pa.array(
                rng.choice(["x", "y", "z"], n) if n else [], type=pa.string(), mask=rng.random(n) < 0.05
            ),
            "label": rng.integers(0, 2, n),
        }
    )


def write_parquet(table: pa.Table, path, sizes: list[int]) -> None:
    with pq.ParquetWriter(str(path), table.schema) as writer:
        start = 0
        for size in sizes:
            if start >= table.num_rows:
                break
            writer.write_table(table.slice(start, size), row_group_size=size)
            start += size
        if start < table.num_rows or table.num_rows == 0:
            writer.write_table(table.slice(start))


def in_parts(path: str, data, kw: dict):
    """Random parts, shipped as bytes, merged in a random tree of adjacent parts (after a Retype
    in any part, the whole profile again with the widened spec)."""
    from profiling.engine import Retype, widen

    spec = prepare(path, **kw)
    while True:
        spec = ProfileSpec.from_json(spec.to_json())
        count = len(spec.cells)
        cuts = sorted(data.draw(st.sets(st.integers(1, max(1, count - 1)), max_size=6))) if count > 1 else []
        bounds = [0, *[c for c in cuts if c < count], count]
        layout = [list(range(a, b)) for a, b in zip(bounds, bounds[1:], strict=False) if b > a]
        try:
            states = [from_bytes(to_bytes(profile_part(spec, cells))) for cells in layout]
        except Retype as retype:
            spec = widen(spec, retype)
            continue
        while len(states) > 1:
            i = data.draw(st.integers(0, len(states) - 2))
            states[i : i + 2] = [merge_states([states[i + 1], states[i]])]
        return finish(states[0])


def truth(table: pa.Table, name: str) -> np.ndarray:
    col = table.column(name).drop_null()
    if pa.types.is_timestamp(col.type) or pa.types.is_date(col.type):
        col = col.cast(pa.int64()) if pa.types.is_timestamp(col.type) else col.cast(pa.int32())
    values = col.to_numpy().astype(np.float64)
    return np.sort(values[np.isfinite(values)])


def assert_within_kll_error(values: np.ndarray, reported: dict) -> None:
    n = len(values)
    for q, v in reported.items():
        lower = np.searchsorted(values, v, side="left") / n
        upper = np.searchsorted(values, v, side="right") / n
        assert lower - RANK_ERROR <= float(q) <= upper + RANK_ERROR, (q, v, lower, upper)


def assert_same_profile(one, merged, table: pa.Table) -> None:
    assert merged.row_count == one.row_count == table.num_rows
    assert merged.schema == one.schema
    assert merged.warnings == one.warnings
    assert merged.pii == one.pii and merged.bias == one.bias
    for key in ("read_types", "restarts", "skipped_rows", "sample_rows", "pii_rates", "proxy_associations"):
        assert merged.method.get(key) == one.method.get(key), key
    for a, b in zip(one.columns, merged.columns, strict=True):
        exact = one.method["columns"][a["name"]]["exact"]
        assert merged.method["columns"][a["name"]]["exact"] == exact
        if exact:
            assert b == a, a["name"]  # every figure, floats to the last bit
            continue
        loose = ("mean", "std", "quantiles", "histogram")
        assert {k: v for k, v in b.items() if k not in loose} == {
            k: v for k, v in a.items() if k not in loose
        }
        if a["mean"] is not None:
            assert b["mean"] == pytest.approx(a["mean"], rel=1e-9, abs=1e-9 * (a["std"] or 1))
            assert b["std"] == pytest.approx(a["std"], rel=1e-9)
        if a["histogram"] is not None:
            assert b["histogram"]["bins"] == a["histogram"]["bins"]
        if a["type"] not in ("integer", "float") or a["quantiles"] is None:
            continue  # dates: quantiles and histogram edges are text, checked alike above
        values = truth(table, a["name"])
        assert_within_kll_error(values, b["quantiles"])
        true_counts, _ = np.histogram(values, bins=np.array(a["histogram"]["bins"]))
        slack = 2 * RANK_ERROR * len(values) + 1
        assert np.all(np.abs(np.array(b["histogram"]["counts"]) - true_counts) <= slack)
    for name, state in one.drift_state["columns"].items():
        other = merged.drift_state["columns"][name]
        assert {k: v for k, v in other.items() if k != "kll"} == {
            k: v for k, v in state.items() if k != "kll"
        }


KW = dict(sensitive_columns=["g"], label_column="label", positive_label=1)


@SETTINGS
@given(tables(), st.lists(st.integers(1, 900), min_size=1, max_size=12), st.data())
def test_parquet_row_groups_merged_equal_one_pass(tmp_path_factory, table, sizes, data):
    path = tmp_path_factory.mktemp("pq") / "t.parquet"
    write_parquet(table, path, sizes)
    kw = dict(format="parquet", options=ProfileOptions(exact_distinct_limit=1_000), **KW)
    one = profile_file(str(path), **kw)
    assert_same_profile(one, in_parts(str(path), data, kw), table)


@SETTINGS
@given(tables(), st.sampled_from([4096, 1 << 22]), st.data())
def test_csv_cells_merged_equal_one_pass(tmp_path_factory, table, block, data):
    path = tmp_path_factory.mktemp("csv") / "t.csv"
    pacsv.write_csv(table, str(path))
    options = ProfileOptions(exact_distinct_limit=1_000, cell_bytes=4096, block_bytes=block)
    kw = dict(format="csv", options=options, **KW)
    one = profile_file(str(path), **kw)
    read = pacsv.read_csv(str(path), convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
    assert_same_profile(one, in_parts(str(path), data, kw), read)
