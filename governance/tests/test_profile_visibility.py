"""A protected dataset's profile shows its sample values only to those who may see the data (QA F20)."""

import pytest
from django.urls import reverse

from catalog import versions as catalog_versions
from governance import access_requests

pytestmark = pytest.mark.django_db

CSV = "patient_id,ward,age\n" + "".join(
    f"P{400 + i:04d},{'north' if i % 2 else 'south'},{30 + i % 40}\n" for i in range(60)
)


@pytest.fixture
def clinical(make_dataset, owner, data_root, django_capture_on_commit_callbacks):
    dataset = make_dataset("confidential", name="clinical/admissions")
    path = data_root / "admissions.csv"
    path.write_text(CSV)
    with django_capture_on_commit_callbacks(execute=True):
        version, _ = catalog_versions.add_version_from_uri(actor=owner, dataset=dataset, uri=path.as_uri())
    return dataset


def _profile(client, dataset):
    r = client.get(f"/api/v1/datasets/{dataset.pk}/versions/1/profile/")
    assert r.status_code == 200 and r.json()["status"] == "succeeded", r.content[:300]
    return {c["name"]: c for c in r.json()["columns"]}, r.json()


def test_values_follow_who_may_see_the_data(clinical, requester, steward, api_client_for, client):
    # Without clearance: a differentially private release (docs/privacy.md), here empty since no
    # steward set bounds or a budget; nothing exact.
    columns, answer = _profile(api_client_for(requester), clinical)
    assert answer["release"] == "dp" and columns == {} and answer["refusal"]
    assert "Differentially private release" in answer["values_hidden"]
    client.force_login(requester)
    page = client.get(reverse("profiling:page", args=[clinical.pk])).content.decode()
    assert "P0400" not in page and "Differentially private release" in page

    columns, answer = _profile(api_client_for(steward), clinical)
    assert columns["patient_id"]["min"] == "P0400" and answer["values_hidden"] is None

    access = access_requests.create_access_request(
        actor=requester, datasets=[clinical.urn], purpose="analysis", justification="ward capacity study"
    )
    access_requests.approve_access_request(actor=steward, request=access)
    columns, answer = _profile(api_client_for(requester), clinical)
    assert columns["ward"]["top_values"] and answer["values_hidden"] is None


def test_internal_datasets_show_values_to_everyone(
    make_dataset, owner, outsider, data_root, api_client_for, django_capture_on_commit_callbacks
):
    dataset = make_dataset("internal", name="ops/wards")
    path = data_root / "wards.csv"
    path.write_text(CSV)
    with django_capture_on_commit_callbacks(execute=True):
        catalog_versions.add_version_from_uri(actor=owner, dataset=dataset, uri=path.as_uri())
    columns, answer = _profile(api_client_for(outsider), dataset)
    assert columns["patient_id"]["min"] == "P0400" and answer["values_hidden"] is None


SUITE = [
    {
        "type": "expect_column_values_to_be_in_set",
        "kwargs": {"column": "ward", "value_set": ["north", "south"]},
    },
    {
        "type": "expect_column_values_to_match_regex",
        "kwargs": {"column": "patient_id", "regex": "^P04[0-9]{2}$"},
    },
    {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "age", "min_value": 30, "max_value": 69},
    },
]


def test_a_suites_literal_values_follow_who_may_see_the_data(
    make_dataset, owner, steward, requester, data_root, api_client_for, django_capture_on_commit_callbacks
):
    """A value set lists real cells (a suite proposed from a profile lists a column's values)."""
    from profiling import suites as profiling_services

    dataset = make_dataset("confidential", name="clinical/wards")
    profiling_services.save_suite(actor=steward, dataset=dataset, expectations=SUITE)
    path = data_root / "wards.csv"
    path.write_text(CSV)
    with django_capture_on_commit_callbacks(execute=True):
        catalog_versions.add_version_from_uri(actor=owner, dataset=dataset, uri=path.as_uri())

    url = f"/api/v1/datasets/{dataset.pk}/expectation-suite/"
    hidden = api_client_for(requester).get(url)
    assert hidden.status_code == 200, hidden.content[:300]
    kwargs = [e["kwargs"] for e in hidden.json()["expectations"]]
    assert kwargs == [
        {"column": "ward", "value_set": []},
        {"column": "patient_id", "regex": None},
        {"column": "age", "min_value": 30, "max_value": 69},
    ]
    assert "hidden" in hidden.json()["values_hidden"]
    assert "north" not in hidden.content.decode() and "P04" not in hidden.content.decode()
    _, answer = _profile(api_client_for(requester), dataset)
    # The profile is a differentially private release: no exact quality figure at all.
    assert answer["release"] == "dp" and answer["quality"] is None and "north" not in str(answer)

    shown = api_client_for(steward).get(url).json()
    assert (
        shown["expectations"][0]["kwargs"]["value_set"] == ["north", "south"]
        and shown["values_hidden"] is None
    )
    _, answer = _profile(api_client_for(steward), dataset)
    assert "north" in str(answer["quality"]["results"])
