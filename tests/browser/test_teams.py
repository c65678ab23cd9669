"""Teams picked in the browser (Playwright, Debian's chromium, against live_server): the owner picks a
group as steward in the dataset's edit form; the dataset's page names it; a member of that group
then finds the dataset under "My teams" on the home page and may edit it. Two members of the teams
approve a restricted request from their inboxes."""

import re

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from catalog import services as catalog_services
from governance.models import Approval

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_owner_picks_a_steward_group_and_its_member_finds_the_dataset(browser_as, owner, make_user, shot):
    team = Group.objects.create(name="fraud-team")
    Group.objects.create(name="marketing")
    bob = make_user("bob_member")
    bob.groups.add(team)
    dataset = catalog_services.create_dataset(
        actor=owner,
        namespace="s3://lake",
        name="fraud/cases",
        title="Fraud cases",
        sensitivity="confidential",
    )

    page = browser_as(owner)
    page.goto(f"/datasets/{dataset.pk}/edit/")
    page.get_by_label("Steward groups").select_option(["fraud-team"])
    shot(page, "teams-edit-form")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#steward-groups")).to_have_text("fraud-team")
    assert list(dataset.steward_groups.values_list("name", flat=True)) == ["fraud-team"]

    member = browser_as(bob)
    member.goto("/")
    expect(member.locator("#my-teams")).to_contain_text("fraud-team")
    member.locator("#my-teams").get_by_role("link", name="Fraud cases").click()
    expect(member.get_by_role("link", name="Edit details")).to_be_visible()


def test_two_members_of_the_teams_approve_a_restricted_request_from_their_inboxes(
    browser_as, staff, make_user, shot
):
    """A restricted dataset owned and stewarded by teams only: a member of each finds the request in
    their inbox (through their group) and approves it; one approval leaves it pending, the second
    person's approves it; the requester's page says so."""
    owners, stewards = Group.objects.create(name="fraud-team"), Group.objects.create(name="fraud-stewards")
    alice, bob = make_user("alice_member"), make_user("bob_member")
    alice.groups.add(owners)
    bob.groups.add(stewards)
    scientist = make_user("dana_scientist")
    dataset = catalog_services.create_dataset(
        actor=staff,
        namespace="s3://lake",
        name="fraud/cases",
        title="Fraud cases",
        sensitivity="restricted",
        owner=None,
        owner_group="fraud-team",
        steward_groups=["fraud-stewards"],
    )

    asker = browser_as(scientist)
    asker.goto(f"/datasets/{dataset.pk}/")
    asker.get_by_role("link", name="Request access").first.click()
    asker.get_by_label("Justification").fill("Fraud model v3, reviewed by the risk team.")
    asker.get_by_role("button", name="Send the request").click()
    heading = asker.get_by_role("heading", name=re.compile("Access request #"))
    expect(heading).to_contain_text("Pending")

    first = browser_as(alice)
    first.goto("/")
    first.get_by_role("link", name="Approvals").click()
    expect(first.locator("article")).to_contain_text(scientist.username)
    shot(first, "team-inbox")
    first.get_by_role("button", name="Approve").click()
    expect(first.locator(".messages")).to_contain_text("still needs another approval")
    asker.reload()
    expect(heading).to_contain_text("Pending")  # restricted: one person is not enough

    second = browser_as(bob)
    second.goto("/")
    second.get_by_role("link", name="Approvals").click()
    expect(second.locator("article")).to_contain_text(scientist.username)
    second.get_by_role("button", name="Approve").click()
    expect(second.locator(".messages")).to_contain_text("approved")
    asker.reload()
    expect(heading).to_contain_text("Approved")
    approvers = set(Approval.objects.values_list("approver__username", flat=True))
    assert approvers == {"alice_member", "bob_member"}
