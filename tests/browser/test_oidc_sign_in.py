"""Single sign-on in a real browser: Gouvernail's login page → the local provider's form → home, signed in."""

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from tests.oidc_provider import configure

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_in_through_the_provider_lands_home_with_groups(
    chromium_browser, live_server, oidc_server, settings, shot
):
    configure(settings, oidc_server.url, local_login=False)
    settings.OIDC_PROVIDER_NAME = "Example SSO"
    person = oidc_server.add_user("katherine", groups=["data-eng", "ml/research"])

    context = chromium_browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server.url)
    context.set_default_timeout(30_000)
    page = context.new_page()
    try:
        page.goto("/accounts/login/")
        expect(page.get_by_label("Password")).to_have_count(0)  # OIDC_LOCAL_LOGIN=false
        shot(page, "sso-login")
        page.get_by_role("link", name="Sign in with Example SSO").click()
        page.get_by_label("Provider username").fill(person.username)
        page.get_by_label("Provider password").fill(person.password)
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url(f"{live_server.url}/")
        expect(page.locator(".whoami")).to_have_text("katherine")
        user = get_user_model().objects.get(username="katherine")
        assert sorted(user.groups.values_list("name", flat=True)) == ["data-eng", "ml/research"]
        assert user.provider_identity.subject == person.sub
    finally:
        context.close()
