"""Column statistics: type inference, and exact and sketched figures against pandas."""

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from profiling.engine import ProfileOptions, iter_batches, profile_file
from profiling.tests.engine.conftest import column


@pytest.fixture(scope="module")
def medium(tmp_path_factory):
    """60,000 rows: numbers with nulls, a skewed float, low- and high-cardinality text, dates, booleans."""
    rng = np.random.default_rng(7)
    n = 60_000
    income = rng.lognormal(10, 0.5, n).round(2)
    income[rng.random(n) < 0.1] = np.nan
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "income": income,
            "city": rng.choice(["Paris", "Lyon", "Nice", "Lille"], n),
            "code": [f"k{v}" for v in rng.integers(0, 40_000, n)],
            "day": pd.to_datetime("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D"),
            "flag": rng.random(n) < 0.3,
        }
    )
    path = tmp_path_factory.mktemp("medium") / "medium.csv"
    frame.to_csv(path, index=False, date_format="%Y-%m-%d")
    return str(path), frame


def test_inferred_types(medium):
    path, _ = medium
    r = profile_file(path, format="csv")
    assert {c["name"]: c["type"] for c in r.schema} == {
        "age": "integer",
        "income": "float",
        "city": "categorical",
        "code": "string",
        "day": "datetime",
        "flag": "boolean",
    }


@pytest.mark.parametrize("limit", [1_000_000, 500])  # exact tables / sketches from early on
def test_figures_agree_with_pandas(medium, limit, tmp_path):
    def write_small(series):
        p = tmp_path / "small.csv"
        series.to_frame().to_csv(p, index=False)
        return str(p)

    path, frame = medium
    r = profile_file(
        path, format="csv", options=ProfileOptions(exact_distinct_limit=limit, block_bytes=256 * 1024)
    )
    assert r.row_count == len(frame)
    sketched = limit < 1000
    income = column(r, "income")
    s = frame["income"]
    assert income["null_count"] == int(s.isna().sum())
    assert income["null_fraction"] == pytest.approx(s.isna().mean())
    assert income["min"] == pytest.approx(s.min()) and income["max"] == pytest.approx(s.max())
    assert income["mean"] == pytest.approx(s.mean(), rel=1e-9)
    assert income["std"] == pytest.approx(s.std(), rel=1e-6)
    for q, v in income["quantiles"].items():
        expected = s.quantile(float(q))
        if sketched:
            # KLL: the rank of the answer is within about 2 % of the asked rank.
            assert abs((s.dropna() <= v).mean() - float(q)) < 0.02, q
        else:
            assert v == pytest.approx(expected), q
    assert sum(income["histogram"]["counts"]) == pytest.approx(s.notna().sum(), rel=0.01 if sketched else 0)
    assert len(income["histogram"]["bins"]) == len(income["histogram"]["counts"]) + 1
    distinct = s.nunique()
    if sketched:
        assert income["distinct_count"] == pytest.approx(distinct, rel=0.03)
    else:
        assert income["distinct_count"] == distinct

    code = column(r, "code")
    assert code["distinct_count"] == pytest.approx(frame["code"].nunique(), rel=0.03 if sketched else 0)
    top = frame["code"].value_counts()
    assert code["top_values"][0]["count"] >= top.iloc[0] - (5 if sketched else 0)
    assert code["top_values"][0]["count"] <= top.iloc[0] + (60 if sketched else 0)

    age = column(r, "age")
    assert age["distinct_count"] == frame["age"].nunique()  # 62 values: exact either way
    assert age["quantiles"]["0.5"] == pytest.approx(frame["age"].median())
    expected, _ = np.histogram(frame["age"], bins=age["histogram"]["bins"])
    assert age["histogram"]["counts"] == expected.tolist()
    visits = profile_file(write_small(frame["age"] % 7), format="csv")
    v = column(visits, "age")
    # Few integer values: one bin per value.
    assert v["histogram"]["counts"] == [int((frame["age"] % 7 == k).sum()) for k in range(7)]

    city = column(r, "city")
    vc = frame["city"].value_counts()
    assert [(t["value"], t["count"]) for t in city["top_values"]] == list(
        zip(vc.index, vc.tolist(), strict=True)
    )

    day = column(r, "day")
    assert day["min"] == frame["day"].min().date().isoformat()
    assert day["max"] == frame["day"].max().date().isoformat()
    assert day["mean"] is None and day["quantiles"] is None
    iso = r.method["columns"]["day"]["datetime_quantiles"]
    assert iso["0.5"][:10] == frame["day"].quantile(0.5).date().isoformat() or sketched
    flag = column(r, "flag")
    assert flag["mean"] == pytest.approx(frame["flag"].mean())
    assert {t["value"] for t in flag["top_values"]} == {True, False}
    assert r.method["columns"]["income"]["exact"] is not sketched


def test_timestamps_and_infinities_in_parquet(write_table):
    table = pa.table(
        {
            "ts": pa.array([dt.datetime(2024, 1, 1, 12), dt.datetime(2024, 6, 1), None], pa.timestamp("us")),
            "x": [1.0, float("inf"), float("nan")],
            "cat": pa.array(["a", "b", "a"]).dictionary_encode(),
            "big": pa.array([2**63 + 5, 1, 2], pa.uint64()),
        }
    )
    r = profile_file(write_table(table, "parquet"), format="parquet")
    assert column(r, "ts")["min"] == "2024-01-01T12:00:00.000000"
    assert column(r, "x")["mean"] == 1.0
    assert any("NaN or infinite" in w for w in r.warnings)
    assert column(r, "cat")["type"] in ("categorical", "string")
    assert column(r, "big")["max"] == pytest.approx(2**63 + 5)


def test_constant_column_has_a_one_bin_histogram(write):
    r = profile_file(write("c.csv", "v\n" + "5\n" * 10), format="csv")
    v = column(r, "v")
    assert v["histogram"] == {"bins": [5.0, 5.0], "counts": [10]}
    assert v["std"] == 0.0 and v["distinct_count"] == 1


def test_times_durations_binary_and_decimals_do_not_break_a_profile(write_table):
    import decimal

    table = pa.table(
        {
            "t": pa.array([dt.time(1, 2), dt.time(3, 4), None]),
            "d": pa.array([dt.timedelta(seconds=5), None, dt.timedelta(days=1)]),
            "b": pa.array([b"\x00\x01", b"\xff", None]),
            "m": pa.array([decimal.Decimal("1.50"), decimal.Decimal("2.25"), None]),
        }
    )
    r = profile_file(write_table(table, "parquet"), format="parquet")
    assert r.row_count == 3
    assert column(r, "m")["mean"] == pytest.approx(1.875)
    for name in ("t", "d", "b"):
        assert column(r, name)["null_count"] == 1


def test_uint64_past_two_to_the_63_keeps_exact_distinct_counts(write_table):
    n = 20_000
    values = (np.arange(n, dtype=np.uint64) % 3000) + np.uint64(2**63)
    path = write_table(pa.table({"u": pa.array(values, pa.uint64())}), "parquet")
    for limit in (1_000, 50_000):  # sketched and exact
        u = column(
            profile_file(path, format="parquet", options=ProfileOptions(exact_distinct_limit=limit)), "u"
        )
        assert u["distinct_count"] == pytest.approx(3000, rel=0.02)
        assert u["max"] == 2**63 + 2999
        assert u["top_values"][0]["count"] == 7 and u["top_values"][0]["value"] >= 2**63


def test_uint64_small_and_large_values_keep_their_top_values_when_sketched(write_table):
    # Candidates below and above 2**63 together must be hashed as uint64, as they were counted.
    base = np.arange(3000, dtype=np.uint64)
    values = np.tile(np.concatenate([base, base + np.uint64(2**63)]), 4)
    path = write_table(pa.table({"u": pa.array(values, pa.uint64())}), "parquet")
    for limit in (1_000, 50_000):
        u = column(
            profile_file(path, format="parquet", options=ProfileOptions(exact_distinct_limit=limit)), "u"
        )
        assert u["min"] == 0 and u["max"] == 2**63 + 2999
        assert u["distinct_count"] == pytest.approx(6000, rel=0.02)
        assert len(u["top_values"]) == 10 and all(t["count"] == 4 for t in u["top_values"])


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_integers_past_two_to_the_63_in_text_files_are_read_exactly(write, fmt):
    # QA F14: text files read such integers as floats, so 500 ids collapsed to one value.
    ids = [2**63 + i for i in range(500)] + [2**64 - 1]
    if fmt == "csv":
        path = write("u.csv", "u,k\n" + "".join(f"{v},{i % 7}\n" for i, v in enumerate(ids)))
    else:
        path = write("u.jsonl", "".join(f'{{"u": {v}, "k": {i % 7}}}\n' for i, v in enumerate(ids)))
    r = profile_file(path, format=fmt)
    u = column(r, "u")
    assert u["type"] == "integer"
    assert u["min"] == 2**63 and u["max"] == 2**64 - 1 and u["distinct_count"] == 501
    assert {t["value"] for t in u["top_values"]} <= set(ids) and u["top_values"][0]["count"] == 1
    assert not any("mixes" in w for w in r.warnings)
    assert [b.schema.field("u").type for b in iter_batches(path, format=fmt)][0] == pa.uint64()


def test_a_uint64_guess_that_meets_a_negative_or_decimal_value_falls_back_to_float(write):
    rows = [str(2**63 + i) for i in range(10)] + ["-5", "1.5"]
    r = profile_file(write("f.csv", "u\n" + "\n".join(rows) + "\n"), format="csv")
    u = column(r, "u")
    assert u["type"] == "float" and u["min"] == -5.0 and u["max"] == pytest.approx(2**63 + 9)


def test_an_integer_column_that_grows_past_two_to_the_63_later_in_the_file_is_read_as_uint64(write):
    rows = [str(i) for i in range(300_000)] + [str(2**63 + 1)]
    r = profile_file(write("g.csv", "u\n" + "\n".join(rows) + "\n"), format="csv")
    u = column(r, "u")
    assert u["type"] == "integer" and u["min"] == 0 and u["max"] == 2**63 + 1
    assert u["distinct_count"] == pytest.approx(300_001, rel=0.02)
    assert not any("mixes" in w for w in r.warnings)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_uint64_guess_from_the_first_block_falls_back_to_float_on_a_later_negative(write, fmt):
    ids = [2**63 + i for i in range(3000)] + [-5]
    if fmt == "csv":
        path = write("late.csv", "u\n" + "".join(f"{v}\n" for v in ids))
    else:
        path = write("late.jsonl", "".join(f'{{"u": {v}}}\n' for v in ids))
    r = profile_file(path, format=fmt, options=ProfileOptions(block_bytes=8192))
    u = column(r, "u")
    assert u["type"] == "float" and u["min"] == -5.0 and u["max"] == pytest.approx(2**63 + 2999)
    assert len(r.method["restarts"]) == 2


def test_text_columns_in_the_helper_thread_give_the_figures_of_one_thread(write_table, monkeypatch):
    # Text columns are updated in a helper thread beside the others (parts._ColumnUpdates); with
    # the helper given nothing, every column is updated in the pass's own thread. Small blocks:
    # many batches, so that the two threads interleave. The text goes sketched (HyperLogLog and
    # count-min, deterministic) or stays exact; the numbers stay exact (KLL, randomised, unused).
    from profiling.engine import cores, parts

    rng = np.random.default_rng(11)
    n = 40_000
    table = pa.table(
        {
            "id": [f"u{v}@example.org" for v in rng.permutation(n)],
            "city": pa.array(rng.choice(["Paris", "Lyon", "Nice", None], n)),
            "age": rng.integers(18, 80, n),
            "note": [f"w{v}" if v % 7 else None for v in rng.integers(0, 3_000, n)],
            "score": rng.integers(0, 500, n) / 4,
        }
    )
    path = write_table(table)
    options = ProfileOptions(exact_distinct_limit=5_000, block_bytes=64 * 1024)
    stats = [
        parts.ColumnStats(name, t, exact_limit=10) for name, t in [("a", pa.string()), ("b", pa.int64())]
    ]
    assert parts._helper_share(stats[:1]) == set()
    assert parts._helper_share(stats) == ({0} if cores.usable() > 2 else set())
    monkeypatch.setattr(cores, "usable", lambda: 4)  # the helper thread, whatever this machine has
    assert parts._helper_share(stats) == {0}
    threaded = profile_file(path, format="csv", sensitive_columns=["city"], options=options)
    monkeypatch.setattr(parts, "_helper_share", lambda stats: set())
    alone = profile_file(path, format="csv", sensitive_columns=["city"], options=options)
    assert threaded.method["columns"]["id"]["exact"] is False
    assert threaded.method["columns"]["note"]["exact"] is True
    assert threaded.columns == alone.columns
    assert threaded.bias == alone.bias and threaded.pii == alone.pii
    for name in ("id", "city", "note"):
        assert threaded.drift_state["columns"][name] == alone.drift_state["columns"][name]
