"""Token and Bearer authentication: the one-statement token lookup keeps DRF's checks and messages."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

URL = "/api/v1/datasets/"


def _client(header: str | None) -> APIClient:
    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)
    return client


@pytest.mark.parametrize("scheme", ["Token", "Bearer", "bearer"])
def test_a_valid_key_authenticates_the_tokens_user(outsider, scheme):
    key = Token.objects.create(user=outsider).key
    response = _client(f"{scheme} {key}").get(URL)
    assert response.status_code == 200
    assert response.wsgi_request.user == outsider
    assert response.wsgi_request.auth.key == key
    assert response.wsgi_request.auth.user_id == outsider.pk


@pytest.mark.parametrize("scheme", ["Token", "Bearer"])
def test_an_unknown_key_is_refused_with_401(outsider, scheme):
    Token.objects.create(user=outsider)
    response = _client(f"{scheme} {'0' * 40}").get(URL)
    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid token."
    assert "Bearer" in response["WWW-Authenticate"]


@pytest.mark.parametrize("scheme", ["Token", "Bearer"])
def test_the_key_of_an_inactive_user_is_refused(outsider, scheme):
    key = Token.objects.create(user=outsider).key
    outsider.is_active = False
    outsider.save()
    response = _client(f"{scheme} {key}").get(URL)
    assert response.status_code == 401
    assert response.json()["detail"] == "User inactive or deleted."


def test_a_deleted_users_key_no_longer_works(outsider):
    key = Token.objects.create(user=outsider).key
    outsider.delete()
    assert _client(f"Token {key}").get(URL).status_code == 401


def test_no_credentials_is_401_and_the_user_is_loaded_with_its_fields(staff):
    assert _client(None).get(URL).status_code == 401
    key = Token.objects.create(user=staff).key
    response = _client(f"Bearer {key}").get(URL)
    user = response.wsgi_request.user
    assert (user.pk, user.username, user.is_staff, user.email) == (
        staff.pk,
        staff.username,
        True,
        staff.email,
    )
