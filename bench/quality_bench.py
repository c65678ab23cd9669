"""Quality benchmark: Great Expectations validation of a 20-expectation suite on the reference
1M-row CSV, against DuckDB ``SUMMARIZE`` of the same file (the baseline, measured here too).

    .venv/bin/python bench/quality_bench.py [--rows 1000000] [--repeat 3]

Prints the timings and the ratios: the full quality runner (read the CSV in batches through the
profiling engine + GX), GX alone on a DataFrame already in memory, each divided by SUMMARIZE.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

SUITE = [
    {
        "type": "expect_table_columns_to_match_set",
        "kwargs": {
            "column_set": [
                "id",
                "age",
                "income",
                "score",
                "gender",
                "city",
                "signup",
                "nullable",
                "note",
                "email",
                "visits",
                "label",
            ]
        },
    },
    {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1, "max_value": 100_000_000}},
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}},
    {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}},
    {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "age", "min_value": 18, "max_value": 90},
    },
    {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "income", "min_value": 0, "max_value": 10_000_000},
    },
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "income"}},
    {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "score", "min_value": -10, "max_value": 10},
    },
    {
        "type": "expect_column_values_to_be_in_set",
        "kwargs": {"column": "gender", "value_set": ["female", "male", "other"]},
    },
    {
        "type": "expect_column_values_to_be_in_set",
        "kwargs": {
            "column": "city",
            "value_set": ["Paris", "Lyon", "Marseille", "Lille", "Nantes", "Rennes", "Toulouse", "Nice"],
        },
    },
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "gender"}},
    {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "email", "regex": r"^[^@]+@[^@]+$"}},
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "email"}},
    {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "visits", "min_value": 0, "max_value": 40},
    },
    {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "label", "value_set": [0, 1]}},
    {
        "type": "expect_column_mean_to_be_between",
        "kwargs": {"column": "score", "min_value": -0.1, "max_value": 0.1},
    },
    {
        "type": "expect_column_max_to_be_between",
        "kwargs": {"column": "age", "min_value": 80, "max_value": 90},
    },
    {
        "type": "expect_column_min_to_be_between",
        "kwargs": {"column": "income", "min_value": 0, "max_value": 10_000},
    },
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "nullable", "mostly": 0.6}},
    {
        "type": "expect_column_value_lengths_to_be_between",
        "kwargs": {"column": "note", "min_value": 4, "max_value": 20},
    },
]


def make_csv(path: Path, rows: int) -> Path:
    try:
        from profile_bench import make_reference_csv  # the engine benchmark's reference file
    except ImportError as exc:
        raise SystemExit(f"bench/profile_bench.py must provide make_reference_csv: {exc}") from exc
    return make_reference_csv(path, rows)


def timed(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import django

    django.setup()
    import duckdb
    import pandas as pd

    from profiling import quality
    from profiling.expectations import normalize_expectations

    assert len(SUITE) == 20
    expectations = normalize_expectations(SUITE)
    with tempfile.TemporaryDirectory() as tmp:
        path = make_csv(Path(tmp) / "reference.csv", args.rows)
        size_mb = path.stat().st_size / 1e6

        def summarize():
            con = duckdb.connect()
            try:
                return con.sql(f"SUMMARIZE SELECT * FROM read_csv_auto('{path}')").fetchall()
            finally:
                con.close()

        summarize()  # warm the page cache and DuckDB's own start-up
        t_duck, _ = timed(summarize, args.repeat)

        def runner():
            return quality.validate_file(
                name="bench", expectations=expectations, path=str(path), format="csv", total_rows=args.rows
            )

        t_runner, result = timed(runner, args.repeat)
        from profiling.engine import profile_file

        def full_job():
            # What the job computes: the profile, then the suite on the same file.
            prof = profile_file(
                str(path), format="csv", sensitive_columns=("gender",), label_column="label", positive_label=1
            )
            return quality.validate_file(
                name="bench",
                expectations=expectations,
                path=str(path),
                format="csv",
                total_rows=prof.row_count,
            )

        t_full, _ = timed(full_job, args.repeat)
        df = pd.read_csv(path)
        t_gx, result_mem = timed(
            lambda: quality.validate_batches(name="bench", expectations=expectations, batches=[df]),
            args.repeat,
        )

    print(
        f"rows={args.rows} file={size_mb:.0f} MB expectations={len(expectations)} repeat={args.repeat} (median)"
    )
    print(f"DuckDB SUMMARIZE (baseline)          {t_duck:8.2f} s")
    print(f"quality runner (read + GX)           {t_runner:8.2f} s   ratio {t_runner / t_duck:6.2f}x")
    print(f"full job: profile + quality runner   {t_full:8.2f} s   ratio {t_full / t_duck:6.2f}x")
    print(f"GX validation alone (in memory)      {t_gx:8.2f} s   ratio {t_gx / t_duck:6.2f}x")
    print(f"suite success={result['success']} score={result['score']:.2f} method={result['method']}")
    assert result["score"] == result_mem["score"], "batched and in-memory validation disagree"


if __name__ == "__main__":
    main()
