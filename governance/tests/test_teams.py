"""Teams decide access requests: a member of the owner group acts as owner, of a steward group as
steward; two approvals of restricted data are still two different people; the requester never
decides their own request, whatever their groups; the inbox, the e-mails and the audit follow."""

import pytest
from django.contrib.auth.models import Group
from django.core import mail

from catalog import services as catalog_services
from governance import access_requests, notifications, registry, teams
from governance.models import AccessRequestEvent, AuditRecord, RegisteredModel

pytestmark = pytest.mark.django_db


@pytest.fixture
def groups(make_user):
    """fraud-team (alice, carol) owns, fraud-stewards (bob) stewards."""
    owners, stewards = Group.objects.create(name="fraud-team"), Group.objects.create(name="fraud-stewards")
    alice = make_user("alice_member", email="alice@example.org")
    carol = make_user("carol_member", email="carol@example.org")
    bob = make_user("bob_member", email="bob@example.org")
    for user in (alice, carol):
        user.groups.add(owners)
    bob.groups.add(stewards)
    return {"owners": owners, "stewards": stewards, "alice": alice, "carol": carol, "bob": bob}


@pytest.fixture
def team_dataset(staff, groups):
    """A restricted dataset owned and stewarded only by teams (no person named)."""
    return catalog_services.create_dataset(
        actor=staff,
        namespace="s3://lake",
        name="fraud/cases",
        sensitivity="restricted",
        owner=None,
        owner_group="fraud-team",
        steward_groups=["fraud-stewards"],
    )


def _ask(client, dataset):
    body = {"datasets": [dataset.urn], "purpose": "training", "justification": "fraud model v3"}
    r = client.post("/api/v1/access-requests/", body, format="json")
    assert r.status_code == 201, r.content
    return r.json()["id"]


def test_two_members_of_the_teams_approve_a_restricted_request(
    team_dataset, groups, requester, api_client_for
):
    rid = _ask(api_client_for(requester), team_dataset)
    url = f"/api/v1/access-requests/{rid}/approve"
    first = api_client_for(groups["alice"]).post(url, {}, format="json")
    assert first.status_code == 200, first.content
    assert first.json()["status"] == "pending"
    second = api_client_for(groups["bob"]).post(url, {}, format="json").json()
    assert second["status"] == "approved"
    roles = {a["approver"]: a["roles"] for a in second["approvals"]}
    assert roles == {
        "alice_member": {str(team_dataset.pk): ["owner"]},
        "bob_member": {str(team_dataset.pk): ["steward"]},
    }
    # The audit names the group each acted through.
    records = list(
        AuditRecord.objects.filter(action__in=["access_request.approval", "access_request.approved"])
    )
    through = {r.after["approver"]: r.after["as_group"] for r in records}
    assert through == {
        "alice_member": {str(team_dataset.pk): {"owner": "fraud-team"}},
        "bob_member": {str(team_dataset.pk): {"steward": "fraud-stewards"}},
    }


def test_one_person_in_both_teams_is_still_one_person(team_dataset, groups, requester, api_client_for):
    alice = groups["alice"]
    alice.groups.add(groups["stewards"])
    rid = _ask(api_client_for(requester), team_dataset)
    url = f"/api/v1/access-requests/{rid}/approve"
    once = api_client_for(alice).post(url, {}, format="json").json()
    assert once["status"] == "pending"
    assert once["approvals"][0]["roles"] == {str(team_dataset.pk): ["owner", "steward"]}
    twice = api_client_for(alice).post(url, {}, format="json")
    assert twice.status_code == 409
    # Two members of the owner team hold the owner role twice: no steward yet.
    carol = api_client_for(groups["carol"]).post(url, {}, format="json").json()
    assert carol["status"] == "approved"  # alice (steward through fraud-stewards) + carol (owner): two people


def test_two_owner_members_without_a_steward_do_not_approve(team_dataset, groups, requester, api_client_for):
    rid = _ask(api_client_for(requester), team_dataset)
    url = f"/api/v1/access-requests/{rid}/approve"
    api_client_for(groups["alice"]).post(url, {}, format="json")
    both = api_client_for(groups["carol"]).post(url, {}, format="json").json()
    assert both["status"] == "pending"


def test_a_requester_in_the_team_cannot_approve_their_own_request(team_dataset, groups, api_client_for):
    carol = groups["carol"]
    rid = _ask(api_client_for(carol), team_dataset)
    r = api_client_for(carol).post(f"/api/v1/access-requests/{rid}/approve", {}, format="json")
    assert r.status_code == 403 and "own" in r.json()["detail"]


def test_an_outsider_cannot_decide(team_dataset, requester, outsider, api_client_for):
    rid = _ask(api_client_for(requester), team_dataset)
    r = api_client_for(outsider).post(f"/api/v1/access-requests/{rid}/approve", {}, format="json")
    assert r.status_code == 403


def test_the_inbox_lists_what_waits_for_any_of_my_groups(
    team_dataset, groups, requester, outsider, api_client_for, web
):
    rid = _ask(api_client_for(requester), team_dataset)
    listed = api_client_for(groups["bob"]).get("/api/v1/access-requests/", {"status": "pending"}).json()
    assert [r["id"] for r in listed["results"]] == [rid]
    assert api_client_for(outsider).get("/api/v1/access-requests/").json()["results"] == []
    assert [r.pk for r in teams.awaiting_decision(groups["bob"])] == [rid]
    assert teams.awaiting_decision(outsider) == []
    page = web(groups["bob"]).get("/access/inbox/").content.decode()
    assert f"#{rid}" in page
    # Once bob approved, it no longer waits for him, but still for alice.
    api_client_for(groups["bob"]).post(f"/api/v1/access-requests/{rid}/approve", {}, format="json")
    assert teams.awaiting_decision(groups["bob"]) == []
    assert [r.pk for r in teams.awaiting_decision(groups["alice"])] == [rid]


def test_notifications_go_to_the_members(team_dataset, groups, requester):
    request = access_requests.create_access_request(
        actor=requester, datasets=[team_dataset.urn], purpose="training", justification="why"
    )
    event = AccessRequestEvent.objects.get(request=request, action="created")
    assert notifications.recipients(event) == sorted(
        ["alice@example.org", "carol@example.org", "bob@example.org"]
    )
    mail.outbox.clear()
    notifications.send_emails(event)
    assert set(mail.outbox[0].to) == {"alice@example.org", "carol@example.org", "bob@example.org"}


def test_home_shows_my_teams(team_dataset, groups, requester, api_client_for, web):
    rid = _ask(api_client_for(requester), team_dataset)
    Group.objects.create(name="<script>x</script>").user_set.add(groups["bob"])
    page = web(groups["bob"]).get("/").content.decode()
    assert "My teams" in page and "fraud-stewards" in page and "fraud/cases" in page
    assert f"Request #{rid}" in page
    assert "<script>x</script>" not in page and "&lt;script&gt;x&lt;/script&gt;" in page


def test_a_dataset_change_through_a_team_is_audited_with_the_group(
    team_dataset, groups, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        catalog_services.update_dataset(actor=groups["bob"], dataset=team_dataset, stewards=["alice_member"])
    record = AuditRecord.objects.filter(action="dataset.changed").latest("seq")
    assert record.after["stewards"] == ["alice_member"]
    assert record.after["as_group"] == {"steward": "fraud-stewards"}


# ---------------------------------------------------------------------------------------------
# Models


@pytest.fixture
def model_version(team_dataset, owner, staff):
    return registry.register_model_version(
        actor=staff, principal=owner, namespace="ml", name="fraud", version="1", trained_on=[team_dataset.urn]
    )


def test_a_model_owned_by_a_team(model_version, owner, groups, outsider, api_client_for):
    url = f"/api/v1/models/{model_version.pk}/"
    r = api_client_for(owner).patch(
        url, {"owner_group": "fraud-team", "steward_groups": ["fraud-stewards"]}, format="json"
    )
    assert r.status_code == 403  # the owner is no member of fraud-team
    owner.groups.add(groups["owners"])
    r = api_client_for(owner).patch(
        url, {"owner_group": "fraud-team", "steward_groups": ["fraud-stewards"]}, format="json"
    )
    assert r.status_code == 200, r.content
    assert r.json()["owner_group"] == "fraud-team" and r.json()["steward_groups"] == ["fraud-stewards"]
    # Members edit its card; a steward member may not hand it over; outsiders do neither.
    assert api_client_for(groups["bob"]).patch(url, {"caveats": "only EU"}, format="json").status_code == 200
    assert api_client_for(groups["bob"]).patch(url, {"owner_group": None}, format="json").status_code == 403
    assert api_client_for(outsider).patch(url, {"caveats": "x"}, format="json").status_code == 403
    assert (
        api_client_for(groups["alice"]).patch(url, {"intended_use": "triage"}, format="json").status_code
        == 200
    )
    edited = AuditRecord.objects.filter(action="model.card_edited").latest("seq")
    assert edited.after["as_group"] == {"owner": "fraud-team"}
    bad = api_client_for(groups["alice"]).patch(url, {"steward_groups": ["nobody"]}, format="json")
    assert bad.status_code == 400 and "nobody" in str(bad.json()["errors"])
    assert RegisteredModel.objects.get().steward_groups.get().name == "fraud-stewards"


def test_lineage_impact_names_the_teams_and_tells_their_members(team_dataset, make_dataset, derive):
    from lineage.impact import impact

    upstream = make_dataset("internal", name="fraud/raw")
    derive(team_dataset, upstream)
    found = impact(upstream.urn)
    (entry,) = [n for level in found["levels"] for n in level["nodes"] if n["id"] == team_dataset.urn]
    assert entry["ownerGroup"] == "fraud-team" and entry["stewardGroups"] == ["fraud-stewards"]
    assert entry["teamMembers"] == ["alice_member", "bob_member", "carol_member"]
    assert {"alice_member", "bob_member", "carol_member"} <= set(found["notify"])


def test_the_inbox_takes_as_many_queries_for_many_requests(team_dataset, groups, make_user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from catalog.permissions import forget_groups

    askers = iter(range(100))

    def ask(n):
        for _ in range(n):
            who = make_user(f"asker_{next(askers)}")
            access_requests.create_access_request(
                actor=who, datasets=[team_dataset.urn], purpose="training", justification="why"
            )

    def queries():
        forget_groups(groups["bob"])
        with CaptureQueriesContext(connection) as seen:
            found = teams.awaiting_decision(groups["bob"])
        return len(seen), len(found)

    ask(1)
    few = queries()
    ask(5)
    many = queries()
    assert few[1] == 1 and many[1] == 6
    assert many[0] == few[0]


def test_the_model_card_offers_the_teams_form_to_its_owner_only(model_version, owner, groups, outsider, web):
    owner.groups.add(groups["owners"])
    page = web(owner).get(f"/models/{model_version.pk}/").content.decode()
    assert 'id="model-teams"' in page and 'name="steward_groups"' in page
    r = web(owner).post(
        f"/models/{model_version.pk}/teams/",
        {"owner_group": "fraud-team", "steward_groups": ["fraud-stewards"]},
    )
    assert r.status_code == 302
    card = web(groups["bob"]).get(f"/models/{model_version.pk}/").content.decode()
    assert "fraud-team" in card and "fraud-stewards" in card and 'id="model-teams"' not in card
    assert web(outsider).post(f"/models/{model_version.pk}/teams/", {"owner_group": ""}).status_code == 403
    assert RegisteredModel.objects.get().owner_group.name == "fraud-team"
