"""The provider's access tokens on the API (config/oidc.py), against a real local provider.

Every refusal is a 401 with a ``detail`` that says why, and creates nothing.
"""

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from config.models import ProviderIdentity
from tests.oidc_provider import PIPELINE_ID, closed_port_url, configure

pytestmark = pytest.mark.django_db

URL = "/api/v1/datasets/"


def _get(token: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get(URL)


def _nothing_created():
    assert not ProviderIdentity.objects.exists()
    assert not get_user_model().objects.filter(username__startswith="ada").exists()


def test_a_users_token_authenticates_and_creates_the_user_with_groups(oidc_provider):
    ada = oidc_provider.add_user("ada", groups=["data-eng", "/ml/research"])
    response = _get(oidc_provider.access_token(ada))
    assert response.status_code == 200, response.content
    user = response.wsgi_request.user
    assert user.username == "ada"
    assert user.provider_identity.subject == ada.sub
    assert sorted(user.groups.values_list("name", flat=True)) == ["data-eng", "ml/research"]
    # The second request finds the same user.
    assert _get(oidc_provider.access_token(ada)).wsgi_request.user.pk == user.pk


def test_drf_tokens_still_work_beside_provider_tokens(oidc_provider, outsider):
    key = Token.objects.create(user=outsider).key
    assert _get(key).wsgi_request.user == outsider


def test_an_expired_token_is_refused(oidc_provider):
    ada = oidc_provider.add_user("ada")
    response = _get(oidc_provider.access_token(ada, ttl=-120))
    assert response.status_code == 401
    assert response.json()["detail"] == "The token has expired."
    _nothing_created()


def test_a_token_within_the_leeway_is_accepted(oidc_provider):
    ada = oidc_provider.add_user("ada")
    assert _get(oidc_provider.access_token(ada, ttl=-5)).status_code == 200


def test_a_wrong_audience_is_refused(oidc_provider):
    ada = oidc_provider.add_user("ada")
    response = _get(oidc_provider.access_token(ada, audience="another-service"))
    assert response.status_code == 401
    assert "audience" in response.json()["detail"]
    _nothing_created()


def test_a_wrong_issuer_is_refused(oidc_provider):
    ada = oidc_provider.add_user("ada")
    claims = oidc_provider.claims(ada, iss="https://evil.example.com")
    response = _get(oidc_provider.sign(claims))
    assert response.status_code == 401
    assert "issuer" in response.json()["detail"]
    _nothing_created()


def test_a_bad_signature_is_refused(oidc_provider):
    ada = oidc_provider.add_user("ada")
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    response = _get(oidc_provider.sign(oidc_provider.claims(ada), key=other_key))
    assert response.status_code == 401
    assert response.json()["detail"] == "The token's signature does not verify."
    _nothing_created()


def test_a_tampered_payload_is_refused(oidc_provider):
    ada = oidc_provider.add_user("ada")
    head, _, sig = oidc_provider.access_token(ada).split(".")
    forged = jwt.utils.base64url_encode(
        b'{"sub":"x","iss":"%s","aud":"gouvernail","exp":9999999999}' % oidc_provider.url.encode()
    )
    response = _get(f"{head}.{forged.decode()}.{sig}")
    assert response.status_code == 401
    _nothing_created()


def test_an_unknown_kid_fetches_the_keys_once_then_is_rate_limited(oidc_provider):
    ada = oidc_provider.add_user("ada")
    assert _get(oidc_provider.access_token(ada)).status_code == 200
    fetches = oidc_provider.jwks_fetches
    # The provider rotates: a token with the new key id makes one fetch, then is accepted.
    oidc_provider.rotate()
    assert _get(oidc_provider.access_token(ada)).status_code == 200
    assert oidc_provider.jwks_fetches == fetches + 1
    # A made-up key id within the refresh interval: no second fetch, a 401.
    response = _get(
        oidc_provider.sign(oidc_provider.claims(ada), kid="made-up", key=oidc_provider.keys[0][1])
    )
    assert response.status_code == 401
    assert "key id" in response.json()["detail"]
    assert oidc_provider.jwks_fetches == fetches + 1


def test_the_keys_are_cached_between_requests(oidc_provider):
    ada = oidc_provider.add_user("ada")
    _get(oidc_provider.access_token(ada))
    fetches = oidc_provider.jwks_fetches
    for _ in range(3):
        assert _get(oidc_provider.access_token(ada)).status_code == 200
    assert oidc_provider.jwks_fetches == fetches


def _unsigned(claims: dict) -> str:
    return jwt.encode(claims, None, algorithm="none", headers={"kid": "x"})


def test_the_none_algorithm_is_refused(oidc_provider):
    ada = oidc_provider.add_user("ada")
    response = _get(_unsigned(oidc_provider.claims(ada)))
    assert response.status_code == 401
    assert "'none' is not accepted" in response.json()["detail"]
    _nothing_created()


def test_hs256_with_the_public_key_as_secret_is_refused(oidc_provider):
    ada = oidc_provider.add_user("ada")
    public_pem = (
        oidc_provider.keys[-1][1]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    header, payload = (
        jwt.utils.base64url_encode(b'{"alg":"HS256","typ":"JWT","kid":"%s"}' % oidc_provider.kid.encode()),
        jwt.utils.base64url_encode(jwt.api_jws.json.dumps(oidc_provider.claims(ada)).encode()),
    )
    import hashlib
    import hmac

    signature = jwt.utils.base64url_encode(
        hmac.new(public_pem, header + b"." + payload, hashlib.sha256).digest()
    )
    response = _get(b".".join([header, payload, signature]).decode())
    assert response.status_code == 401
    assert "'HS256' is not accepted" in response.json()["detail"]
    _nothing_created()


def test_a_token_without_the_groups_claim_keeps_the_groups_the_login_set(oidc_provider):
    ada = oidc_provider.add_user("ada", groups=["data-eng"])
    user = _get(oidc_provider.access_token(ada)).wsgi_request.user
    ada.groups = None
    response = _get(oidc_provider.access_token(ada))
    assert response.status_code == 200
    assert list(user.groups.values_list("name", flat=True)) == ["data-eng"]


def test_a_changed_groups_claim_is_mirrored(oidc_provider):
    ada = oidc_provider.add_user("ada", groups=["data-eng", "finance"])
    user = _get(oidc_provider.access_token(ada)).wsgi_request.user
    Group.objects.create(name="local-admins").user_set.add(user)
    ada.groups = ["data-eng", "ml"]
    _get(oidc_provider.access_token(ada))
    assert sorted(user.groups.values_list("name", flat=True)) == ["data-eng", "local-admins", "ml"]


def test_a_client_credentials_token_is_a_service_account(oidc_provider):
    response = _get(oidc_provider.client_token())
    assert response.status_code == 200
    user = response.wsgi_request.user
    assert user.username == f"service-{PIPELINE_ID}"
    assert user.provider_identity.is_service
    assert not user.has_usable_password()


def test_the_token_endpoints_client_credentials_work_end_to_end(oidc_provider):
    import requests

    token = requests.post(
        oidc_provider.url + "/token",
        data={"grant_type": "client_credentials"},
        auth=(PIPELINE_ID, "pipeline-secret-for-tests"),
        timeout=5,
    ).json()["access_token"]
    assert _get(token).wsgi_request.user.username == f"service-{PIPELINE_ID}"


def test_registered_service_accounts_only_refuse_an_unknown_client(oidc_provider, settings):
    settings.OIDC_SERVICE_ACCOUNTS = "registered"
    response = _get(oidc_provider.client_token())
    assert response.status_code == 401
    assert "register" in response.json()["detail"]
    assert not get_user_model().objects.filter(username__startswith="service-").exists()


def test_a_disabled_local_user_is_refused(oidc_provider):
    ada = oidc_provider.add_user("ada")
    user = _get(oidc_provider.access_token(ada)).wsgi_request.user
    user.is_active = False
    user.save()
    response = _get(oidc_provider.access_token(ada))
    assert response.status_code == 401
    assert response.json()["detail"] == "User inactive or deleted."


def test_provider_down_with_no_cached_keys_is_a_401(oidc_provider, settings):
    ada = oidc_provider.add_user("ada")
    token = oidc_provider.access_token(ada)
    configure(settings, closed_port_url())
    settings.OIDC_ISSUER = oidc_provider.url  # the token's issuer, the provider unreachable
    response = _get(token)
    assert response.status_code == 401
    assert "provider" in response.json()["detail"]
    _nothing_created()


def test_a_jwt_without_single_sign_on_is_an_invalid_token(oidc_server, settings):
    settings.OIDC_ISSUER = ""
    ada = oidc_server.add_user("ada")
    response = _get(oidc_server.access_token(ada))
    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid token."


def test_garbage_with_two_dots_is_refused(oidc_provider):
    response = _get("abc.def.ghi")
    assert response.status_code == 401
    assert response.json()["detail"] == "The token is not a readable JWT."


def test_a_username_taken_locally_is_not_taken_over(oidc_provider, outsider):
    twin = oidc_provider.add_user(outsider.username)
    user = _get(oidc_provider.access_token(twin)).wsgi_request.user
    assert user.pk != outsider.pk
    assert user.username.startswith(outsider.username + "-")
