"""Selectors that governance reads: names and shapes are a contract."""

import pytest

from catalog import services as catalog_services
from profiling import selectors
from profiling.tests.factories import credit_csv

pytestmark = pytest.mark.django_db


def test_latest_profile_summary(dataset, add_version, owner):
    assert selectors.latest_profile_summary(dataset) is None
    catalog_services.update_dataset(
        actor=owner, dataset=dataset, sensitive_columns=["gender"], label_column="approved", positive_label=1
    )
    add_version(dataset, credit_csv(100))
    v2 = add_version(dataset, credit_csv(100, seed=5))

    summary = selectors.latest_profile_summary(dataset)

    assert set(summary) == {"version", "status", "quality", "bias", "pii", "drift", "finished_at"}
    assert summary["version"] == v2.number and summary["status"] == "succeeded"
    assert set(summary["quality"]) == {"success", "score"}
    assert set(summary["bias"]["gender"]) == {"demographic_parity_difference", "demographic_parity_ratio"}
    assert "email" in summary["pii"]
    assert isinstance(summary["drift"]["drifted_columns"], list)


def test_profile_for_version_and_history(dataset, add_version):
    version = add_version(dataset, credit_csv(10))
    profile = selectors.profile_for_version(version)
    assert profile["status"] == "succeeded" and profile["row_count"] == 10
    history = selectors.quality_history(dataset)
    assert [h["version"] for h in history] == [1]
    assert set(history[0]) >= {"version", "success", "score", "created_at"}
