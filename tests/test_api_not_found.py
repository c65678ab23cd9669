"""Paths under /api/v1/ that no endpoint serves answer the API's JSON error shape."""

import pytest

pytestmark = pytest.mark.django_db


def test_unknown_api_path_is_json_404(owner, api_client_for, anon_client):
    client = api_client_for(owner)
    for path in ("/api/v1/nonexistent/", "/api/v1/datasets/abc/", "/api/v1/datasets/1/versions/abc/"):
        r = client.get(path)
        assert r.status_code == 404 and r["Content-Type"].startswith("application/json")
        assert path in r.json()["detail"]
    assert anon_client.get("/api/v1/nonexistent/").status_code == 401


def test_missing_trailing_slash_is_pointed_out(owner, api_client_for):
    r = api_client_for(owner).post("/api/v1/datasets", {"namespace": "a", "name": "b"}, format="json")
    assert r.status_code == 404 and "trailing slash" in r.json()["detail"]


@pytest.mark.parametrize("path", ["/api/v1/clearance", "/api/v1/datasets/"])
def test_more_query_parameters_than_django_parses_is_a_json_400(owner, api_client_for, settings, path):
    """QA G3: 1,000 datasets asked in the repeated form (as require_clearance sends them)."""
    query = "&".join(f"datasets=dataset:x:{i}" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
    r = api_client_for(owner).get(f"{path}?{query}&purpose=training")
    assert r.status_code == 400 and r["Content-Type"].startswith("application/json")
    assert "Too many query parameters" in r.json()["detail"] and "query" in r.json()["errors"]
