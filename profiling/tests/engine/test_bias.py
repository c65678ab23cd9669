"""Bias indicators equal fairlearn's, with the label taken as the prediction; representation and proxies."""

import os

import numpy as np
import palmerpenguins
import pandas as pd
import pytest
from fairlearn.metrics import demographic_parity_difference, demographic_parity_ratio

from profiling.engine import ProfileOptions, profile_file
from profiling.engine.bias import MISSING, cramers_v, normalized_mutual_information

PENGUINS = os.path.join(os.path.dirname(palmerpenguins.__file__), "data", "penguins.csv")


def fairlearn_figures(frame: pd.DataFrame, attribute: str, label: str, positive) -> tuple[float, float]:
    """fairlearn's parity figures with y_true = y_pred = (label == positive), null labels left out,
    rows with a null sensitive value left out too (fairlearn refuses them), as the engine documents."""
    labelled = frame[frame[label].notna() & frame[attribute].notna()]
    hit = (labelled[label].astype(str) == str(positive)).to_numpy()
    groups = labelled[attribute].astype(str)
    return (
        demographic_parity_difference(hit, hit, sensitive_features=groups),
        demographic_parity_ratio(hit, hit, sensitive_features=groups),
    )


def test_penguins_parity_equals_fairlearn():
    frame = pd.read_csv(PENGUINS)
    r = profile_file(
        PENGUINS,
        format="csv",
        sensitive_columns=["sex", "island"],
        label_column="species",
        positive_label="Adelie",
    )
    for attribute in ("sex", "island"):
        got = r.bias["attributes"][attribute]
        dpd, dpr = fairlearn_figures(frame, attribute, "species", "Adelie")
        assert got["demographic_parity_difference"] == pytest.approx(dpd, abs=1e-12)
        assert got["demographic_parity_ratio"] == pytest.approx(dpr, abs=1e-12)
    sex = r.bias["attributes"]["sex"]["groups"]
    assert sex[MISSING]["count"] == int(frame["sex"].isna().sum())
    # The 11 penguins of unknown sex are shown, said, and kept out of parity (0.0079, not 0.111).
    assert r.bias["attributes"]["sex"]["demographic_parity_difference"] < 0.01
    assert any("no value for sex" in w for w in r.bias["warnings"])
    assert sum(g["count"] for g in sex.values()) == len(frame)
    assert sex["female"]["share"] == pytest.approx((frame["sex"] == "female").mean())
    expected_rate = (frame.loc[frame["sex"] == "male", "species"] == "Adelie").mean()
    assert sex["male"]["positive_rate"] == pytest.approx(expected_rate)
    assert r.bias["label_column"] == "species" and r.bias["positive_label"] == "Adelie"


def test_synthetic_parity_with_numeric_label_and_missing_labels(write):
    rng = np.random.default_rng(3)
    n = 30_000
    group = rng.choice(["a", "b", "c", "d"], n, p=[0.5, 0.3, 0.17, 0.03])
    rate = pd.Series(group).map({"a": 0.5, "b": 0.3, "c": 0.2, "d": 0.6}).to_numpy()
    label = (rng.random(n) < rate).astype(float)
    label[rng.random(n) < 0.05] = np.nan  # some rows have no label
    gender = np.where(rng.random(n) < 0.02, None, group)
    frame = pd.DataFrame({"g": gender, "y": label, "noise": rng.normal(size=n)})
    path = write("syn.csv", frame.to_csv(index=False))
    # The positive label given as text "1" matches the numeric label 1.0.
    r = profile_file(path, format="csv", sensitive_columns=["g"], label_column="y", positive_label="1")
    got = r.bias["attributes"]["g"]
    dpd, dpr = fairlearn_figures(
        frame.assign(y=frame["y"].map(lambda v: v if pd.isna(v) else str(int(v)))), "g", "y", "1"
    )
    assert got["demographic_parity_difference"] == pytest.approx(dpd, abs=1e-12)
    assert got["demographic_parity_ratio"] == pytest.approx(dpr, abs=1e-12)
    a = got["groups"]["a"]
    in_a = frame[frame["g"] == "a"]
    assert a["missing_fraction"] == pytest.approx(in_a["y"].isna().mean())
    assert a["positive_rate"] == pytest.approx((in_a["y"].dropna() == 1).mean())
    under = {(u["attribute"], u["group"]) for u in r.bias["underrepresented"]}
    assert ("g", "d") in under and ("g", MISSING) in under and ("g", "a") not in under
    assert any("under-represented" in w for w in r.bias["warnings"])


def test_sklearn_dataset_parity_equals_fairlearn(write):
    from sklearn.datasets import load_wine

    data = load_wine(as_frame=True).frame
    data["alcohol_band"] = pd.cut(data["alcohol"], [0, 12.5, 13.5, 99], labels=["low", "mid", "high"]).astype(
        str
    )
    path = write("wine.csv", data.to_csv(index=False))
    r = profile_file(
        path, format="csv", sensitive_columns=["alcohol_band"], label_column="target", positive_label=0
    )
    dpd, dpr = fairlearn_figures(data, "alcohol_band", "target", 0)
    got = r.bias["attributes"]["alcohol_band"]
    assert got["demographic_parity_difference"] == pytest.approx(dpd, abs=1e-12)
    assert got["demographic_parity_ratio"] == pytest.approx(dpr, abs=1e-12)


def test_without_positive_label_representation_stays_and_says_what_is_missing(write):
    r = profile_file(
        write("p.csv", "g,y\na,1\na,0\nb,1\n"), format="csv", sensitive_columns=["g"], label_column="y"
    )
    g = r.bias["attributes"]["g"]
    assert g["groups"]["a"]["count"] == 2 and g["groups"]["a"]["share"] == pytest.approx(2 / 3)
    assert g["groups"]["a"]["positive_rate"] is None
    assert g["demographic_parity_difference"] is None and g["demographic_parity_ratio"] is None
    assert any("positive label" in w for w in r.bias["warnings"])
    r = profile_file(write("q.csv", "g,y\na,1\nb,1\n"), format="csv", sensitive_columns=["g"])
    assert any("No label column" in w for w in r.bias["warnings"])
    assert r.bias["attributes"]["g"]["groups"]["a"]["missing_fraction"] is None


def test_no_sensitive_columns_means_no_bias(write):
    assert profile_file(write("p.csv", "g,y\na,1\n"), format="csv").bias is None


def test_unknown_sensitive_column_is_a_warning(write):
    r = profile_file(write("p.csv", "g,y\na,1\n"), format="csv", sensitive_columns=["nope"])
    assert r.bias is not None and r.bias["attributes"] == {}
    assert any("nope" in w for w in r.warnings)


def test_proxy_columns_are_flagged(write):
    rng = np.random.default_rng(11)
    n = 5_000
    gender = rng.choice(["f", "m"], n)
    # "title" nearly reveals gender, "height" leans on it, "shoe" is independent.
    title = np.where(rng.random(n) < 0.95, np.where(gender == "f", "Ms", "Mr"), "Dr")
    height = np.where(gender == "f", 165, 178) + rng.normal(0, 3, n)
    frame = pd.DataFrame(
        {"gender": gender, "title": title, "height": height.round(1), "shoe": rng.integers(36, 46, n)}
    )
    r = profile_file(
        write("px.csv", frame.to_csv(index=False)),
        format="csv",
        sensitive_columns=["gender"],
        options=ProfileOptions(proxy_threshold=0.5),
    )
    proxies = {p["column"]: p["cramers_v"] for p in r.bias["proxies"]}
    assert set(proxies) == {"title", "height"}
    assert proxies["title"] > 0.9
    title = next(p for p in r.bias["proxies"] if p["column"] == "title")
    assert 0.5 < title["mutual_information"] <= 1.0
    assert r.method["proxy_associations"]["gender"]["shoe"] < 0.1
    assert any("proxy" in w for w in r.warnings)


def test_cramers_v_bounds():
    x = np.array([0, 1] * 500)
    assert cramers_v(x, x) == pytest.approx(1.0, abs=0.01)
    rng = np.random.default_rng(0)
    assert cramers_v(rng.integers(0, 3, 5000), rng.integers(0, 4, 5000)) < 0.05
    assert cramers_v(np.zeros(10), np.arange(10)) is None


def test_an_identifier_is_not_a_group_attribute(write):
    rows = "".join(f"u{i},{i % 2}\n" for i in range(1_500))
    r = profile_file(
        write("ids.csv", "user,y\n" + rows),
        format="csv",
        sensitive_columns="user",
        label_column="y",
        positive_label=1,
    )
    assert r.bias["attributes"]["user"]["groups"] == {}
    assert r.bias["attributes"]["user"]["demographic_parity_difference"] is None
    assert any("more than 1000 distinct values" in w for w in r.bias["warnings"])


def test_numeric_and_boolean_sensitive_columns_and_boolean_labels(write):
    frame = pd.DataFrame(
        {
            "age_band": [20, 20, 30, 30, 30, 40],
            "senior": [False, False, False, True, True, True],
            "ok": [True, False, True, True, False, True],
        }
    )
    r = profile_file(
        write("n.csv", frame.to_csv(index=False)),
        format="csv",
        sensitive_columns=["age_band", "senior"],
        label_column="ok",
        positive_label=True,
    )
    age = r.bias["attributes"]["age_band"]["groups"]
    assert set(age) == {"20", "30", "40"} and age["30"]["positive_rate"] == pytest.approx(2 / 3)
    senior = r.bias["attributes"]["senior"]["groups"]
    assert set(senior) == {"true", "false"} and senior["true"]["positive_rate"] == pytest.approx(2 / 3)
    dpd, dpr = fairlearn_figures(frame.assign(ok=frame["ok"].astype(str)), "age_band", "ok", "True")
    assert r.bias["attributes"]["age_band"]["demographic_parity_difference"] == pytest.approx(dpd)


def test_normalized_mutual_information_bounds():
    x = np.array([0, 1, 2] * 300)
    assert normalized_mutual_information(x, x) == pytest.approx(1.0)
    rng = np.random.default_rng(2)
    assert normalized_mutual_information(rng.integers(0, 3, 5000), rng.integers(0, 3, 5000)) < 0.01
    assert normalized_mutual_information(np.zeros(5), np.arange(5)) is None
