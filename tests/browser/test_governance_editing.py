"""Governance edited in the browser (Playwright, Debian's chromium, against live_server):

* a steward tightens a dataset's policy from the access panel, from the keyboard, and the
  requester's clearance panel then names the condition and refuses;
* a model's owner writes the card's intended use and caveats, previews them, and the card shows
  them to everyone (the form to nobody else, and not on paper).

Profiling runs in this process (Celery eager in the test settings): no worker needed.
"""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from playwright.sync_api import expect

from catalog import services as catalog_services
from catalog import versions as catalog_versions
from governance import access_requests, registry

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Women are hired far more often than men here: a demographic parity difference well over 0.05.
CSV = "applicant_id,sex,income,hired\n" + "".join(
    f"{i},{'F' if i % 2 else 'M'},{18000 + (i * 137) % 60000},{1 if (i % 2 and i % 5) or i % 7 == 0 else 0}\n"
    for i in range(300)
)


@pytest.fixture
def applicants(owner, steward, outsider):
    """A confidential dataset with one profiled version; the outsider holds an approval for training."""
    dataset = catalog_services.create_dataset(
        actor=owner,
        namespace="s3://hr-lake",
        name="recruiting/applicants",
        title="Job applicants",
        sensitivity="confidential",
        stewards=[steward.username],
        sensitive_columns=["sex"],
        label_column="hired",
        positive_label="1",
    )
    upload = SimpleUploadedFile("applicants.csv", CSV.encode(), content_type="text/csv")
    catalog_versions.add_version_from_upload(actor=owner, dataset=dataset, upload=upload)
    assert dataset.versions.get().profile_status == "succeeded"
    access = access_requests.create_access_request(
        actor=outsider, datasets=[dataset.urn], purpose="training", justification="Screening model"
    )
    access_requests.approve_access_request(actor=steward, request=access)
    return dataset


def test_steward_tightens_the_policy_and_the_requesters_clearance_follows(
    browser_as, steward, outsider, applicants, shot
):
    scientist = browser_as(outsider)
    scientist.goto(f"/datasets/{applicants.pk}/")
    expect(scientist.locator("#clearance")).to_have_attribute("data-allowed", "true")
    expect(scientist.locator("#policy")).to_contain_text("No cap on bias disparity")
    expect(scientist.get_by_text("Change the policy")).to_have_count(0)  # not theirs to change

    page = browser_as(steward)
    page.goto(f"/datasets/{applicants.pk}/")
    panel = page.locator("#access-panel")
    expect(panel.locator("#policy")).to_contain_text("A passing quality suite is not required.")
    # From the keyboard: open the form, type a value out of range, send it with Enter.
    summary = panel.get_by_text("Change the policy")
    summary.focus()
    page.keyboard.press("Enter")
    cap = page.get_by_label("Cap on demographic parity difference")
    cap.fill("1.5")
    cap.press("Enter")
    # The panel is swapped with the error beside the field; nothing was saved.
    expect(panel.get_by_role("alert")).to_contain_text("Ensure this value is less than or equal to 1.")
    expect(page.get_by_label("Cap on demographic parity difference")).to_have_attribute(
        "aria-invalid", "true"
    )
    expect(panel.locator("#policy")).to_contain_text("No cap on bias disparity")
    page.get_by_label("Cap on demographic parity difference").fill("0.05")
    page.get_by_label(re.compile("Cap on an approval")).fill("30")
    page.get_by_role("button", name="Save the policy").click()
    saved = panel.get_by_role("status")
    expect(saved).to_have_text("Policy saved.")
    expect(saved).to_be_focused()  # the focus is not lost with the closed form
    expect(panel.locator("#policy")).to_contain_text(
        "Demographic parity difference at most 0.05 on every sensitive column (sex)."
    )
    expect(panel.locator("#policy")).to_contain_text("An approval counts for at most 30 days")
    panel.get_by_text("Change the policy").click()  # open again: the screenshot shows the form too
    expect(page.get_by_label(re.compile("Cap on an approval"))).to_have_value("30")
    page.evaluate("window.scrollTo(0, 0)")
    grid = page.locator("div.grid").first.bounding_box()
    shot(
        page,
        "policy-panel",
        full_page=True,
        clip={"x": 0, "y": 0, "width": 1280, "height": grid["y"] + grid["height"] + 16},
    )

    # The requester's clearance names the condition and refuses.
    scientist.reload()
    expect(scientist.locator("#clearance")).to_have_attribute("data-allowed", "false")
    expect(scientist.locator("#clearance")).to_contain_text("over the policy's cap of 0.05")
    expect(scientist.locator("#policy")).to_contain_text("Demographic parity difference at most 0.05")

    # The change is in the dataset's history, made through the web UI.
    page.get_by_role("link", name="History").first.click()
    expect(page.locator("tbody tr").first).to_contain_text("policy.changed")
    expect(page.locator("tbody tr").first).to_contain_text("Web UI")


def test_policy_and_card_edited_without_javascript(
    chromium_browser, live_server, owner, outsider, applicants
):
    """Plain POST + redirect: the access page (the dataset page's link without JavaScript) and the card."""
    mv = registry.register_model_version(
        actor=owner,
        namespace="ml",
        name="plain",
        version="1",
        trained_on=[applicants.urn],
        record_lineage=False,
    )
    context = chromium_browser.new_context(java_script_enabled=False, base_url=live_server.url)
    try:
        page = context.new_page()
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(owner.username)
        page.get_by_label("Password").fill("pw-" + owner.username)
        page.get_by_role("button", name="Sign in").click()
        page.goto(f"/datasets/{applicants.pk}/")
        page.get_by_role("link", name=re.compile("See your clearance")).click()
        page.get_by_text("Change the policy").click()  # <details> opens without JavaScript
        page.get_by_label("Require a passing quality suite").check()
        page.get_by_label(re.compile("Cap on an approval")).fill("0")
        page.get_by_role("button", name="Save the policy").click()
        expect(page.get_by_role("alert")).to_contain_text("Ensure this value is greater than or equal to 1.")
        page.get_by_label(re.compile("Cap on an approval")).fill("")
        page.get_by_role("button", name="Save the policy").click()
        expect(page).to_have_url(re.compile(rf"/datasets/{applicants.pk}/access/$"))
        expect(page.locator(".messages")).to_contain_text("Policy saved.")
        expect(page.locator("#policy")).to_contain_text(
            "A passing quality suite on the latest profiled version"
        )

        page.goto(f"/models/{mv.pk}/")
        page.get_by_role("textbox", name="Caveats and recommendations").fill("Only *plain* HTML here.")
        page.get_by_role("button", name="Preview").click()
        expect(page.get_by_role("region", name="Preview of caveats and recommendations")).to_contain_text(
            "plain"
        )
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.locator(".messages")).to_contain_text("Intended use and caveats saved.")
        expect(page.locator("article.model-card em")).to_have_text("plain")
    finally:
        context.close()


def test_owner_writes_caveats_and_the_card_shows_them(browser_as, owner, outsider, applicants):
    mv = registry.register_model_version(
        actor=outsider,
        namespace="ml",
        name="screening",
        version="1",
        trained_on=[f"{applicants.urn}@1"],
        record_lineage=False,
    )
    page = browser_as(outsider)  # who trained and registered it owns it
    page.goto(f"/models/{mv.pk}/")
    expect(page.locator("article.model-card")).to_contain_text("No caveats written yet by the owner.")
    page.get_by_role("link", name="Edit intended use and caveats").click()
    page.get_by_role("textbox", name="Intended use").fill("Rank applicants for a **human** recruiter.")
    caveats = page.get_by_role("textbox", name="Caveats and recommendations")
    caveats.fill("- Hiring rates differ by *sex* in the training data.\n- Not for automated rejection.")
    page.get_by_role("button", name="Preview").click()
    expect(
        page.get_by_role("region", name="Preview of caveats and recommendations").locator("em")
    ).to_have_text("sex")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("Intended use and caveats saved.")
    card = page.locator("article.model-card")
    expect(card.locator("section", has_text="Intended use").locator("strong")).to_have_text("human")
    expect(card.locator("section", has_text="Caveats and recommendations").locator("li")).to_contain_text(
        ["Hiring rates differ by sex", "Not for automated rejection."]
    )
    # The card stays printable: the form is not on paper.
    page.emulate_media(media="print")
    expect(page.locator("#card-edit")).to_be_hidden()
    expect(card.locator("section", has_text="Caveats and recommendations")).to_be_visible()

    # Someone else reads the caveats and has no form.
    reader = browser_as(owner)
    reader.goto(f"/models/{mv.pk}/")
    expect(reader.locator("article.model-card")).to_contain_text("Not for automated rejection.")
    expect(reader.locator("#card-edit")).to_have_count(0)
    expect(reader.get_by_role("link", name="Edit intended use and caveats")).to_have_count(0)
