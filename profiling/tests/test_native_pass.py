"""The suite evaluated in the profiler's own pass (profile_file batch_consumers → quality.validate_pass):
the file is read once, the results equal GX's (quality.validate_file, which reads it again), and
what the native path declines is validated by GX."""

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from profiling import expectations as gx_form
from profiling import quality
from profiling.engine import ProfileOptions, iter_batches, profile_file
from profiling.expectations import propose_expectations
from profiling.models import ProfileRun
from profiling.native_expectations import NativeEvaluator
from profiling.tests.factories import credit_csv


def _csv(path, n: int = 5000, seed: int = 1):
    rng = np.random.default_rng(seed)
    score = np.round(rng.normal(0, 1, n), 4)
    score[::97] = np.nan
    table = pa.table(
        {
            "id": np.arange(n),
            "age": pa.array(rng.integers(18, 90, n), mask=rng.random(n) < 0.02),
            "score": score,
            "city": rng.choice(["Paris", "Lyon", "Nice"], n),
            "note": pa.array([f"n{v}" for v in rng.integers(0, 10**6, n)], mask=rng.random(n) < 0.1),
            "flag": rng.random(n) < 0.5,
        }
    )
    pacsv.write_csv(table, str(path))
    return str(path)


def _gx_file(path, result):
    return dict(
        path=path, format="csv", total_rows=result.row_count, available=[c["name"] for c in result.schema]
    )


def _profiled(path, suite=None):
    evaluator = quality.native_evaluator(suite)
    result = profile_file(path, format="csv", batch_consumers=[evaluator])
    return result, evaluator


def test_a_proposed_suite_is_decided_by_the_pass_as_gx_decides_it(tmp_path, monkeypatch):
    path = _csv(tmp_path / "d.csv")
    result, evaluator = _profiled(path)
    proposed = propose_expectations(columns=result.columns, row_count=result.row_count)
    assert {e["type"] for e in proposed} >= {
        "expect_table_columns_to_match_set",
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_in_set",
        "expect_column_values_to_be_between",
    }
    expected = quality.validate_file(name="s", expectations=proposed, **_gx_file(path, result))
    monkeypatch.setattr(quality, "validate_file", lambda **kw: pytest.fail("the file was read again"))
    ours = quality.validate_pass(
        name="s", expectations=proposed, evaluator=evaluator, profile=result, **_gx_file(path, result)
    )
    assert ours["method"]["mode"] == "native" and ours["method"]["native"] == len(proposed)
    assert ours["results"] == expected["results"]
    assert (ours["success"], ours["score"]) == (expected["success"], expected["score"])


def test_a_known_suite_is_streamed_and_what_is_declined_goes_to_gx(tmp_path):
    path = _csv(tmp_path / "d.csv")
    suite = gx_form.normalize_expectations(
        [
            {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}},
            {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "note", "regex": "^n1"}},
            {"type": "expect_column_values_to_be_between", "kwargs": {"column": "score", "max_value": 2}},
            {"type": "expect_column_median_to_be_between", "kwargs": {"column": "age", "min_value": 50}},
            # declined: regex on numbers, an increasing column (GX keeps rows in order itself)
            {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "age", "regex": "^[2-5]"}},
            {"type": "expect_column_values_to_be_increasing", "kwargs": {"column": "id"}},
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "absent"}},
        ]
    )
    result, evaluator = _profiled(path, suite)
    ours = quality.validate_pass(
        name="s", expectations=suite, evaluator=evaluator, profile=result, **_gx_file(path, result)
    )
    expected = quality.validate_file(name="s", expectations=suite, **_gx_file(path, result))
    assert ours["method"]["mode"] == "native + GX"
    assert ours["method"]["native"] == 4 and ours["method"]["gx"]["expectations"] == 3
    assert ours["results"] == expected["results"]
    assert ours["results"][6]["observed"]["error"]  # GX's own message for the missing column


def test_a_restarted_pass_starts_the_evaluator_again(tmp_path):
    # Integers for the first blocks, then text: the reader widens the column and the profile
    # restarts its pass; the evaluator must not count the first attempt's rows.
    n = 30_000
    lines = ["code,x"] + [f"{i},{i % 7}" for i in range(n)] + ["A-1,3"]
    path = tmp_path / "retyped.csv"
    path.write_text("\n".join(lines) + "\n")
    suite = gx_form.normalize_expectations(
        [
            {
                "type": "expect_column_values_to_match_regex",
                "kwargs": {"column": "code", "regex": "^[0-9]+$"},
            },
            {"type": "expect_table_row_count_to_equal", "kwargs": {"value": n + 1}},
        ]
    )
    evaluator = NativeEvaluator(suite)
    result = profile_file(
        str(path), format="csv", batch_consumers=[evaluator], options=ProfileOptions(block_bytes=4096)
    )
    assert result.method["restarts"]
    assert evaluator.rows == n + 1 and not evaluator.declined
    native = evaluator.results()
    # GX on the file read with the types the profile settled on
    table = pa.Table.from_batches(
        iter_batches(str(path), format="csv", column_types=result.method["read_types"])
    )
    gx = quality._Validator("s", suite).validate(table.to_pandas())
    for i in range(len(suite)):
        assert quality._api_result(suite[i], native[i], sampled=False) == quality._api_result(
            suite[i], gx[i], sampled=False
        )
    assert native[0]["result"]["unexpected_count"] == 1


@pytest.mark.django_db
def test_the_job_validates_natively_and_still_hides_pii_values(dataset, add_version, owner):
    from profiling import suites

    first = add_version(dataset, credit_csv(50))
    method = ProfileRun.objects.get(version=first).method["quality"]
    assert method["mode"] == "native", method
    suites.save_suite(
        actor=owner,
        dataset=dataset,
        expectations=[
            {
                "type": "expect_column_values_to_match_regex",
                "kwargs": {"column": "email", "regex": "^nobody$"},
            },
            {"type": "expect_column_values_to_be_increasing", "kwargs": {"column": "id"}},
        ],
    )
    second = add_version(dataset, credit_csv(40))
    run = ProfileRun.objects.get(version=second)
    assert run.method["quality"]["mode"] == "native + GX"
    email, increasing = run.quality["results"]
    assert email["observed"]["unexpected_count"] == 40 and email["observed"]["partial_unexpected_list"] == []
    assert email["observed"]["redacted"] and increasing["success"] is True


def test_a_failure_of_the_native_path_leaves_the_suite_to_gx(tmp_path, monkeypatch):
    from profiling import native_metrics

    def broken(self, valid):
        raise RuntimeError("boom")

    monkeypatch.setattr(native_metrics.MapState, "update", broken)
    path = _csv(tmp_path / "d.csv", n=800)
    suite = gx_form.normalize_expectations(
        [
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": "city", "value_set": ["Paris"]},
            },
            {"type": "expect_table_row_count_to_equal", "kwargs": {"value": 800}},
        ]
    )
    result, evaluator = _profiled(path, suite)
    assert evaluator.failed and result.row_count == 800  # the profile itself is unharmed
    ours = quality.validate_pass(
        name="s", expectations=suite, evaluator=evaluator, profile=result, **_gx_file(path, result)
    )
    expected = quality.validate_file(name="s", expectations=suite, **_gx_file(path, result))
    assert ours["method"]["mode"] == "native + GX" and ours["method"]["native"] == 0
    assert ours["results"] == expected["results"]


def test_a_worker_preloads_gx_before_forking(settings, monkeypatch):
    import gc

    from profiling import native_expectations, tasks

    frozen = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True))
    settings.PROFILING_PRELOAD = False
    tasks.preload()
    assert frozen == []
    settings.PROFILING_PRELOAD = True
    tasks.preload()
    assert frozen == [True]
    assert native_expectations._ENGINE is not None and native_expectations._PLANS


def _edgy_table(n: int = 3000) -> pa.Table:
    rng = np.random.default_rng(5)
    nan_floats = np.round(rng.normal(5, 2, n), 3)
    nan_floats[::50] = np.nan
    inf_floats = np.round(rng.normal(5, 2, n), 3)
    inf_floats[7] = np.inf
    stamps = np.datetime64("2024-01-01") + rng.integers(0, 4, n).astype("timedelta64[D]")
    return pa.table(
        {
            "nan_f": nan_floats,
            "inf_f": inf_floats,
            "small_int": pa.array(rng.integers(0, 5, n), mask=rng.random(n) < 0.05),
            "flag": rng.random(n) < 0.3,
            "kind": pa.array(rng.choice(["a", "b", "c"], n), mask=rng.random(n) < 0.02),
            "day": pa.array(stamps, type=pa.timestamp("s")),
            "email": [f"user{i % 500}@example.org" for i in range(n)],
            "big": rng.integers(-(2**40), 2**40, n),
        }
    )


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_the_proposal_on_edgy_data_equals_gx(tmp_path, fmt):
    import pyarrow.parquet as pq

    table = _edgy_table()
    path = str(tmp_path / f"edgy.{fmt}")
    if fmt == "csv":
        pacsv.write_csv(table, path)
    elif fmt == "parquet":
        pq.write_table(table, path)
    else:
        table.to_pandas().to_json(path, orient="records", lines=True, date_format="iso")
    evaluator = quality.native_evaluator(None)
    result = profile_file(path, format=fmt, batch_consumers=[evaluator])
    proposed = propose_expectations(columns=result.columns, row_count=result.row_count)
    kw = dict(
        path=path, format=fmt, total_rows=result.row_count, available=[c["name"] for c in result.schema]
    )
    expected = quality.validate_file(name="s", expectations=proposed, **kw)
    ours = quality.validate_pass(name="s", expectations=proposed, evaluator=evaluator, profile=result, **kw)
    assert ours["results"] == expected["results"]
    assert ours["method"]["native"] >= len(proposed) // 2, ours["method"]
