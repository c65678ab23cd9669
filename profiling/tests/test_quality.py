"""profiling.expectations and profiling.quality: suites checked by GX, proposals, and validation equal
to GX's own answer."""

import great_expectations as gx
import numpy as np
import pandas as pd
import pytest
from django.core.exceptions import ValidationError

from profiling import expectations as gx_form
from profiling import quality

SUITE = [
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a"}},
    {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "a", "min_value": 0, "max_value": 90, "mostly": 0.85},
    },
    {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "b", "value_set": ["x", "y"]}},
    {
        "type": "expect_column_values_to_match_regex",
        "kwargs": {"column": "b", "regex": "^[xy]$", "mostly": 0.5},
    },
    {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}},
    {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1, "max_value": 20000}},
    {"type": "expect_column_min_to_be_between", "kwargs": {"column": "c", "min_value": -10, "max_value": 0}},
    {"type": "expect_column_max_to_be_between", "kwargs": {"column": "c", "min_value": 0, "max_value": 10}},
    {
        "type": "expect_column_mean_to_be_between",
        "kwargs": {"column": "c", "min_value": -0.1, "max_value": 0.1},
    },
    {"type": "expect_table_columns_to_match_set", "kwargs": {"column_set": ["id", "a", "b", "c"]}},
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "missing_column"}},
]


def _frame(n: int = 6000) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    df = pd.DataFrame(
        {
            "id": np.arange(n),
            "a": rng.integers(0, 100, n).astype(float),
            "b": rng.choice(["x", "y", "z"], n),
            "c": rng.normal(size=n),
        }
    )
    df.loc[::37, "a"] = np.nan
    return df


def _gx_itself(df: pd.DataFrame, expectations: list[dict]) -> list[dict]:
    """What GX reports when used directly, the way its documentation shows."""
    context = gx.get_context(mode="ephemeral")
    batch_def = (
        context.data_sources.add_pandas("direct")
        .add_dataframe_asset("df")
        .add_batch_definition_whole_dataframe("all")
    )
    suite = gx.ExpectationSuite(name="direct")
    for exp in expectations:
        suite.add_expectation(gx.expectations.registry.get_expectation_impl(exp["type"])(**exp["kwargs"]))
    result = batch_def.get_batch(batch_parameters={"dataframe": df}).validate(suite, result_format="BASIC")
    by_key = {}
    for r in result.results:
        cfg = r.expectation_config
        key = (cfg.type, tuple(sorted((k, str(v)) for k, v in cfg.kwargs.items() if k != "batch_id")))
        by_key[key] = r.to_json_dict()
    out = []
    for exp in suite.expectations:
        cfg = exp.configuration
        out.append(
            by_key[(cfg.type, tuple(sorted((k, str(v)) for k, v in cfg.kwargs.items() if k != "batch_id")))]
        )
    return out


def test_validation_matches_great_expectations_on_the_same_data():
    df = _frame()
    expectations = gx_form.normalize_expectations(SUITE)
    ours = quality.validate_batches(name="s", expectations=expectations, batches=[df])
    theirs = _gx_itself(df, expectations)

    assert [r["success"] for r in ours["results"]] == [bool(t["success"]) for t in theirs]
    for mine, gx_result in zip(ours["results"], theirs, strict=True):
        res = gx_result["result"]
        if "unexpected_count" in res:
            assert mine["observed"]["unexpected_count"] == res["unexpected_count"]
            assert mine["observed"]["element_count"] == res["element_count"]
        elif "observed_value" in res:
            assert (
                mine["observed"] == pytest.approx(res["observed_value"])
                or mine["observed"] == res["observed_value"]
            )
    assert ours["results"][-1]["observed"]["error"]  # the missing column is reported, not crashed on
    assert ours["score"] == sum(r["success"] for r in ours["results"]) / len(SUITE)
    assert ours["method"]["mode"] == "whole"


def test_batches_combine_to_the_whole_file_answer():
    df = _frame()
    expectations = gx_form.normalize_expectations(SUITE)
    whole = quality.validate_batches(name="s", expectations=expectations, batches=[df])
    parts = [df.iloc[i : i + 1000] for i in range(0, len(df), 1000)]
    batched = quality.validate_batches(name="s", expectations=expectations, batches=parts, total_rows=len(df))

    assert batched["method"]["mode"] == "batched" and batched["method"]["batches"] == 6
    for w, b in zip(whole["results"], batched["results"], strict=True):
        assert (w["expectation"], w["success"]) == (b["expectation"], b["success"])
        if isinstance(w["observed"], dict) and "unexpected_count" in w["observed"]:
            assert w["observed"]["unexpected_count"] == b["observed"]["unexpected_count"]
    # uniqueness and the mean are not additive: they ran on the stated sample, and say so.
    sampled = {r["expectation"] for r in batched["results"] if r.get("sampled")}
    assert sampled == {"expect_column_values_to_be_unique", "expect_column_mean_to_be_between"}
    assert batched["method"]["sample_rows"] == len(df)


def test_sample_is_bounded_for_big_inputs():
    df = _frame()
    parts = [df.iloc[i : i + 1000] for i in range(0, len(df), 1000)]
    exps = gx_form.normalize_expectations(
        [
            {
                "type": "expect_column_mean_to_be_between",
                "kwargs": {"column": "c", "min_value": -1, "max_value": 1},
            }
        ]
    )
    out = quality.validate_batches(
        name="s", expectations=exps, batches=parts, total_rows=len(df), sample_rows=600
    )
    assert 300 < out["method"]["sample_rows"] < 1000
    assert out["results"][0]["sampled"] is True


def test_unknown_type_and_bad_kwargs_are_refused_by_name():
    with pytest.raises(ValidationError) as err:
        gx_form.normalize_expectations(
            [
                {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a"}},
                {"type": "expect_moon_to_be_cheese", "kwargs": {}},
                {"type": "expect_column_values_to_be_between", "kwargs": {"min_value": 1}},
            ]
        )
    errors = err.value.message_dict
    assert "expectations[0]" not in errors
    assert "expect_moon_to_be_cheese" in errors["expectations[1]"][0]
    assert "column" in errors["expectations[2]"][0]


def test_a_real_gx_export_imports_unchanged():
    suite = gx.ExpectationSuite(name="exported")
    suite.add_expectation(gx.expectations.ExpectColumnValuesToNotBeNull(column="id", meta={"owner": "team"}))
    suite.add_expectation(
        gx.expectations.ExpectColumnValuesToBeBetween(column="age", min_value=0, max_value=120)
    )
    exported = suite.to_json_dict()

    name, expectations, meta = gx_form.parse_gx_export(exported)
    assert name == "exported"
    assert [e["type"] for e in expectations] == [e["type"] for e in exported["expectations"]]
    assert expectations[0]["meta"] == {"owner": "team"}
    assert expectations[1]["kwargs"] == exported["expectations"][1]["kwargs"]
    assert meta["great_expectations_version"] == gx.__version__
    # and it goes back into GX as it came
    rebuilt = gx_form.build_gx_suite(name, expectations).to_json_dict()
    assert [(e["type"], e["kwargs"]) for e in rebuilt["expectations"]] == [
        (e["type"], e["kwargs"]) for e in exported["expectations"]
    ]


def test_proposal_from_a_profile():
    columns = [
        {
            "name": "id",
            "type": "integer",
            "null_count": 0,
            "distinct_count": 100,
            "min": 0,
            "max": 99,
            "top_values": [],
        },
        {
            "name": "region",
            "type": "string",
            "null_count": 3,
            "distinct_count": 2,
            "top_values": [{"value": "north", "count": 50}, {"value": "south", "count": 47}],
        },
        {
            "name": "score",
            "type": "float",
            "null_count": 1,
            "distinct_count": 90,
            "min": -1.5,
            "max": 2.5,
            "top_values": [],
        },
    ]
    proposed = gx_form.propose_expectations(columns=columns, row_count=100)
    pairs = [(e["type"], e["kwargs"].get("column")) for e in proposed]
    assert ("expect_table_columns_to_match_set", None) in pairs
    assert ("expect_column_values_to_not_be_null", "id") in pairs
    assert ("expect_column_values_to_not_be_null", "region") not in pairs
    assert ("expect_column_values_to_be_in_set", "region") in pairs
    assert ("expect_column_values_to_be_between", "score") in pairs
    by = {(e["type"], e["kwargs"].get("column")): e for e in proposed}
    assert by[("expect_column_values_to_be_in_set", "region")]["kwargs"]["value_set"] == ["north", "south"]
    assert by[("expect_column_values_to_be_between", "score")]["kwargs"]["min_value"] == -1.5
    # A proposal is valid GX: it validates the data it came from.
    df = pd.DataFrame(
        {
            "id": range(100),
            "region": ["north", "south"] * 47 + [None] * 6,
            "score": np.linspace(-1.5, 2.5, 100),
        }
    )
    assert quality.validate_batches(name="p", expectations=proposed, batches=[df])["success"] is True


def test_empty_suite_scores_one():
    out = quality.validate_batches(name="s", expectations=[], batches=[])
    assert out == {"success": True, "score": 1.0, "results": [], "method": out["method"]}


def test_a_file_read_in_batches_gives_the_whole_file_answer(tmp_path):
    df = _frame(5000)
    path = tmp_path / "data.csv"
    df.to_csv(path, index=False)
    column_only = [e for e in SUITE if "column" in e["kwargs"] and not e["type"].startswith("expect_table")]
    expectations = gx_form.normalize_expectations(column_only)

    whole = quality.validate_file(
        name="s", expectations=expectations, path=str(path), format="csv", total_rows=5000
    )
    batched = quality.validate_file(
        name="s",
        expectations=expectations,
        path=str(path),
        format="csv",
        total_rows=5000,
        batch_rows=700,
        available=["id", "a", "b", "c"],
    )

    assert whole["method"]["mode"] == "whole" and batched["method"]["mode"] == "batched"
    assert [r["success"] for r in whole["results"]] == [r["success"] for r in batched["results"]]
    assert whole["results"][-1]["observed"]["error"] and batched["results"][-1]["observed"]["error"]


def test_row_conditions_are_refused_since_pandas_would_evaluate_them():
    with pytest.raises(ValidationError) as err:
        gx_form.normalize_expectations(
            [
                {
                    "type": "expect_column_values_to_not_be_null",
                    "kwargs": {"column": "a", "row_condition": "b == 'x'", "condition_parser": "pandas"},
                }
            ]
        )
    assert "row_condition" in err.value.message_dict["expectations[0]"][0]


def _int_columns(n: int) -> list[dict]:
    return [
        {
            "name": f"c{i}",
            "type": "integer",
            "null_count": 0,
            "distinct_count": 10,
            "top_values": [{"value": v, "count": 5} for v in range(10)],
            "min": 0,
            "max": 9,
        }
        for i in range(n)
    ]


def test_a_proposal_for_a_very_wide_table_is_capped_at_whole_columns():
    """QA G6: 2,000 columns made ~6,000 proposed expectations and a profile of 10+ minutes."""
    proposed = gx_form.propose_expectations(columns=_int_columns(2000), row_count=50)
    assert len(proposed) <= gx_form.MAX_PROPOSED
    assert proposed[0]["type"] == "expect_table_columns_to_match_set"
    assert len(proposed[0]["kwargs"]["column_set"]) == 2000
    per_column: dict[str, int] = {}
    for e in proposed[1:]:
        per_column[e["kwargs"]["column"]] = per_column.get(e["kwargs"]["column"], 0) + 1
    assert set(per_column.values()) == {2}  # not-null and value set: no column cut in half
    assert proposed[0]["meta"]["note"] == (
        f"proposed for the first {len(per_column)} of 2000 columns (at most {gx_form.MAX_PROPOSED} expectations)"
    )
    assert gx_form.propose_expectations(columns=_int_columns(20), row_count=50)[0]["meta"].get("note") is None


def test_long_suites_are_validated_in_chunks_in_order_with_progress(monkeypatch):
    monkeypatch.setattr(quality, "CHUNK", 7)
    df = pd.DataFrame({"a": range(30), "b": ["x"] * 30})
    expectations = [
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "a", "min_value": 0, "max_value": m},
        }
        for m in range(10, 30)
    ]
    ticks: list[float] = []
    out = quality.validate_batches(name="s", expectations=expectations, batches=[df], progress=ticks.append)
    assert [r["kwargs"]["max_value"] for r in out["results"]] == list(range(10, 30))
    assert [r["success"] for r in out["results"]] == [m >= 29 for m in range(10, 30)]
    assert ticks == [1 / 3, 2 / 3, 1.0]
