"""Drift: the same data gives PSI about 0, shifted data drifts, and schema changes are listed."""

import json

import numpy as np
import pandas as pd
import pytest

from profiling.engine import ProfileOptions, compute_drift, profile_file
from profiling.engine.drift import psi


def version(write, name: str, frame: pd.DataFrame, **options):
    r = profile_file(write(name, frame.to_csv(index=False)), format="csv", options=ProfileOptions(**options))
    # The state is stored as JSON between versions.
    return json.loads(json.dumps(r.drift_state))


def frame_of(n: int, seed: int, *, shift: float = 0.0, cities=("Paris", "Lyon", "Nice")) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(10 + shift, 2, n).round(4),
            "k": rng.integers(0, 5, n),
            "city": rng.choice(list(cities), n),
        }
    )


def test_same_data_has_no_drift(write):
    frame = frame_of(20_000, 1)
    a = version(write, "a.csv", frame)
    b = version(write, "b.csv", frame)
    d = compute_drift(a, b, previous_version=1)
    assert d["previous_version"] == 1 and d["schema_changes"] == []
    for name, col in d["columns"].items():
        assert col["psi"] == pytest.approx(0.0, abs=2e-3), name  # KLL compaction is randomised
        assert col["drifted"] is False, name
    assert d["columns"]["x"]["ks_pvalue"] == pytest.approx(1.0)
    assert d["columns"]["city"]["ks_pvalue"] is None


def test_same_distribution_new_sample_does_not_drift(write):
    a = version(write, "a.csv", frame_of(20_000, 1))
    b = version(write, "b.csv", frame_of(20_000, 2))
    d = compute_drift(a, b, previous_version=3)
    assert all(c["psi"] < 0.05 for c in d["columns"].values())


def test_shifted_numbers_and_categories_drift(write):
    a = version(write, "a.csv", frame_of(20_000, 1))
    b = version(write, "b.csv", frame_of(20_000, 2, shift=2.0, cities=("Paris", "Lyon", "Lille")))
    d = compute_drift(a, b, previous_version=1)
    x = d["columns"]["x"]
    assert x["psi"] >= 0.2 and x["ks_pvalue"] < 1e-6 and x["drifted"] is True
    assert d["columns"]["city"]["psi"] >= 0.2 and d["columns"]["city"]["drifted"] is True
    assert d["columns"]["k"]["drifted"] is False


def test_sketched_columns_drift_too(write):
    # Past the exact limit the state holds a KLL sketch; the figures stay sensible.
    a = version(write, "a.csv", frame_of(20_000, 1), exact_distinct_limit=1000)
    b = version(write, "b.csv", frame_of(20_000, 2, shift=1.0), exact_distinct_limit=1000)
    d = compute_drift(a, b, previous_version=1)
    assert d["columns"]["x"]["drifted"] is True
    assert compute_drift(a, a, previous_version=1)["columns"]["x"]["psi"] == 0.0


def test_more_nulls_is_drift(write):
    frame = frame_of(5_000, 1)
    holes = frame.copy()
    holes.loc[: len(frame) // 2, "x"] = None
    d = compute_drift(version(write, "a.csv", frame), version(write, "b.csv", holes), previous_version=1)
    assert d["columns"]["x"]["drifted"] is True


def test_schema_changes(write):
    a = version(write, "a.csv", frame_of(1_000, 1))
    changed = frame_of(1_000, 1).drop(columns=["k"]).assign(city=lambda f: np.arange(len(f)), extra=1.5)
    d = compute_drift(a, version(write, "b.csv", changed), previous_version=7)
    changes = {(c["change"], c["column"]): c for c in d["schema_changes"]}
    assert changes[("added", "extra")]["after"] == "float"
    assert changes[("removed", "k")]["before"] == "integer"
    assert changes[("retyped", "city")] == {
        "change": "retyped",
        "column": "city",
        "before": "categorical",
        "after": "integer",
    }
    assert d["columns"]["city"]["drifted"] is True
    assert "k" not in d["columns"] and "extra" not in d["columns"]


def test_thresholds_are_parameters(write):
    a = version(write, "a.csv", frame_of(20_000, 1))
    b = version(write, "b.csv", frame_of(20_000, 2, shift=0.3))
    loose = compute_drift(a, b, previous_version=1, psi_threshold=5.0, ks_pvalue_threshold=0.0)
    assert loose["columns"]["x"]["drifted"] is False
    strict = compute_drift(a, b, previous_version=1, psi_threshold=0.001)
    assert strict["columns"]["x"]["drifted"] is True


def test_psi_formula():
    assert psi(np.array([50, 50]), np.array([50, 50])) == 0.0
    expected = (0.9 - 0.5) * np.log(0.9 / 0.5) + (0.1 - 0.5) * np.log(0.1 / 0.5)
    assert psi(np.array([5, 5]), np.array([9, 1])) == pytest.approx(expected)


def test_empty_or_missing_states():
    d = compute_drift({}, {"schema": [{"name": "a", "type": "integer"}], "columns": {}}, previous_version=1)
    assert d["schema_changes"] == [{"change": "added", "column": "a", "after": "integer"}]
    assert d["columns"] == {}


def test_integer_to_float_with_the_same_values_is_a_schema_change_not_drift(write):
    # QA F29: penguins.csv re-exported by pandas (181 -> 181.0 because of NaN) was flagged as drifted.
    frame = frame_of(5_000, 1)
    a = version(write, "a.csv", frame)
    b = version(write, "b.csv", frame.assign(k=frame["k"].astype(float)))
    d = compute_drift(a, b, previous_version=1)
    assert {"change": "retyped", "column": "k", "before": "integer", "after": "float"} in d["schema_changes"]
    k = d["columns"]["k"]
    assert k["psi"] == pytest.approx(0.0, abs=2e-3) and k["ks_pvalue"] == pytest.approx(1.0)
    assert k["drifted"] is False
    # The other way round too, and a real shift across the retype still drifts.
    assert compute_drift(b, a, previous_version=2)["columns"]["k"]["drifted"] is False
    shifted = version(write, "c.csv", frame.assign(k=frame["k"] + 2.5))
    assert compute_drift(a, shifted, previous_version=1)["columns"]["k"]["drifted"] is True


def test_a_retype_between_numbers_and_text_still_drifts(write):
    frame = frame_of(1_000, 1)
    a = version(write, "a.csv", frame)
    b = version(write, "b.csv", frame.assign(k=frame["k"].map(lambda v: f"k{v}")))
    d = compute_drift(a, b, previous_version=1)
    assert d["columns"]["k"] == {"psi": None, "ks_pvalue": None, "drifted": True}
