"""Teams as owners and stewards: a member of a dataset's owner group acts as owner, of a steward group
as steward; the API names the groups; only members (or staff) make a group the owner."""

import pytest
from django.contrib.auth.models import Group

from catalog import services
from catalog.models import Dataset
from catalog.permissions import (
    acting_groups,
    can_change_dataset,
    can_delete_dataset,
    forget_groups,
    is_owner,
    is_steward,
)
from config.errors import NotAllowed

pytestmark = pytest.mark.django_db


@pytest.fixture
def fraud_team(make_user):
    group = Group.objects.create(name="fraud-team")
    alice = make_user("alice_member", email="alice@example.org")
    alice.groups.add(group)
    return group, alice


@pytest.fixture
def fraud_stewards(make_user):
    group = Group.objects.create(name="fraud-stewards")
    bob = make_user("bob_member", email="bob@example.org")
    bob.groups.add(group)
    return group, bob


@pytest.fixture
def team_dataset(owner, fraud_team, fraud_stewards):
    return services.create_dataset(
        actor=owner,
        namespace="s3://lake",
        name="fraud/cases",
        sensitivity="restricted",
        steward_groups=[fraud_stewards[0].name],
    )


def _own_by_group(dataset, group, staff):
    return services.update_dataset(actor=staff, dataset=dataset, owner_group=group.name)


def test_a_member_of_the_owner_group_acts_as_owner_an_outsider_does_not(
    team_dataset, fraud_team, fraud_stewards, staff, outsider
):
    group, alice = fraud_team
    dataset = _own_by_group(team_dataset, group, staff)
    assert (
        is_owner(alice, dataset) and can_delete_dataset(alice, dataset) and can_change_dataset(alice, dataset)
    )
    assert acting_groups(alice, dataset) == {"owner": "fraud-team"}
    assert not is_owner(outsider, dataset) and not can_change_dataset(outsider, dataset)
    # The steward group's member is a steward, not an owner.
    bob = fraud_stewards[1]
    assert is_steward(bob, dataset) and not is_owner(bob, dataset) and not can_delete_dataset(bob, dataset)
    assert acting_groups(bob, dataset) == {"steward": "fraud-stewards"}
    assert not is_steward(outsider, dataset)


def test_a_member_acting_as_owner_may_lower_sensitivity_a_steward_member_may_not(
    team_dataset, fraud_team, fraud_stewards, staff
):
    dataset = _own_by_group(team_dataset, fraud_team[0], staff)
    with pytest.raises(NotAllowed):
        services.update_dataset(actor=fraud_stewards[1], dataset=dataset, sensitivity="internal")
    with pytest.raises(NotAllowed):
        services.update_dataset(actor=fraud_stewards[1], dataset=dataset, owner_group=None)
    changed = services.update_dataset(actor=fraud_team[1], dataset=dataset, sensitivity="internal")
    assert changed.sensitivity == "internal"


def test_managed_by_finds_datasets_through_groups_once(
    team_dataset, fraud_team, fraud_stewards, staff, outsider
):
    dataset = _own_by_group(team_dataset, fraud_team[0], staff)
    bob = fraud_stewards[1]
    bob.groups.add(fraud_team[0])  # owner and steward group both: still one row
    assert list(Dataset.objects.managed_by(bob)) == [dataset]
    assert list(Dataset.objects.managed_by(fraud_team[1])) == [dataset]
    assert list(Dataset.objects.editable_by(fraud_team[1])) == [dataset]
    assert not Dataset.objects.managed_by(outsider).exists()


def test_only_members_or_staff_make_a_group_the_owner(team_dataset, owner, fraud_team, staff):
    # The owner is no member of fraud-team: they may not make the team answerable for it.
    with pytest.raises(NotAllowed):
        services.update_dataset(actor=owner, dataset=team_dataset, owner_group="fraud-team")
    owner.groups.add(fraud_team[0])
    forget_groups(owner)  # the membership changed after this user object read it
    changed = services.update_dataset(actor=owner, dataset=team_dataset, owner_group="fraud-team")
    assert changed.owner_group == fraud_team[0]


# ---------------------------------------------------------------------------------------------
# API


def test_the_api_sets_and_answers_group_names(team_dataset, owner, staff, fraud_team, api_client_for):
    client = api_client_for(staff)
    r = client.patch(
        f"/api/v1/datasets/{team_dataset.pk}/",
        {"owner_group": "fraud-team", "steward_groups": ["fraud-stewards", "fraud-team"]},
        format="json",
    )
    assert r.status_code == 200, r.content
    assert r.json()["owner_group"] == "fraud-team"
    assert r.json()["steward_groups"] == ["fraud-stewards", "fraud-team"]
    listed = api_client_for(owner).get("/api/v1/datasets/", {"owner_group": "fraud-team"}).json()
    assert [d["name"] for d in listed["results"]] == ["fraud/cases"]
    assert listed["results"][0]["steward_groups"] == ["fraud-stewards", "fraud-team"]
    assert listed["results"][0]["owner_group"] == "fraud-team"
    stewarded = api_client_for(owner).get("/api/v1/datasets/", {"steward_group": "fraud-stewards"}).json()
    assert [d["name"] for d in stewarded["results"]] == ["fraud/cases"]
    assert api_client_for(owner).get("/api/v1/datasets/", {"owner_group": "nobody"}).json()["results"] == []


def test_an_unknown_group_is_a_400_naming_it(team_dataset, staff, api_client_for):
    client = api_client_for(staff)
    r = client.patch(
        f"/api/v1/datasets/{team_dataset.pk}/",
        {"steward_groups": ["fraud-team", "no-such-team"]},
        format="json",
    )
    assert r.status_code == 400
    assert "no-such-team" in str(r.json()["errors"]["steward_groups"])
    r = client.patch(f"/api/v1/datasets/{team_dataset.pk}/", {"owner_group": "ghosts"}, format="json")
    assert r.status_code == 400 and "ghosts" in str(r.json()["errors"]["owner_group"])
    team_dataset.refresh_from_db()
    assert (
        team_dataset.owner_group_id is None
        and list(team_dataset.steward_groups.all())[0].name == "fraud-stewards"
    )


def test_the_api_refuses_a_group_the_caller_is_not_in(owner, fraud_team, api_client_for):
    client = api_client_for(owner)
    r = client.post(
        "/api/v1/datasets/",
        {"namespace": "s3://lake", "name": "x", "owner_group": "fraud-team"},
        format="json",
    )
    assert r.status_code == 403
    assert not Dataset.objects.filter(name="x").exists()
    r = api_client_for(fraud_team[1]).post(
        "/api/v1/datasets/",
        {"namespace": "s3://lake", "name": "y", "owner_group": "fraud-team"},
        format="json",
    )
    assert r.status_code == 201 and r.json()["owner_group"] == "fraud-team"


def test_a_steward_group_member_changes_metadata_through_the_api(
    team_dataset, fraud_stewards, api_client_for
):
    r = api_client_for(fraud_stewards[1]).patch(
        f"/api/v1/datasets/{team_dataset.pk}/", {"description": "Cases under review"}, format="json"
    )
    assert r.status_code == 200
    assert r.json()["description"] == "Cases under review"


def test_an_outsider_may_not_change_the_groups(team_dataset, outsider, api_client_for):
    r = api_client_for(outsider).patch(
        f"/api/v1/datasets/{team_dataset.pk}/", {"steward_groups": []}, format="json"
    )
    assert r.status_code == 403


# ---------------------------------------------------------------------------------------------
# Web UI


def test_the_dataset_page_shows_the_teams(team_dataset, staff, fraud_team, web):
    _own_by_group(team_dataset, fraud_team[0], staff)
    Group.objects.filter(name="fraud-stewards").update(name="<b>stewards</b>")
    page = web(fraud_team[1]).get(f"/datasets/{team_dataset.pk}/").content.decode()
    assert "fraud-team" in page and "&lt;b&gt;stewards&lt;/b&gt;" in page and "<b>stewards</b>" not in page


def test_the_edit_form_picks_steward_groups(team_dataset, owner, fraud_team, web):
    client = web(owner)
    page = client.get(f"/datasets/{team_dataset.pk}/edit/").content.decode()
    assert 'name="steward_groups"' in page and "fraud-team" in page
    r = client.post(
        f"/datasets/{team_dataset.pk}/edit/",
        {"sensitivity": "restricted", "steward_groups": ["fraud-team", "fraud-stewards"], "owner_group": ""},
    )
    assert r.status_code == 302, r.content.decode()[:2000]
    assert sorted(team_dataset.steward_groups.values_list("name", flat=True)) == [
        "fraud-stewards",
        "fraud-team",
    ]


def test_a_list_of_team_datasets_takes_as_many_queries_for_many_rows(
    owner, fraud_team, fraud_stewards, staff, api_client_for
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def make(n):
        for i in range(n):
            services.create_dataset(
                actor=staff,
                namespace="s3://q",
                name=f"t{Dataset.objects.count()}_{i}",
                owner_group="fraud-team",
                steward_groups=["fraud-stewards", "fraud-team"],
            )

    client = api_client_for(fraud_team[1])

    def queries():
        with CaptureQueriesContext(connection) as seen:
            r = client.get("/api/v1/datasets/", {"owner_group": "fraud-team"})
        assert r.status_code == 200
        return len(seen), r.json()["count"]

    make(2)
    few = queries()
    make(8)
    many = queries()
    assert few[1] == 2 and many[1] == 10
    assert many[0] == few[0]
