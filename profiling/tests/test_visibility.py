"""The allow-list of profiling.visibility: what is not named there never reaches a viewer without
clearance, whatever the profile holds (a figure added tomorrow, an error quoting a row)."""

import json

import pytest

from catalog import services as catalog_services
from profiling import selectors, suites, visibility
from profiling.tests.factories import credit_csv

pytestmark = pytest.mark.django_db

SECRET = "S3CRET-cell-value"


@pytest.fixture
def profile(owner, steward, add_version):
    dataset = catalog_services.create_dataset(
        actor=owner,
        namespace="s3://lake",
        name="credit/secret",
        stewards=[steward.username],
        sensitivity="restricted",
        sensitive_columns=["gender"],
        label_column="approved",
        positive_label=1,
    )
    add_version(dataset, credit_csv(80))
    version = add_version(dataset, credit_csv(80, seed=2))
    answer = selectors.profile_answer(version)
    assert answer["status"] == "succeeded" and answer["drift"] and answer["bias"]["attributes"]
    return dataset, answer


def _plant(profile: dict) -> dict:
    """The profile with a secret in every place the engine might put one tomorrow."""
    p = json.loads(json.dumps(profile))
    fixed_objects = [p, p["quality"], p["bias"], p["drift"], p["method"], p["method"]["quality"]]
    fixed_objects += p["columns"] + [c["histogram"] for c in p["columns"] if c["histogram"]]
    fixed_objects += p["quality"]["results"] + list(p["bias"]["attributes"].values())
    fixed_objects += list(p["drift"]["columns"].values()) + list(p["method"]["columns"].values())
    for obj in fixed_objects:
        obj["figure_added_tomorrow"] = SECRET
        obj["numbers_added_tomorrow"] = [SECRET, 1]
    p["error"] = f"The file cannot be read as CSV: CSV parse error: row {SECRET},x"
    p["warnings"] += [
        f"Column gender mixes kinds of values (field gender changes type: {SECRET}); it was read as text.",
        f"Drift could not be computed: ValueError: {SECRET}",
        f"Group '{SECRET}' of gender is under-represented: 1.0% of the rows (threshold 5%).",
    ]
    p["bias"]["warnings"].append(f"The positive label {SECRET!r} never occurs in approved; check it.")
    p["bias"]["underrepresented"].append({"attribute": "gender", "group": SECRET, "share": 0.01})
    p["method"]["restarts"] = [f"field gender changes type: {SECRET}"]
    p["method"]["columns"]["email"]["note"] = SECRET
    p["quality"]["results"][0]["observed"] = {"error": f"could not convert {SECRET!r}"}
    p["quality"]["results"][1]["observed"] = {"observed_value": SECRET, "element_count": 3}
    p["columns"][0]["top_values"] = [{"value": SECRET, "count": 2}]
    p["drift"]["schema_changes"].append(
        {"change": "retyped", "column": "id", "before": "integer", "after": "x"}
    )
    return p


def test_whatever_is_not_allowed_is_left_out(profile):
    """The allow-list itself (as the model card of a dataset not protected uses it)."""
    _, answer = profile
    planted = _plant(answer)
    assert SECRET in json.dumps(planted)

    shown = visibility.profile_without_values(planted)

    text = json.dumps(shown)
    assert SECRET not in text and "figure_added_tomorrow" not in text and "numbers_added_tomorrow" not in text
    assert shown["error"] == visibility.HIDDEN_ERROR
    assert "Personal data found: email (email)." in shown["warnings"]
    assert shown["drift"]["schema_changes"][-1] == {
        "change": "retyped",
        "column": "id",
        "before": "integer",
        "after": "x",
    }


def test_numbers_of_sensitive_label_and_pii_columns_are_values_too(profile, steward):
    dataset, answer = profile
    shown = visibility.profile_without_values(answer)
    columns = {c["name"]: c for c in shown["columns"]}
    assert set(columns["age"]) == set(answer["columns"][1])  # every key the API promises is there
    assert columns["age"]["min"] is not None and columns["age"]["histogram"]["bins"]  # an open column
    assert columns["age"]["top_values"] == []
    label = columns["approved"]  # the label: 0 and 1 are its values
    assert label["min"] is None and label["quantiles"] is None and label["histogram"]["bins"] == []
    assert label["histogram"]["counts"] and label["mean"] is None and label["null_count"] == 0
    for result in shown["quality"]["results"]:
        if result["column"] == "approved" and "min_value" in result["kwargs"]:
            assert result["kwargs"]["min_value"] is None
    assert shown["bias"]["attributes"]["gender"]["groups"] == {}
    assert "group" not in json.dumps(shown["bias"]["underrepresented"])

    assert visibility.profile_for_viewer(answer, user=steward, dataset=dataset) == {
        **answer,
        "values_hidden": None,
    }


def test_a_protected_dataset_shows_an_outsider_only_the_jobs_state(profile, outsider):
    """Of a confidential or restricted dataset, no exact statistic: its figures come only from the
    differentially private release (docs/privacy.md)."""
    dataset, answer = profile
    planted = _plant(answer)

    shown = visibility.profile_for_viewer(planted, user=outsider, dataset=dataset)

    assert SECRET not in json.dumps(shown)
    assert shown == {
        "status": "succeeded",
        "progress": answer["progress"],
        "error": visibility.HIDDEN_ERROR,
        "started_at": answer["started_at"],
        "finished_at": answer["finished_at"],
        "row_count": None,
        "columns": [],
        "quality": None,
        "bias": None,
        "drift": None,
        "attempts": answer["attempts"],
        "warnings": [],
        "governance_warnings": [],
        "method": {},
        "values_hidden": visibility.DP_POINTER_NOTE.format(sensitivity="restricted", dataset=dataset.pk),
    }
    assert "differential privacy" in shown["values_hidden"]


def test_a_suite_hides_the_bounds_of_protected_columns(profile, outsider, steward):
    dataset, _ = profile
    between = "expect_column_values_to_be_between"
    suites.save_suite(
        actor=steward,
        dataset=dataset,
        expectations=[
            {"type": between, "kwargs": {"column": "approved", "min_value": 0, "max_value": 1}},
            {"type": between, "kwargs": {"column": "age", "min_value": 18, "max_value": 80}},
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": "region", "value_set": ["east"]},
            },
        ],
    )
    suite = selectors.suite_answer(dataset)
    shown = visibility.suite_for_viewer(suite, user=outsider, dataset=dataset)
    assert [e["kwargs"] for e in shown["expectations"]] == [
        {"column": "approved", "min_value": None, "max_value": None},
        {"column": "age", "min_value": 18, "max_value": 80},
        {"column": "region", "value_set": []},
    ]
    assert shown["values_hidden"] and visibility.suite_for_viewer(suite, user=steward, dataset=dataset) == {
        **suite,
        "values_hidden": None,
    }
