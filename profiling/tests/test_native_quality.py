"""Native evaluation (profiling.native_expectations) against Great Expectations itself: the same
data, validated by GX as one DataFrame (profiling.quality's own GX path) and natively from Arrow
record batches, must give the same result, field by field, for every expectation type done natively."""

import datetime as dt
import math

import numpy as np
import pyarrow as pa
import pytest

from profiling import expectations as gx_form
from profiling import quality
from profiling.native_expectations import NativeEvaluator

FIELDS = (
    "element_count",
    "missing_count",
    "missing_percent",
    "unexpected_count",
    "unexpected_percent",
    "unexpected_percent_total",
    "unexpected_percent_nonmissing",
    "partial_unexpected_list",
    "observed_value",
)


def _table(n: int = 3000, seed: int = 3) -> pa.Table:
    """Nulls, NaN, infinities, -0.0, repeated and unique values, text with empty strings and
    accents, booleans, timestamps and dates."""
    rng = np.random.default_rng(seed)
    ints = rng.integers(-50, 150, n)
    floats = np.round(rng.normal(10, 20, n), 2)
    floats[rng.random(n) < 0.05] = np.nan
    floats[::401] = np.inf
    floats[::577] = -0.0
    floats[5] = 0.0
    words = np.array(["alpha", "beta", "gamma", "", "delta9", "Épée", "x", "zz-top", "beta"])
    text = rng.choice(words, n).astype(object)
    text[rng.random(n) < 0.1] = None
    base = dt.datetime(2020, 1, 1)
    stamps = [base + dt.timedelta(hours=int(h)) for h in rng.integers(0, 5000, n)]
    return pa.table(
        {
            "id": pa.array(np.arange(n)),
            "dup": pa.array(rng.integers(0, n, n)),
            "i": pa.array(ints, mask=rng.random(n) < 0.07),
            "i_full": pa.array(ints),
            "f": pa.array(floats, mask=rng.random(n) < 0.03),
            "s": pa.array(list(text), type=pa.string()),
            "code": pa.array([f"C{v:03d}" for v in rng.integers(0, 400, n)]),
            "b": pa.array(list(rng.random(n) < 0.6), mask=rng.random(n) < 0.1),
            "b_full": pa.array(list(rng.random(n) < 0.6)),
            "ts": pa.array(stamps, type=pa.timestamp("s"), mask=rng.random(n) < 0.05),
            "day": pa.array([s.date() for s in stamps], type=pa.date32()),
            "f32": pa.array(floats.astype(np.float32)),
            "empty": pa.nulls(n, pa.float64()),
        }
    )


def _exp(etype: str, **kwargs) -> dict:
    return {"type": etype, "kwargs": kwargs}


def _map_suite() -> list[dict]:
    e = _exp
    out = []
    for col in ("id", "i", "i_full", "f", "s", "b", "b_full", "ts", "day", "empty"):
        out += [
            e("expect_column_values_to_not_be_null", column=col),
            e("expect_column_values_to_not_be_null", column=col, mostly=0.9),
            e("expect_column_values_to_be_null", column=col),
            e("expect_column_values_to_be_null", column=col, mostly=0.01),
        ]
    for col in ("id", "dup", "i", "f", "s", "code", "b", "ts", "day", "empty"):
        out.append(e("expect_column_values_to_be_unique", column=col))
    for col in ("i", "i_full", "f", "id"):
        out += [
            e("expect_column_values_to_be_between", column=col, min_value=0, max_value=100),
            e("expect_column_values_to_be_between", column=col, min_value=0, max_value=100, mostly=0.5),
            e("expect_column_values_to_be_between", column=col, min_value=0, strict_min=True),
            e("expect_column_values_to_be_between", column=col, max_value=10.5, strict_max=True),
            e("expect_column_values_to_be_between", column=col, min_value=-1e9, max_value=1e9),
        ]
    out += [
        e("expect_column_values_to_be_in_set", column="s", value_set=["alpha", "beta", "gamma"]),
        e("expect_column_values_to_be_in_set", column="s", value_set=["alpha", 1, None]),
        e("expect_column_values_to_be_in_set", column="i", value_set=[1, 2.0, 3, True, "4"]),
        e("expect_column_values_to_be_in_set", column="i_full", value_set=list(range(0, 100)), mostly=0.3),
        e("expect_column_values_to_be_in_set", column="f", value_set=[0, 10.5, -0.0]),
        e("expect_column_values_to_be_in_set", column="b", value_set=[True]),
        e("expect_column_values_to_be_in_set", column="b_full", value_set=[False, 1]),
        e("expect_column_values_to_not_be_in_set", column="s", value_set=["beta", ""]),
        e("expect_column_values_to_not_be_in_set", column="i", value_set=[7, 8, 9]),
        e("expect_column_values_to_match_regex", column="s", regex="^[a-g]"),
        e("expect_column_values_to_match_regex", column="s", regex=r"\d$", mostly=0.01),
        e("expect_column_values_to_match_regex", column="code", regex=r"^C0[0-4]"),
        e("expect_column_values_to_not_match_regex", column="s", regex="a"),
        e("expect_column_values_to_match_regex_list", column="s", regex_list=["^a", "^b"]),
        e("expect_column_values_to_match_regex_list", column="s", regex_list=["a", "l"], match_on="all"),
        e("expect_column_values_to_not_match_regex_list", column="code", regex_list=["7$", "^C1"]),
        e("expect_column_value_lengths_to_be_between", column="s", min_value=1, max_value=5),
        e("expect_column_value_lengths_to_be_between", column="s", min_value=4, strict_min=True),
        e("expect_column_value_lengths_to_equal", column="s", value=4),
        e("expect_column_value_lengths_to_equal", column="code", value=4),
    ]
    return out


def _aggregate_suite() -> list[dict]:
    e = _exp
    out = [
        e("expect_table_row_count_to_be_between", min_value=1, max_value=10_000),
        e("expect_table_row_count_to_equal", value=3000),
        e("expect_table_columns_to_match_set", column_set=["id", "i", "nope"], exact_match=False),
        e("expect_table_columns_to_match_set", column_set=list(_table(20).column_names)),
        e("expect_table_columns_to_match_ordered_list", column_list=list(_table(20).column_names)),
        e("expect_table_columns_to_match_ordered_list", column_list=["i", "id"]),
        e("expect_column_to_exist", column="s"),
        e("expect_column_to_exist", column="nope"),
        e("expect_column_to_exist", column="s", column_index=5),
        e("expect_table_column_count_to_equal", value=13),
        e("expect_table_column_count_to_be_between", min_value=1, max_value=5),
    ]
    for col in ("id", "i", "i_full", "f", "empty"):
        out += [
            e("expect_column_min_to_be_between", column=col, min_value=-60, max_value=0),
            e("expect_column_max_to_be_between", column=col, min_value=0, max_value=200),
            e("expect_column_mean_to_be_between", column=col, min_value=0, max_value=100),
            e("expect_column_median_to_be_between", column=col, min_value=0, max_value=100),
            e("expect_column_stdev_to_be_between", column=col, min_value=0, max_value=100),
            e("expect_column_sum_to_be_between", column=col, min_value=0),
            e("expect_column_unique_value_count_to_be_between", column=col, min_value=10, max_value=1000),
            e("expect_column_proportion_of_unique_values_to_be_between", column=col, min_value=0.5),
            e("expect_column_proportion_of_non_null_values_to_be_between", column=col, min_value=0.95),
            e(
                "expect_column_quantile_values_to_be_between",
                column=col,
                quantile_ranges={
                    "quantiles": [0.05, 0.5, 0.9],
                    "value_ranges": [[-50, 0], [0, 60], [0, 200]],
                },
            ),
        ]
    for col in ("id", "i", "f", "s", "b", "b_full", "ts", "day", "f32"):
        out += [
            e("expect_column_values_to_be_of_type", column=col, type_="int64"),
            e("expect_column_values_to_be_of_type", column=col, type_="float64"),
            e("expect_column_values_to_be_in_type_list", column=col, type_list=["int64", "str", "bool"]),
        ]
    return out


def _gx(table: pa.Table, suite: list[dict]) -> list[dict]:
    """GX's own results on the table as one DataFrame (profiling.quality's GX path, whole)."""
    return quality._Validator("gx", suite).validate(table.to_pandas())


def _native(
    table: pa.Table, suite: list[dict], *, batch: int = 700, parts: int = 1, cuts: list[int] | None = None
) -> NativeEvaluator:
    """Evaluate ``table`` in record batches, split into ``parts`` evaluators (or at the rows
    ``cuts``) merged in order."""
    if cuts is None:
        step = -(-table.num_rows // parts)
        cuts = list(range(step, table.num_rows, step))
    bounds = [0, *cuts, table.num_rows]
    evaluators = []
    for start, stop in zip(bounds, bounds[1:], strict=False):
        evaluator = NativeEvaluator(suite)
        for rb in table.slice(start, stop - start).to_batches(max_chunksize=batch):
            evaluator.consume(rb)
        evaluators.append(evaluator)
    for other in evaluators[1:]:
        evaluators[0].merge(other)
    return evaluators[0]


def _same(a, b) -> bool:
    """Equal as the API stores them (numpy scalars as numbers), ints and floats told apart."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    a, b = _plain(quality._json_safe(a)), _plain(quality._json_safe(b))
    return type(a) is type(b) and a == b


def _plain(v):
    if isinstance(v, bool | str) or v is None:
        return v
    if isinstance(v, int | np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        return float(v)
    return v


def _compare(table: pa.Table, raw_suite: list[dict], **kwargs) -> tuple[int, dict]:
    suite = gx_form.normalize_expectations(raw_suite)
    expected = _gx(table, suite)
    evaluator = _native(table, suite, **kwargs)
    ours = evaluator.results()
    for i, res in ours.items():
        want = expected[i]
        label = f"{suite[i]['type']} {suite[i]['kwargs']}"
        assert quality._error_of(res) == quality._error_of(want), label
        assert res["success"] == want["success"], label
        for key in FIELDS:
            assert (key in res["result"]) == (key in want["result"]), f"{label}: {key}"
            if key in want["result"]:
                assert _same(res["result"][key], want["result"][key]), (
                    f"{label}: {key}: {res['result'][key]!r} != {want['result'][key]!r}"
                )
        assert quality._api_result(suite[i], res, sampled=False) == quality._api_result(
            suite[i], want, sampled=False
        )
    return len(ours), evaluator.declined


def test_map_expectations_equal_gx_field_by_field():
    done, declined = _compare(_table(), _map_suite())
    # Everything here is done natively but regexes and lengths on non-text columns (none here)
    # and date or boolean columns against number bounds (none here): ts and day only decline
    # nothing for not-null, null and unique.
    assert declined == {}, declined
    assert done == len(_map_suite())


def test_aggregates_schema_and_types_equal_gx():
    done, declined = _compare(_table(), _aggregate_suite())
    suite = gx_form.normalize_expectations(_aggregate_suite())
    kinds = {suite[i]["type"] + ":" + str(suite[i]["kwargs"].get("column")) for i in declined}
    # Object columns (booleans with nulls, dates) are checked value by value by GX, and float32
    # is GX's: declined, not guessed.
    assert kinds <= {
        "expect_column_values_to_be_of_type:b",
        "expect_column_values_to_be_in_type_list:b",
        "expect_column_values_to_be_of_type:day",
        "expect_column_values_to_be_in_type_list:day",
    }, kinds
    assert done == len(suite) - 6  # three type expectations on each of b and day


@pytest.mark.parametrize("parts", [2, 5])
def test_parts_merged_equal_one_pass(parts):
    suite = _map_suite() + _aggregate_suite()
    done, declined = _compare(_table(seed=11), suite, batch=333, parts=parts)
    assert done > 150


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_cut_points_merged_equal_gx_on_the_whole(seed):
    # Cuts anywhere, empty parts and one-row parts included: the merged state is one pass's.
    rng = np.random.default_rng(seed)
    table = _table(n=1200, seed=seed)
    cuts = sorted(rng.integers(0, table.num_rows, 6).tolist() + [0, 1, table.num_rows - 1])
    done, _ = _compare(table, _map_suite() + _aggregate_suite(), batch=97, cuts=cuts)
    assert done > 150


def test_parts_read_with_other_types_leave_the_suite_to_gx():
    suite = gx_form.normalize_expectations([_exp("expect_column_values_to_not_be_null", column="x")])
    first, second = NativeEvaluator(suite), NativeEvaluator(suite)
    first.consume(pa.record_batch({"x": pa.array([1, 2])}))
    second.consume(pa.record_batch({"x": pa.array(["a", None])}))
    first.merge(second)
    assert first.results() == {} and "different types" in first.declined[0]


def test_declined_where_gx_answer_depends_on_more_than_the_values():
    table = _table(500)
    suite = gx_form.normalize_expectations(
        [
            _exp("expect_column_values_to_match_regex", column="i", regex="1"),  # "1" or "1.0"
            _exp("expect_column_values_to_be_between", column="ts", min_value="2020-01-01"),
            _exp("expect_column_values_to_be_between", column="f32", min_value=0.1),
            _exp("expect_column_values_to_be_in_set", column="ts", value_set=["2020-01-01"]),
            _exp("expect_column_values_to_not_be_null", column="nope"),
            _exp("expect_column_values_to_be_increasing", column="id"),
        ]
    )
    evaluator = _native(table, suite)
    assert evaluator.results() == {}
    assert sorted(evaluator.declined) == list(range(len(suite)))


def test_whole_column_metrics_past_the_memory_budget_are_declined():
    table = _table(2000)
    suite = gx_form.normalize_expectations(
        [
            _exp("expect_column_values_to_be_unique", column="id"),
            _exp("expect_column_mean_to_be_between", column="f"),
        ]
    )
    evaluator = NativeEvaluator(suite, keep_bytes=4000)
    for rb in table.to_batches(max_chunksize=100):
        evaluator.consume(rb)
    assert evaluator.results() == {}
    assert set(evaluator.declined) == {0, 1}


def test_whole_columns_are_let_go_once_their_last_expectation_is_evaluated():
    # Each kept column becomes a pandas column once, its Arrow chunks let go, and is dropped after
    # the last expectation that reads it: a suite over several big columns does not hold them twice.
    from profiling.native_metrics import KeptColumn

    table = _table(1500)
    raw = [
        _exp("expect_column_mean_to_be_between", column="i", min_value=0),
        _exp("expect_column_values_to_be_unique", column="id"),
        _exp("expect_column_median_to_be_between", column="i", min_value=0),  # i read again later
        _exp("expect_column_sum_to_be_between", column="f", min_value=0),
    ]
    done, declined = _compare(table, raw)
    assert done == 4 and declined == {}
    suite = gx_form.normalize_expectations(raw)
    evaluator = _native(table, suite)
    kept = {key: s for key, s in evaluator.states.items() if isinstance(s, KeptColumn)}
    assert len(kept) == 3 and evaluator.budget.left < evaluator.keep_bytes
    evaluator.results()
    assert all(s.chunks == [] and s._series is None for s in kept.values())
    assert evaluator.budget.left == evaluator.keep_bytes


def test_unique_lists_the_first_repeated_values_past_a_million_rows():
    # The first repeated cells are looked for a slice of 2**20 rows at a time: repeats that start
    # in the second slice, and nulls, give GX's list and count.
    n = (1 << 20) + 5_000
    values = np.arange(n, dtype=np.float64)
    values[(1 << 20) + 10 :: 97] = 7.0  # 7.0 first appears at row 7, its repeats past the first slice
    values[(1 << 20) - 3] = values[(1 << 20) + 1]
    mask = np.zeros(n, dtype=bool)
    mask[::1001] = True
    table = pa.table({"x": pa.array(values, mask=mask)})
    done, declined = _compare(table, [_exp("expect_column_values_to_be_unique", column="x")], batch=65_536)
    assert done == 1 and declined == {}
