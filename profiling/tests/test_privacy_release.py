"""The differentially private release itself (profiling.privacy): the 95 % intervals cover the true
figures, the ε OpenDP accounts for is what was asked, and no exact extreme or rare value appears.

OpenDP draws its noise from the operating system's cryptographic generator and offers no seed
(a seedable generator would be a weaker guarantee), so coverage is tested by repeating releases:
the data are fixed (a seeded numpy generator), the noise is fresh each time, and at least 90 % of
the intervals must hold the true value (they are built to hold at least 95 % of the time; with
200 releases, the chance of a correct implementation falling under 90 % is far below 1e-4).
"""

import json

import numpy as np
import pyarrow as pa
import pytest

from profiling.privacy import QUANTILES, ColumnSpec, compute_release

RELEASES = 200


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(18)
    n = 2000
    income = rng.normal(4000, 1500, n)
    income[:5] = [987654.321, -55555.5, 123456.789, 99999.25, 77777.75]  # extremes outside the bounds
    income[5:105] = np.nan
    region = rng.choice(["north", "south", "east"], n).astype(object)
    region[:3] = ["Zanzibar-rare-1", "Zanzibar-rare-2", None]  # rare values and a null
    return pa.table({"income": pa.array(income, from_pandas=True), "region": pa.array(region, pa.string())})


SPECS = [
    ColumnSpec("income", lower=0.0, upper=10000.0, bins=10),
    ColumnSpec("region", categories=("north", "south", "east")),
]


def _truth(table: pa.Table) -> dict:
    income = np.array(table.column("income").to_numpy(zero_copy_only=False), dtype=float)
    present = income[~np.isnan(income)]
    clamped = np.clip(present, 0, 10000)
    region = table.column("region").to_pylist()
    return {
        "rows": table.num_rows,
        "income_nulls": int(np.isnan(income).sum()),
        "income_null_fraction": float(np.isnan(income).mean()),
        "income_mean": float(clamped.mean()),
        "income_hist": np.histogram(np.minimum(clamped, 9999.999), bins=10, range=(0, 10000))[0].tolist(),
        "income_quantiles": {
            q: float(np.quantile(clamped, float(q), method="inverted_cdf")) for q in QUANTILES
        },
        "region_counts": [region.count(c) for c in ("north", "south", "east")],
        "region_nulls": region.count(None),
    }


def _covers(figure: dict, true: float) -> bool:
    low, high = figure["ci95"]
    return low - 1e-9 <= true <= high + 1e-9


def test_intervals_cover_the_true_values_at_least_90_percent_of_the_time(data):
    truth = _truth(data)
    hits: dict[str, int] = {}

    def count(key: str, ok: bool) -> None:
        hits[key] = hits.get(key, 0) + int(ok)

    for _ in range(RELEASES):
        body = compute_release(data, SPECS, epsilon=1.0).body
        income, region = body["columns"]
        count("rows", _covers(body["row_count"], truth["rows"]))
        count("nulls", _covers(income["null_count"], truth["income_nulls"]))
        count("null_fraction", _covers(income["null_fraction"], truth["income_null_fraction"]))
        count("mean", _covers(income["mean"], truth["income_mean"]))
        for i, c in enumerate(truth["income_hist"]):
            count(f"hist{i}", _covers(income["histogram"]["counts"][i], c))
        for q, v in truth["income_quantiles"].items():
            count(f"q{q}", _covers(income["quantiles"][q], v))
        for i, c in enumerate(truth["region_counts"]):
            count(f"region{i}", _covers(region["histogram"]["counts"][i], c))
        count("region_nulls", _covers(region["null_count"], truth["region_nulls"]))
    rates = {k: v / RELEASES for k, v in hits.items()}
    assert min(rates.values()) >= 0.90, rates


def test_each_release_spends_what_was_asked_as_opendp_accounts_it(data):
    release = compute_release(data, SPECS, epsilon=0.7)
    assert release.epsilon == pytest.approx(0.7, rel=1e-6) and release.epsilon <= 0.7 + 1e-12
    # Row count, income histogram, income sum, region histogram: four equal shares.
    assert release.body["row_count"]["epsilon"] == pytest.approx(0.7 / 4, rel=1e-6)


def test_no_exact_extreme_or_rare_value_appears_in_a_release(data):
    text = json.dumps([compute_release(data, SPECS, epsilon=1.0).body for _ in range(5)])
    income = np.array(data.column("income").to_numpy(zero_copy_only=False), dtype=float)
    present = income[~np.isnan(income)]
    for secret in ("Zanzibar-rare-1", "Zanzibar-rare-2", "987654.321", "-55555.5", "123456.789"):
        assert secret not in text
    for extreme in (present.min(), present.max(), np.sort(present)[1], np.sort(present)[-2]):
        assert repr(float(extreme)) not in text and str(round(float(extreme), 6)) not in text
    assert "Zanzibar" not in text


def test_columns_that_cannot_be_released_are_omitted_and_cost_nothing(data):
    specs = [*SPECS, ColumnSpec("region", lower=0, upper=1), ColumnSpec("absent", categories=("x",))]
    with_bad = compute_release(data, specs[:2] + specs[3:], epsilon=1.0)
    assert [o["column"] for o in with_bad.omitted] == ["absent"]
    assert with_bad.columns == ["income", "region"]
    # The omitted column took no share: the same three columns' shares as without it.
    assert with_bad.body["row_count"]["epsilon"] == pytest.approx(0.25, rel=1e-6)
