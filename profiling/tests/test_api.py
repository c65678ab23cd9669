"""The profiling API: profile shape (API.md), re-run, expectation suites, quality history, warnings."""

import great_expectations as gx
import pytest

from catalog import services as catalog_services
from profiling.models import ExpectationSuite, ProfileRun
from profiling.tests.factories import credit_csv

pytestmark = pytest.mark.django_db

PROFILE_KEYS = {
    "status",
    "progress",
    "error",
    "started_at",
    "finished_at",
    "row_count",
    "columns",
    "quality",
    "bias",
    "drift",
}
COLUMN_KEYS = {
    "name",
    "type",
    "null_count",
    "null_fraction",
    "distinct_count",
    "min",
    "max",
    "mean",
    "std",
    "quantiles",
    "histogram",
    "top_values",
    "pii",
}


def _profile_url(dataset, version) -> str:
    return f"/api/v1/datasets/{dataset.pk}/versions/{version.number}/profile/"


def test_profile_answer_has_the_api_md_shape(dataset, add_version, outsider, api_client_for, owner):
    catalog_services.update_dataset(
        actor=owner, dataset=dataset, sensitive_columns=["gender"], label_column="approved", positive_label=1
    )
    version = add_version(dataset, credit_csv())

    body = api_client_for(outsider).get(_profile_url(dataset, version)).json()

    assert PROFILE_KEYS <= set(body)
    assert body["status"] == "succeeded" and body["error"] is None and body["progress"] == 1.0
    assert body["row_count"] == 200
    for col in body["columns"]:
        assert COLUMN_KEYS <= set(col), col["name"]
    assert set(body["quality"]) >= {"success", "score", "results"}
    for item in body["quality"]["results"]:
        assert set(item) >= {"expectation", "column", "kwargs", "success", "observed"}
    assert body["bias"]["label_column"] == "approved"
    attr = body["bias"]["attributes"]["gender"]
    assert {"groups", "demographic_parity_difference", "demographic_parity_ratio"} <= set(attr)
    assert body["drift"] is None  # first version
    # email PII in an internal dataset is a governance warning
    assert [w["column"] for w in body["governance_warnings"]] == ["email"]
    warnings = api_client_for(outsider).get(_profile_url(dataset, version) + "warnings/").json()
    assert warnings == body["governance_warnings"]


def test_no_warning_once_the_dataset_is_confidential(dataset, add_version, api_client_for, owner):
    version = add_version(dataset, credit_csv(20))
    catalog_services.update_dataset(actor=owner, dataset=dataset, sensitivity="confidential")
    body = api_client_for(owner).get(_profile_url(dataset, version)).json()
    assert body["governance_warnings"] == []


@pytest.mark.parametrize(
    ("who", "expected"), [("owner", 202), ("steward", 202), ("staff", 202), ("outsider", 403)]
)
def test_rerun_permissions(
    who, expected, request, dataset, add_version, api_client_for, django_capture_on_commit_callbacks
):
    version = add_version(dataset, credit_csv(20))
    user = request.getfixturevalue(who)
    with django_capture_on_commit_callbacks(execute=True):
        r = api_client_for(user).post(_profile_url(dataset, version))
    assert r.status_code == expected, r.content
    run = ProfileRun.objects.get(version=version)
    if expected == 202:
        assert r.json()["status"] == "pending"
        assert run.status == "succeeded" and run.requested_by == user
    else:
        assert set(r.json()) == {"detail", "errors"}
        assert run.requested_by != user


def test_rerun_of_a_running_job_is_a_conflict(dataset, add_version, api_client_for, owner):
    from django.utils import timezone

    version = add_version(dataset, credit_csv(20))
    ProfileRun.objects.filter(version=version).update(status="running", heartbeat_at=timezone.now())
    r = api_client_for(owner).post(_profile_url(dataset, version))
    assert r.status_code == 409 and r.json()["detail"]


def test_profile_of_unknown_version_is_404_and_anonymous_is_401(dataset, anon_client, api_client_for, owner):
    assert api_client_for(owner).get(f"/api/v1/datasets/{dataset.pk}/versions/9/profile/").status_code == 404
    assert anon_client.get(f"/api/v1/datasets/{dataset.pk}/versions/1/profile/").status_code == 401
    assert anon_client.get(f"/api/v1/datasets/{dataset.pk}/expectation-suite/").status_code == 401


SUITE = {
    "name": "credit checks",
    "expectations": [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}, "meta": {}},
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "age", "min_value": 18, "max_value": 70},
        },
    ],
    "meta": {"team": "risk"},
}


@pytest.mark.parametrize(
    ("who", "expected"), [("owner", 200), ("steward", 200), ("staff", 200), ("outsider", 403)]
)
def test_suite_edit_permissions(who, expected, request, dataset, api_client_for):
    r = api_client_for(request.getfixturevalue(who)).put(
        f"/api/v1/datasets/{dataset.pk}/expectation-suite/", SUITE, format="json"
    )
    assert r.status_code == expected, r.content
    if expected == 200:
        body = r.json()
        assert body["name"] == "credit checks" and body["version"] == 1 and body["origin"] == "edited"
        assert body["expectations"][1] == {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "age", "min_value": 18, "max_value": 70},
            "meta": {},
        }
    else:
        assert not ExpectationSuite.objects.filter(dataset=dataset).exists()


def test_anyone_signed_in_reads_the_suite(dataset, api_client_for, owner, outsider):
    empty = api_client_for(outsider).get(f"/api/v1/datasets/{dataset.pk}/expectation-suite/").json()
    assert empty["expectations"] == [] and empty["version"] == 0
    api_client_for(owner).put(f"/api/v1/datasets/{dataset.pk}/expectation-suite/", SUITE, format="json")
    body = api_client_for(outsider).get(f"/api/v1/datasets/{dataset.pk}/expectation-suite/").json()
    assert len(body["expectations"]) == 2 and body["updated_by"] == owner.username


def test_unknown_expectation_type_is_a_400_naming_it(dataset, api_client_for, owner):
    bad = {"expectations": [{"type": "expect_unicorns", "kwargs": {}}]}
    r = api_client_for(owner).put(f"/api/v1/datasets/{dataset.pk}/expectation-suite/", bad, format="json")
    assert r.status_code == 400
    assert "expect_unicorns" in r.json()["detail"]
    assert not ExpectationSuite.objects.filter(dataset=dataset).exists()


def _gx_context() -> None:
    """GX 1.x builds suites only with a context (as its users have); the jobs no longer make one."""
    gx.get_context(mode="ephemeral")


def test_import_of_a_gx_export(dataset, api_client_for, steward, outsider):
    _gx_context()
    suite = gx.ExpectationSuite(name="from gx")
    suite.add_expectation(
        gx.expectations.ExpectColumnValuesToBeInSet(column="region", value_set=["north", "south"])
    )
    suite.add_expectation(gx.expectations.ExpectTableRowCountToBeBetween(min_value=1, max_value=10_000))
    exported = suite.to_json_dict()
    url = f"/api/v1/datasets/{dataset.pk}/expectation-suite/import/"

    assert api_client_for(outsider).post(url, exported, format="json").status_code == 403
    r = api_client_for(steward).post(url, exported, format="json")

    assert r.status_code == 200, r.content
    body = r.json()
    assert body["origin"] == "imported" and body["name"] == "from gx"
    assert [e["type"] for e in body["expectations"]] == [
        "expect_column_values_to_be_in_set",
        "expect_table_row_count_to_be_between",
    ]
    bad = api_client_for(steward).post(url, {"name": "x", "expectations": [{"type": "nope"}]}, format="json")
    assert bad.status_code == 400 and "nope" in bad.json()["detail"]
    assert api_client_for(steward).post(url, ["not", "a", "suite"], format="json").status_code == 400


def test_quality_history_across_versions(dataset, add_version, api_client_for, owner, outsider):
    add_version(dataset, credit_csv(30))
    api_client_for(owner).put(
        f"/api/v1/datasets/{dataset.pk}/expectation-suite/",
        {
            "expectations": [
                {
                    "type": "expect_column_values_to_be_between",
                    "kwargs": {"column": "age", "min_value": 18, "max_value": 30},
                }
            ]
        },
        format="json",
    )
    add_version(dataset, credit_csv(30, seed=9))

    body = api_client_for(outsider).get(f"/api/v1/datasets/{dataset.pk}/quality-history/").json()
    assert body["count"] == 2
    newest, oldest = body["results"]
    assert (newest["version"], oldest["version"]) == (2, 1)
    assert oldest["success"] is True and oldest["score"] == 1.0
    assert newest["success"] is False and newest["score"] == 0.0 and newest["suite_version"] == 2
    assert set(newest) >= {"version", "success", "score", "created_at"}


def test_upload_through_the_api_ends_in_a_profile(
    dataset, api_client_for, owner, tmp_path, django_capture_on_commit_callbacks
):
    f = tmp_path / "credit.csv"
    f.write_text(credit_csv(25))
    client = api_client_for(owner)
    with django_capture_on_commit_callbacks(execute=True), f.open("rb") as fh:
        up = client.post(f"/api/v1/datasets/{dataset.pk}/versions/", {"file": fh}, format="multipart")
    assert up.status_code == 201, up.content
    body = client.get(f"/api/v1/datasets/{dataset.pk}/versions/{up.json()['number']}/profile/").json()
    assert body["status"] == "succeeded" and body["row_count"] == 25


def test_suite_edit_with_a_stale_version_is_a_conflict(dataset, api_client_for, owner, steward):
    url = f"/api/v1/datasets/{dataset.pk}/expectation-suite/"
    assert api_client_for(owner).put(url, {**SUITE, "version": 0}, format="json").status_code == 200
    assert api_client_for(steward).put(url, {**SUITE, "version": 1}, format="json").status_code == 200
    late = api_client_for(owner).put(url, {**SUITE, "name": "mine", "version": 1}, format="json")
    assert late.status_code == 409 and "version" in late.json()["errors"]
    assert api_client_for(owner).get(url).json()["version"] == 2


def test_import_of_a_gx_export_as_a_file(dataset, api_client_for, owner, tmp_path):
    import json

    _gx_context()
    suite = gx.ExpectationSuite(name="file export")
    suite.add_expectation(gx.expectations.ExpectColumnValuesToNotBeNull(column="id"))
    f = tmp_path / "suite.json"
    f.write_text(json.dumps(suite.to_json_dict()))
    url = f"/api/v1/datasets/{dataset.pk}/expectation-suite/import/"
    with f.open("rb") as fh:
        r = api_client_for(owner).post(url, {"file": fh}, format="multipart")
    assert r.status_code == 200, r.content
    assert r.json()["name"] == "file export" and r.json()["origin"] == "imported"

    f.write_text("{not json")
    with f.open("rb") as fh:
        bad = api_client_for(owner).post(url, {"file": fh}, format="multipart")
    assert bad.status_code == 400 and "file" in bad.json()["errors"]
