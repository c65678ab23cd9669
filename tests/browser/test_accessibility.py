"""Pages people only read work without JavaScript, and the curating controls work from the keyboard."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from playwright.sync_api import expect

from catalog import services as catalog_services
from catalog import versions as catalog_versions

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CSV = "id,amount,country\n" + "".join(
    f"{i},{(i * 37) % 500 / 10},{'FR' if i % 3 else 'DE'}\n" for i in range(200)
)


@pytest.fixture
def profiled(owner, steward):
    """A dataset with one version, profiled in this process (Celery eager in the test settings)."""
    dataset = catalog_services.create_dataset(
        actor=owner,
        namespace="s3://lake",
        name="sales/orders",
        title="Orders",
        description="Every **order** of the shop.",
        stewards=[steward.username],
    )
    upload = SimpleUploadedFile("orders.csv", CSV.encode(), content_type="text/csv")
    catalog_versions.add_version_from_upload(actor=owner, dataset=dataset, upload=upload)
    assert dataset.versions.get().profile_status == "succeeded"
    return dataset


def test_read_only_pages_without_javascript(chromium_browser, live_server, outsider, profiled):
    context = chromium_browser.new_context(java_script_enabled=False, base_url=live_server.url)
    try:
        page = context.new_page()
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(outsider.username)
        page.get_by_label("Password").fill("pw-" + outsider.username)
        page.get_by_role("button", name="Sign in").click()
        page.goto("/datasets/?q=orders")
        page.get_by_role("link", name="Orders").click()
        expect(page.locator(".description strong")).to_have_text("order")
        expect(page.locator("#columns")).to_contain_text("amount")
        # The profile panel is loaded by htmx; without JavaScript a link leads to it.
        page.get_by_role("link", name=re.compile("Open the profile")).click()
        expect(page.locator("svg.chart").first).to_be_visible()
        expect(page.get_by_role("img", name=re.compile("Histogram"))).to_have_count(2)
        page.go_back()
        page.get_by_role("link", name=re.compile("See your clearance")).click()
        expect(page.locator("#clearance")).to_have_attribute("data-allowed", "true")
    finally:
        context.close()


def test_curating_from_the_keyboard(browser_as, steward, profiled):
    page = browser_as(steward)
    page.goto(f"/datasets/{profiled.pk}/")
    # The skip link is the first stop and moves focus to the content.
    page.keyboard.press("Tab")
    expect(page.locator(".skip-link")).to_be_focused()
    edit = page.get_by_role("link", name="Edit column amount")
    edit.focus()
    page.keyboard.press("Enter")
    box = page.get_by_label("Description of amount")
    expect(box).to_be_focused()  # the in-place editor takes the focus
    page.keyboard.type("Order total in EUR")
    page.keyboard.press("Tab")  # tags
    page.keyboard.press("Tab")  # PII checkbox
    page.keyboard.press("Tab")  # Save
    expect(page.get_by_role("button", name="Save")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#columns")).to_contain_text("Order total in EUR")
    # The keyboard stays on the row just saved, not back at the top of the page (QA G21).
    expect(page.get_by_role("link", name="Edit column amount")).to_be_focused()
    profiled.refresh_from_db()
    assert profiled.columns.get(name="amount").description == "Order total in EUR"


def test_long_urns_wrap_inside_their_cards(browser_as, owner, steward, outsider):
    """QA F12.4: a URN has no spaces; on the request page and in the inbox it wraps, not overflows."""
    from governance import access_requests

    long_name = "clinical.diabetes_" + "readmissions_" * 8 + "2026"
    dataset = catalog_services.create_dataset(
        actor=owner,
        namespace="postgres://warehouse.internal:5432",
        name=long_name,
        sensitivity="restricted",
        stewards=[steward.username],
    )
    access = access_requests.create_access_request(
        actor=outsider, datasets=[dataset.urn], purpose="training", justification="QA story"
    )
    for user, url, card in [
        (outsider, f"/access/{access.pk}/", "section.card, article.card"),
        (steward, "/access/inbox/", f"#req-{access.pk}"),
    ]:
        page = browser_as(user)
        page.goto(url)
        link = page.get_by_role("link", name=dataset.urn)
        expect(link).to_be_visible()
        frame = page.locator(card).filter(has=link).first.bounding_box()
        for box in [link.bounding_box()]:
            assert box["x"] + box["width"] <= frame["x"] + frame["width"] + 1, (url, box, frame)
