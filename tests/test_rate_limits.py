"""Rate limits: repeated failed logins lock the username out for that address (django-axes), and
API writes are limited per user (config/throttles.py, settings.API_WRITE_RATE)."""

import pytest
from django.core.cache import cache

pytestmark = pytest.mark.django_db


def _login(client, username: str, password: str):
    return client.post("/accounts/login/", {"username": username, "password": password})


def test_failed_logins_lock_out_the_username_even_with_the_right_password(client, owner, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(3):
        response = _login(client, owner.username, "wrong")
        assert response.status_code in (200, 429)
    refused = _login(client, owner.username, "pw-" + owner.username)
    assert refused.status_code == 429
    assert "_auth_user_id" not in client.session


def test_a_good_login_before_the_limit_is_let_in(client, owner, settings):
    settings.AXES_FAILURE_LIMIT = 3
    _login(client, owner.username, "wrong")
    response = _login(client, owner.username, "pw-" + owner.username)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(owner.pk)


def test_api_writes_are_limited_per_user(api_client_for, owner, outsider, settings):
    cache.clear()
    settings.API_WRITE_RATE = "3/min"
    api = api_client_for(owner)
    created = [
        api.post("/api/v1/datasets/", {"namespace": "rl", "name": f"d{i}"}).status_code for i in range(4)
    ]
    assert created == [201, 201, 201, 429]
    refused = api.post("/api/v1/datasets/", {"namespace": "rl", "name": "d9"})
    assert int(refused["Retry-After"]) > 0
    assert refused.json()["detail"]
    # Reads are not counted, and another user has a budget of their own.
    assert api.get("/api/v1/datasets/").status_code == 200
    assert (
        api_client_for(outsider).post("/api/v1/datasets/", {"namespace": "rl", "name": "o1"}).status_code
        == 201
    )


def test_no_limit_when_the_rate_is_empty(api_client_for, owner, settings):
    cache.clear()
    settings.API_WRITE_RATE = None
    api = api_client_for(owner)
    assert all(
        api.post("/api/v1/datasets/", {"namespace": "rl", "name": f"n{i}"}).status_code == 201
        for i in range(8)
    )


def test_openlineage_events_are_not_counted_as_writes(api_client_for, owner, settings):
    from lineage.tests.events import run_event

    cache.clear()
    settings.API_WRITE_RATE = "2/min"
    api = api_client_for(owner)
    # The session-authenticated path goes through DRF, as the direct path does not.
    answers = [api.post("/api/v1/lineage", run_event(f"job{i}"), format="json").status_code for i in range(4)]
    assert answers == [201] * 4
