"""Teams picked in the browser (Playwright, Debian's chromium, against live_server): the owner picks a
group as steward in the dataset's edit form; the dataset's page names it; a member of that group
then finds the dataset under "My teams" on the home page and may edit it."""

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from catalog import services as catalog_services

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
