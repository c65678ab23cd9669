"""The issue's "done when": a version uploaded through the API, or registered by path, ends without
anything else to do in a profile with every part; its bias figures agree with fairlearn on real data."""

import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    selection_rate,
)
from palmerpenguins import load_penguins

pytestmark = pytest.mark.django_db


@pytest.fixture
def penguins_dataset(owner, steward, api_client_for):
    r = api_client_for(owner).post(
        "/api/v1/datasets/",
        {
            "namespace": "s3://lake",
            "name": "research/penguins",
            "stewards": [steward.username],
            "sensitivity": "public",
            "sensitive_columns": ["sex", "island"],
            "label_column": "species",
            "positive_label": "Adelie",
        },
        format="json",
    )
    assert r.status_code == 201, r.content
    return r.json()


def test_upload_and_registration_end_in_a_full_profile_that_agrees_with_fairlearn(
    penguins_dataset, owner, api_client_for, tmp_path, data_root, django_capture_on_commit_callbacks
):
    df = load_penguins()
    client = api_client_for(owner)
    ds = penguins_dataset["id"]

    upload = tmp_path / "penguins.csv"
    df.to_csv(upload, index=False)
    with django_capture_on_commit_callbacks(execute=True), upload.open("rb") as fh:
        r = client.post(f"/api/v1/datasets/{ds}/versions/", {"file": fh}, format="multipart")
    assert r.status_code == 201 and r.json()["profile_status"] == "pending"

    # A second version, registered by path: later years only, so that drift has something to see.
    registered = data_root / "penguins-2009.csv"
    df[df.year == 2009].to_csv(registered, index=False)
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post(f"/api/v1/datasets/{ds}/versions/", {"uri": registered.as_uri()}, format="json")
    assert r.status_code == 201

    first = client.get(f"/api/v1/datasets/{ds}/versions/1/profile/").json()
    second = client.get(f"/api/v1/datasets/{ds}/versions/2/profile/").json()

    for profile in (first, second):
        assert profile["status"] == "succeeded", profile["error"]
        assert profile["columns"] and profile["quality"]["results"] and profile["bias"]
    assert first["row_count"] == len(df)
    assert first["drift"] is None and second["drift"]["previous_version"] == 1
    assert first["quality"]["success"] is True  # the proposed suite holds on the data it came from
    assert client.get(f"/api/v1/datasets/{ds}/expectation-suite/").json()["origin"] == "proposed"
    assert [
        h["version"] for h in client.get(f"/api/v1/datasets/{ds}/quality-history/").json()["results"]
    ] == [2, 1]

    # Bias: fairlearn's definitions with the label taken as the prediction. Rows without a value
    # for the attribute are listed as the group "(missing)" and left out of the parity figures
    # (fairlearn refuses missing sensitive values), as docs/profiling.md says.
    y = (df.species == "Adelie").astype(int)
    for attribute in ("sex", "island"):
        known = df[attribute].notna()
        ours = first["bias"]["attributes"][attribute]
        assert ours["demographic_parity_difference"] == pytest.approx(
            demographic_parity_difference(y[known], y[known], sensitive_features=df[attribute][known]),
            abs=1e-9,
        )
        assert ours["demographic_parity_ratio"] == pytest.approx(
            demographic_parity_ratio(y[known], y[known], sensitive_features=df[attribute][known]), abs=1e-9
        )
        groups = df[attribute].astype(object).where(known, "(missing)")
        rates = MetricFrame(metrics=selection_rate, y_true=y, y_pred=y, sensitive_features=groups).by_group
        for group, rate in rates.items():
            assert ours["groups"][str(group)]["positive_rate"] == pytest.approx(rate, abs=1e-9)
