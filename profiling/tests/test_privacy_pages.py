"""The profile page's differentially private release for viewers without clearance, and the
steward's privacy page (budget, ledger, bounds form)."""

import pytest

from catalog import services as catalog_services
from profiling.models import PrivacyBudget, PrivateRelease
from profiling.tests.factories import credit_csv

pytestmark = pytest.mark.django_db


@pytest.fixture
def protected(owner, steward, add_version):
    dataset = catalog_services.create_dataset(
        actor=owner,
        namespace="s3://lake",
        name="credit/ui",
        stewards=[steward.username],
        sensitivity="confidential",
    )
    return dataset, add_version(dataset, credit_csv(300))


def test_steward_sets_bounds_and_budget_and_outsider_sees_the_labelled_release(
    web, steward, outsider, protected
):
    dataset, version = protected
    page = f"/datasets/{dataset.pk}/privacy/"
    client = web(steward)
    r = client.post(
        page,
        {"form": "bounds", "version": version.number, "bounds": "age, 18, 80, 6\nregion: north, south, east"},
    )
    assert r.status_code == 302
    r = client.post(
        page, {"form": "budget", "version": version.number, "epsilon_total": "2", "epsilon_per_release": "1"}
    )
    assert r.status_code == 302 and PrivacyBudget.objects.get(version=version).epsilon_total == 2

    html = web(outsider).get(f"/datasets/{dataset.pk}/profile/").content.decode()
    assert "Differentially private release" in html and "±" in html and "95 %" in html
    assert "user1@example.org" not in html
    assert PrivateRelease.objects.count() == 1

    html = web(steward).get(f"{page}?version={version.number}").content.decode()
    assert outsider.username in html and "ε spent" in html and "age, 18, 80, 6" in html


def test_bad_bounds_in_the_form_are_a_400_and_nothing_is_saved(web, steward, protected):
    dataset, version = protected
    r = web(steward).post(f"/datasets/{dataset.pk}/privacy/", {"form": "bounds", "bounds": "age, 80, 18"})
    assert r.status_code == 400 and "lower bound must be less" in r.content.decode()
    r = web(steward).post(
        f"/datasets/{dataset.pk}/privacy/", {"form": "budget", "version": 1, "epsilon_total": "-3"}
    )
    assert r.status_code == 400
    assert not dataset.privacy_bounds.exists() and not PrivacyBudget.objects.exists()


def test_outsiders_may_not_open_the_privacy_page(web, outsider, protected):
    dataset, _ = protected
    assert web(outsider).get(f"/datasets/{dataset.pk}/privacy/").status_code == 403
