"""Signing in through a real local OpenID provider (config/oidc_login.py), the browser's hops made by hand.

Django's test client is Gouvernail's side; a ``requests`` session is the browser at the provider.
"""

from urllib.parse import urlsplit

import pytest
import requests
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from config.models import ProviderIdentity
from tests.oidc_provider import closed_port_url, configure

pytestmark = pytest.mark.django_db


def _to_provider(client: Client, path: str = "/oidc/authenticate/") -> str:
    response = client.get(path)
    assert response.status_code == 302, response.content
    return response["Location"]


def _back(client: Client, provider_response) -> object:
    assert provider_response.status_code == 302, provider_response.text
    callback = urlsplit(provider_response.headers["Location"])
    return client.get(f"{callback.path}?{callback.query}")


@pytest.fixture
def browser():
    with requests.Session() as session:
        yield session


def _fixed(url_query_value: str) -> str:
    from urllib.parse import unquote_plus

    return unquote_plus(url_query_value)


def sign_in(client, browser, user):
    """The code flow: Gouvernail → the provider's form → Gouvernail's callback."""
    authorize = _to_provider(client)
    params = {k: _fixed(v) for k, v in (p.split("=", 1) for p in urlsplit(authorize).query.split("&"))}
    answer = browser.post(
        authorize.split("?")[0],
        data={**params, "username": user.username, "password": user.password},
        allow_redirects=False,
        timeout=5,
    )
    return _back(client, answer)


def test_the_login_page_offers_the_provider_and_the_password_form(oidc_provider, client):
    page = client.get("/accounts/login/").content.decode()
    assert "Sign in with single sign-on" in page
    assert 'name="password"' in page


def test_the_login_page_without_single_sign_on_is_as_before(client, settings):
    settings.OIDC_ISSUER = ""
    page = client.get("/accounts/login/").content.decode()
    assert "single sign-on" not in page
    assert 'name="password"' in page


def test_local_login_off_hides_the_form_and_refuses_passwords(oidc_server, settings, client, outsider):
    configure(settings, oidc_server.url, local_login=False)
    page = client.get("/accounts/login/").content.decode()
    assert "Sign in with single sign-on" in page
    assert 'name="password"' not in page
    client.post("/accounts/login/", {"username": outsider.username, "password": "pw-" + outsider.username})
    assert "_auth_user_id" not in client.session


def test_first_login_creates_the_user_and_mirrors_groups(oidc_provider, client, browser):
    grace = oidc_provider.add_user("grace", groups=["data-eng", "stewards"])
    response = sign_in(client, browser, grace)
    assert response.status_code == 302
    assert response["Location"] == "/"
    user = get_user_model().objects.get(username="grace")
    assert int(client.session["_auth_user_id"]) == user.pk
    assert user.email == "grace@example.com"
    assert sorted(user.groups.values_list("name", flat=True)) == ["data-eng", "stewards"]
    home = client.get("/")
    assert home.status_code == 200
    assert "grace" in home.content.decode()


def test_each_login_mirrors_groups_added_and_removed_keeping_local_ones(oidc_provider, client, browser):
    grace = oidc_provider.add_user("grace", groups=["data-eng", "finance"])
    sign_in(client, browser, grace)
    user = get_user_model().objects.get(username="grace")
    Group.objects.create(name="local-team").user_set.add(user)
    client.logout()
    grace.groups = ["data-eng", "ml"]
    sign_in(client, browser, grace)
    assert sorted(user.groups.values_list("name", flat=True)) == ["data-eng", "local-team", "ml"]
    assert ProviderIdentity.objects.filter(user=user).count() == 1


def test_a_missing_groups_claim_means_no_provider_groups(oidc_provider, client, browser, caplog):
    grace = oidc_provider.add_user("grace", groups=["data-eng"])
    sign_in(client, browser, grace)
    client.logout()
    grace.groups = None
    response = sign_in(client, browser, grace)
    assert response.status_code == 302 and response["Location"] == "/"
    assert not get_user_model().objects.get(username="grace").groups.exists()
    assert "treated as no groups" in caplog.text


def test_a_local_group_named_by_the_provider_is_not_joined(oidc_provider, client, browser):
    Group.objects.create(name="admins")
    grace = oidc_provider.add_user("grace", groups=["admins"])
    sign_in(client, browser, grace)
    assert not get_user_model().objects.get(username="grace").groups.exists()


def test_a_user_disabled_at_the_provider_loses_the_session_at_refresh(oidc_provider, client, browser):
    grace = oidc_provider.add_user("grace")
    sign_in(client, browser, grace)
    # Still enabled: the refresh goes through silently and the session stays.
    session = client.session
    session["oidc_id_token_expiration"] = 0
    session.save()
    authorize = _to_provider(client, "/")
    assert "prompt=none" in authorize
    back = _back(client, browser.get(authorize, allow_redirects=False, timeout=5))
    assert back.status_code == 302 and back["Location"] == "/"
    assert client.get("/").status_code == 200
    # Disabled at the provider: the next refresh ends the session.
    grace.enabled = False
    session = client.session
    session["oidc_id_token_expiration"] = 0
    session.save()
    authorize = _to_provider(client, "/")
    back = _back(client, browser.get(authorize, allow_redirects=False, timeout=5))
    assert back["Location"].startswith("/accounts/login/?sso=failed")
    assert "_auth_user_id" not in client.session
    assert client.get("/").status_code == 302


def test_provider_down_at_login_is_a_clear_page_without_session(oidc_provider, client, settings):
    configure(settings, closed_port_url())
    response = client.get("/oidc/authenticate/")
    assert response.status_code == 503
    assert "Single sign-on is unavailable" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_provider_down_at_the_callback_creates_nothing(oidc_provider, client, browser, settings):
    grace = oidc_provider.add_user("grace", groups=["data-eng"])
    authorize = _to_provider(client)
    params = {k: _fixed(v) for k, v in (p.split("=", 1) for p in urlsplit(authorize).query.split("&"))}
    answer = browser.post(
        authorize.split("?")[0],
        data={**params, "username": "grace", "password": grace.password},
        allow_redirects=False,
        timeout=5,
    )
    # The provider goes down between its sign-in form and the token request.
    from django.core.cache import cache

    from config import oidc

    metadata = dict(oidc.metadata())
    metadata["token_endpoint"] = closed_port_url() + "/token"
    cache.set(oidc.cache_key("discovery"), metadata)
    response = _back(client, answer)
    assert response.status_code == 503
    assert "_auth_user_id" not in client.session
    assert not get_user_model().objects.filter(username="grace").exists()
    assert not Group.objects.filter(name="data-eng").exists()


def test_a_wrong_password_at_the_provider_signs_nobody_in(oidc_provider, client, browser):
    grace = oidc_provider.add_user("grace")
    authorize = _to_provider(client)
    params = {k: _fixed(v) for k, v in (p.split("=", 1) for p in urlsplit(authorize).query.split("&"))}
    answer = browser.post(
        authorize.split("?")[0], data={**params, "username": "grace", "password": "nope"}, timeout=5
    )
    assert "Wrong username or password" in answer.text
    assert grace.username not in get_user_model().objects.values_list("username", flat=True)


def test_an_id_token_for_another_client_signs_nobody_in(oidc_provider, client, browser):
    grace = oidc_provider.add_user("grace", groups=["data-eng"])
    oidc_provider.id_token_audience = "another-client"
    try:
        response = sign_in(client, browser, grace)
    finally:
        oidc_provider.id_token_audience = "gouvernail"
    assert response["Location"] == "/accounts/login/?sso=failed"
    assert "_auth_user_id" not in client.session
    assert not get_user_model().objects.filter(username="grace").exists()
    page = client.get(response["Location"]).content.decode()
    assert "Single sign-on did not sign you in" in page


def test_the_provider_button_without_single_sign_on_is_a_404(client, settings):
    settings.OIDC_ISSUER = ""
    assert client.get("/oidc/authenticate/").status_code == 404


# ---------------------------------------------------------------------------------------------
# The refresh on htmx requests (config.oidc_login.SessionRefresh): HX-Redirect, not a 302.

HTMX = {"HX-Request": "true", "HX-Current-URL": "http://testserver/datasets/?q=ledger"}


def _due(client) -> None:
    session = client.session
    session["oidc_id_token_expiration"] = 0
    session.save()


def test_an_htmx_request_due_for_refresh_is_sent_to_the_provider_by_hx_redirect(
    oidc_provider, client, browser
):
    grace = oidc_provider.add_user("grace")
    sign_in(client, browser, grace)
    _due(client)
    # The search page's facet sidebar, fetched by htmx once the page shows.
    response = client.get("/datasets/facets/?q=ledger", headers=HTMX)
    assert response.status_code == 200 and not response.has_header("Location")
    authorize = response["HX-Redirect"]
    assert authorize.startswith(oidc_provider.url + "/authorize?") and "prompt=none" in authorize
    # The browser goes there itself, and comes back to the page it showed, not to the fragment.
    back = _back(client, browser.get(authorize, allow_redirects=False, timeout=5))
    assert back.status_code == 302 and back["Location"] == "/datasets/?q=ledger"
    assert client.session["oidc_id_token_expiration"] > 0
    assert client.get("/datasets/facets/?q=ledger", headers=HTMX).status_code == 200
    assert "HX-Redirect" not in client.get("/datasets/facets/?q=ledger", headers=HTMX)


def test_without_htmx_the_refresh_stays_mozillas(oidc_provider, client, browser):
    """A plain request is redirected (302); a script's XMLHttpRequest gets mozilla-django-oidc's 403
    with ``refresh_url``; with both headers htmx's answer wins (htmx is the one listening)."""
    sign_in(client, browser, oidc_provider.add_user("grace"))
    _due(client)
    plain = client.get("/datasets/")
    assert plain.status_code == 302 and "prompt=none" in plain["Location"]
    assert not plain.has_header("HX-Redirect")
    xhr = client.get("/datasets/", headers={"X-Requested-With": "XMLHttpRequest"})
    assert xhr.status_code == 403 and xhr.json()["refresh_url"].startswith(oidc_provider.url)
    both = client.get("/datasets/facets/", headers={**HTMX, "X-Requested-With": "XMLHttpRequest"})
    assert both.status_code == 200 and both["HX-Redirect"].startswith(oidc_provider.url + "/authorize?")
    assert client.session["oidc_login_next"] == "/datasets/?q=ledger"


@pytest.mark.parametrize(
    ("headers", "back_to"),
    [
        # A boosted link: the page it leads to.
        ({"HX-Request": "true", "HX-Boosted": "true"}, "/datasets/facets/?q=x"),
        # A current URL on another site is not where the callback sends anyone.
        ({"HX-Request": "true", "HX-Current-URL": "https://evil.example/steal"}, "/"),
        ({"HX-Request": "true", "HX-Current-URL": "//evil.example/steal"}, "/"),
        ({"HX-Request": "true"}, "/"),
    ],
)
def test_where_an_htmx_refresh_comes_back_to(oidc_provider, client, browser, headers, back_to):
    sign_in(client, browser, oidc_provider.add_user("grace"))
    _due(client)
    response = client.get("/datasets/facets/?q=x", headers=headers)
    assert response.status_code == 200 and "HX-Redirect" in response
    back = _back(client, browser.get(response["HX-Redirect"], allow_redirects=False, timeout=5))
    assert back["Location"] == back_to


def test_a_disabled_user_on_an_htmx_request_ends_on_the_login_page(oidc_provider, client, browser):
    grace = oidc_provider.add_user("grace")
    sign_in(client, browser, grace)
    grace.enabled = False
    _due(client)
    response = client.get("/datasets/facets/", headers=HTMX)
    back = _back(client, browser.get(response["HX-Redirect"], allow_redirects=False, timeout=5))
    assert back["Location"].startswith("/accounts/login/?sso=failed")
    assert "_auth_user_id" not in client.session


def test_provider_down_at_an_htmx_refresh_signs_out_to_the_login_page(
    oidc_provider, client, browser, settings
):
    sign_in(client, browser, oidc_provider.add_user("grace"))
    configure(settings, closed_port_url())
    _due(client)
    response = client.get("/datasets/facets/", headers=HTMX)
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/accounts/login/?next=%2Fdatasets%2F%3Fq%3Dledger"
    assert "_auth_user_id" not in client.session
