"""Fixtures shared by every app's tests: users in the three roles and authenticated API clients."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

# Service detection (postgres / integration / browser markers), live_worker, browser fixtures;
# s3_endpoint (moto in server mode) for the object storage sources; oidc_provider (a local OpenID provider).
pytest_plugins = ["tests.integration.plugin", "tests.s3_server", "tests.oidc_provider"]


@pytest.fixture
def make_user(django_user_model):
    def make(username: str, **extra):
        return django_user_model.objects.create_user(username=username, password="pw-" + username, **extra)

    return make


@pytest.fixture
def owner(make_user):
    return make_user("olivia_owner", email="olivia@example.org")


@pytest.fixture
def steward(make_user):
    return make_user("sam_steward", email="sam@example.org")


@pytest.fixture
def outsider(make_user):
    return make_user("oscar_outsider", email="oscar@example.org")


@pytest.fixture
def staff(make_user):
    return make_user("stella_staff", is_staff=True)


@pytest.fixture
def api_client_for():
    """An API client authenticated with the user's token, as pipelines call the API."""

    def make(user, scheme: str = "Token") -> APIClient:
        client = APIClient()
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"{scheme} {token.key}")
        return client

    return make


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()


@pytest.fixture
def data_root(tmp_path, settings):
    """A folder inside DATA_ROOTS for registering versions by path."""
    root = tmp_path / "data-root"
    root.mkdir()
    settings.DATA_ROOTS = [root.resolve()]
    return root


@pytest.fixture
def web(client):
    """web(user) → Django's test client, signed in as user (the web pages' tests)."""

    def login(user):
        client.force_login(user)
        return client

    return login
