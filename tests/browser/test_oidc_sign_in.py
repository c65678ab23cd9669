"""Single sign-on in a real browser: Gouvernail's login page → the local provider's form → home, signed in."""

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from catalog import services as catalog_services
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


def _session_of(context):
    """The server-side session of the browser context's session cookie."""
    from importlib import import_module

    from django.conf import settings as django_settings

    key = next(c["value"] for c in context.cookies() if c["name"] == django_settings.SESSION_COOKIE_NAME)
    return import_module(django_settings.SESSION_ENGINE).SessionStore(session_key=key)


def test_an_htmx_request_after_the_id_token_expired_refreshes_by_a_full_navigation(
    chromium_browser, live_server, oidc_server, settings, owner
):
    """The refresh falls due on a fragment htmx fetches (the access panel's purpose): the browser
    itself goes to the provider (prompt=none), signs in again silently and is back on the page."""
    configure(settings, oidc_server.url)
    person = oidc_server.add_user("hedy")
    dataset = catalog_services.create_dataset(
        actor=owner, namespace="s3://lake", name="payments", title="Payments"
    )
    page_url = f"{live_server.url}/datasets/{dataset.pk}/"
    context = chromium_browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server.url)
    context.set_default_timeout(30_000)
    page = context.new_page()
    try:
        page.goto("/accounts/login/")
        page.get_by_role("link", name="Sign in with single sign-on").click()
        page.get_by_label("Provider username").fill(person.username)
        page.get_by_label("Provider password").fill(person.password)
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url(f"{live_server.url}/")
        page.goto(page_url)
        expect(page.get_by_label("Purpose")).to_be_visible()  # the access panel, fetched by htmx

        # The ID token's time runs out while the page is shown.
        session = _session_of(context)
        session["oidc_id_token_expiration"] = 0
        session.save()

        def to_provider(request) -> bool:
            return request.url.startswith(oidc_server.url + "/authorize?") and request.is_navigation_request()

        def back_on_the_page(response) -> bool:
            return response.url == page_url and response.request.is_navigation_request()

        with page.expect_response(back_on_the_page) as back, page.expect_request(to_provider) as hop:
            page.get_by_label("Purpose").select_option("analysis")  # htmx: GET the panel again
        assert "prompt=none" in hop.value.url
        assert back.value.status == 200
        expect(page.get_by_label("Purpose")).to_be_visible()
        expect(page.locator(".whoami")).to_have_text("hedy")
        assert _session_of(context)["oidc_id_token_expiration"] > 0
    finally:
        context.close()
