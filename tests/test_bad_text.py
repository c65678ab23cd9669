"""Text the database cannot store is refused with a 400 that names where it is, on every endpoint:
a NUL in a query parameter, a NUL or a lone surrogate in a JSON body, JSON nested too deeply."""

import pytest

from catalog.models import Dataset
from config.parsers import unstorable_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(owner, api_client_for):
    return api_client_for(owner)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/datasets/?q=a%00b",
        "/api/v1/datasets/?owner=%00",
        "/api/v1/audit/?object=x%00",
        "/api/v1/lineage/events/?a%00=1",
    ],
)
def test_a_nul_in_a_query_parameter_is_a_400(api, path):
    response = api.get(path)
    assert response.status_code == 400, response.content
    assert "NUL" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b'{"namespace": "n", "name": "a\\u0000b"}', "name"),
        (b'{"namespace": "n", "name": "a\\ud800b"}', "name"),
        (b'{"namespace": "n", "name": "ok", "tags": ["x", "y\\u0000"]}', "tags[1]"),
        (b'{"namespace": "n", "name": "ok", "a\\u0000": 1}', "non_field_errors"),
    ],
    ids=["nul", "lone-surrogate", "nul-in-a-list", "nul-in-a-key"],
)
def test_unstorable_text_in_a_json_body_is_a_400_naming_the_field(api, body, where):
    response = api.post("/api/v1/datasets/", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert where in response.json()["errors"] and response.json()["detail"]
    assert not Dataset.objects.exists()


def test_json_nested_too_deeply_is_a_400(api):
    body = b"[" * 100_000 + b"]" * 100_000
    response = api.post("/api/v1/datasets/", body, content_type="application/json")
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]


def test_ordinary_text_passes():
    assert unstorable_text({"a": ["b", {"c": "é ✓ 日本"}], "n": 1, "z": None}) is None
