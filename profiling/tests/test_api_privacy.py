"""The differentially private profile through the API: who gets it, the budget and its ledger,
stored releases (a refresh draws no new noise), refusals, and bad input that spends nothing."""

import json

import pytest

from catalog import services as catalog_services
from governance.models import AuditRecord
from profiling.models import PrivacyBudget, PrivateRelease
from profiling.tests.factories import credit_csv

pytestmark = pytest.mark.django_db

BOUNDS = [
    {"column": "age", "lower": 18, "upper": 80, "bins": 6},
    {"column": "region", "categories": ["north", "south", "east"]},
]


@pytest.fixture
def protected(owner, steward, add_version):
    dataset = catalog_services.create_dataset(
        actor=owner,
        namespace="s3://lake",
        name="credit/dp",
        stewards=[steward.username],
        sensitivity="restricted",
    )
    version = add_version(dataset, credit_csv(400))
    assert version.profile_run.status == "succeeded"
    return dataset, version


def _url(dataset, version, tail="profile/"):
    return f"/api/v1/datasets/{dataset.pk}/versions/{version.number}/{tail}"


def _set_up(api_client_for, steward, dataset, version, total=3.0, each=1.0):
    client = api_client_for(steward)
    r = client.put(f"/api/v1/datasets/{dataset.pk}/privacy/bounds/", {"columns": BOUNDS}, format="json")
    assert r.status_code == 200, r.json()
    r = client.put(
        _url(dataset, version, "privacy/budget/"),
        {"epsilon_total": total, "epsilon_per_release": each},
        format="json",
    )
    assert r.status_code == 200, r.json()
    return client


def test_outsider_gets_a_dp_release_and_the_steward_the_exact_profile(
    api_client_for, steward, outsider, protected
):
    dataset, version = protected
    steward_client = _set_up(api_client_for, steward, dataset, version)
    answer = api_client_for(outsider).get(_url(dataset, version)).json()
    assert answer["release"] == "dp" and answer["refusal"] is None
    assert answer["budget"]["epsilon_total"] == 3.0 and answer["budget"]["epsilon_spent"] == pytest.approx(
        1.0
    )
    rows = answer["row_count"]
    assert set(rows) == {"value", "epsilon", "ci95"} and rows["ci95"][0] <= rows["value"] <= rows["ci95"][1]
    age = next(c for c in answer["columns"] if c["name"] == "age")
    assert age["min"] is None and age["max"] is None and age["top_values"] == []
    assert set(age["mean"]) == {"value", "epsilon", "ci95"} and len(age["histogram"]["counts"]) == 6
    assert set(age["quantiles"]) == {"0.01", "0.25", "0.5", "0.75", "0.99"}
    omitted = {o["column"]: o["reason"] for o in answer["omitted"]}
    assert "email" in omitted and "no ε is spent" in omitted["email"]
    assert "user1@example.org" not in json.dumps(answer)

    exact = steward_client.get(_url(dataset, version)).json()
    assert "release" not in exact and exact["row_count"] == 400 and exact["values_hidden"] is None


def test_refresh_serves_the_stored_release_and_spends_once(
    api_client_for, steward, outsider, staff, protected
):
    dataset, version = protected
    _set_up(api_client_for, steward, dataset, version)
    client = api_client_for(outsider)
    first = client.get(_url(dataset, version)).json()
    again = client.get(_url(dataset, version)).json()
    assert first == again
    assert PrivateRelease.objects.filter(version=version).count() == 1
    ledger = api_client_for(steward).get(_url(dataset, version, "privacy/ledger/")).json()
    assert ledger["count"] == 1 and ledger["results"][0]["requested_by"] == outsider.username
    assert sorted(ledger["results"][0]["columns"]) == ["age", "region"]
    record = AuditRecord.objects.get(action="privacy.released")
    assert record.actor == outsider.username and record.after["epsilon"] == pytest.approx(1.0)
    assert api_client_for(outsider).get(_url(dataset, version, "privacy/ledger/")).status_code == 403


def test_budget_accounting_is_exact_and_a_spent_budget_refuses(api_client_for, steward, outsider, protected):
    dataset, version = protected
    steward_client = _set_up(api_client_for, steward, dataset, version, total=1.0, each=0.5)
    client = api_client_for(outsider)
    answers = []
    for bins in (6, 4, 3):  # each change of the steward's settings asks for a new release
        bounds = [{**BOUNDS[0], "bins": bins}, BOUNDS[1]]
        r = steward_client.put(
            f"/api/v1/datasets/{dataset.pk}/privacy/bounds/", {"columns": bounds}, format="json"
        )
        assert r.status_code == 200
        answers.append(client.get(_url(dataset, version)).json())
    budget = PrivacyBudget.objects.get(version=version)
    ledger = list(PrivateRelease.objects.filter(version=version))
    assert len(ledger) == 2
    assert budget.epsilon_spent == sum(r.epsilon for r in reversed(ledger)) and budget.epsilon_spent <= 1.0
    assert answers[2]["refusal"] and "spent" in answers[2]["refusal"]
    # The last release made is still served, unchanged.
    assert answers[2]["row_count"] == answers[1]["row_count"]
    assert AuditRecord.objects.filter(action="privacy.released").count() == 2


@pytest.mark.parametrize(
    "body",
    [
        {"epsilon_total": 0},
        {"epsilon_total": -1},
        {"epsilon_total": "lots"},
        {"epsilon_total": True},
        {},
        {"epsilon_total": 1, "epsilon_per_release": 2},
    ],
)
def test_a_budget_that_is_not_a_positive_number_is_refused(api_client_for, steward, protected, body):
    dataset, version = protected
    r = api_client_for(steward).put(_url(dataset, version, "privacy/budget/"), body, format="json")
    assert r.status_code == 400 and r.json()["errors"]
    assert not PrivacyBudget.objects.filter(version=version).exists()


@pytest.mark.parametrize(
    "columns",
    [
        [{"column": "age", "lower": 80, "upper": 18}],
        [{"column": "age", "lower": 5, "upper": 5}],
        [{"column": "age", "lower": 1}],
        [{"column": "age"}],
        [{"column": "age", "lower": 0, "upper": 1, "categories": ["a"]}],
        [{"column": "age", "lower": 0, "upper": 1, "bins": 0}],
        [{"column": "region", "categories": ["a", "a"]}],
        "age",
    ],
)
def test_bounds_in_the_wrong_order_or_malformed_are_refused(
    api_client_for, steward, outsider, protected, columns
):
    dataset, version = protected
    client = _set_up(api_client_for, steward, dataset, version)
    r = client.put(f"/api/v1/datasets/{dataset.pk}/privacy/bounds/", {"columns": columns}, format="json")
    assert r.status_code == 400 and r.json()["errors"]
    assert dataset.privacy_bounds.count() == 2  # the settings before are kept
    assert not PrivateRelease.objects.exists()


def test_without_bounds_nothing_is_released_nor_spent(api_client_for, steward, outsider, protected):
    dataset, version = protected
    api_client_for(steward).put(
        _url(dataset, version, "privacy/budget/"), {"epsilon_total": 2}, format="json"
    )
    answer = api_client_for(outsider).get(_url(dataset, version)).json()
    assert answer["release"] == "dp" and answer["row_count"] is None and answer["columns"] == []
    assert "bounds" in answer["refusal"]
    assert PrivacyBudget.objects.get(version=version).epsilon_spent == 0
    assert not PrivateRelease.objects.exists()


def test_without_a_budget_nothing_is_released(api_client_for, outsider, protected):
    dataset, version = protected
    answer = api_client_for(outsider).get(_url(dataset, version)).json()
    assert answer["release"] == "dp" and answer["columns"] == [] and "budget" in answer["refusal"]
    assert answer["budget"] == {"epsilon_total": 0.0, "epsilon_spent": 0.0, "epsilon_per_release": None}


def test_outsiders_may_not_change_privacy_settings(api_client_for, outsider, protected):
    dataset, version = protected
    client = api_client_for(outsider)
    r = client.put(_url(dataset, version, "privacy/budget/"), {"epsilon_total": 100}, format="json")
    assert r.status_code == 403
    r = client.put(f"/api/v1/datasets/{dataset.pk}/privacy/bounds/", {"columns": BOUNDS}, format="json")
    assert r.status_code == 403
    assert not PrivacyBudget.objects.exists() and not dataset.privacy_bounds.exists()


def test_setting_bounds_and_budget_is_audited(api_client_for, steward, protected):
    dataset, version = protected
    _set_up(api_client_for, steward, dataset, version)
    actions = set(AuditRecord.objects.values_list("action", flat=True))
    assert {"privacy.bounds_changed", "privacy.budget_changed"} <= actions
