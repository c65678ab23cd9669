"""The OpenAPI schema is valid, served without authentication, and nothing else is.

API.md: "Every /api/v1/ endpoint except the schema and docs requires authentication ... No
credentials: 401." The last test walks the URL resolver, so an endpoint added tomorrow is covered.
"""

import io
import re

import pytest
import yaml
from django.core.management import call_command
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.exceptions import Resolver404
from drf_spectacular.management.commands.spectacular import SchemaGenerationError
from drf_spectacular.validation import validate_schema

pytestmark = pytest.mark.django_db

PUBLIC = {"/api/v1/schema/", "/api/v1/docs/"}
METHODS = ("get", "post", "put", "patch", "delete")


def test_schema_is_served_without_authentication_and_is_valid_openapi_3(anon_client):
    response = anon_client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200, response.content[:500]
    schema = response.json() if "json" in response["Content-Type"] else yaml.safe_load(response.content)
    # drf-spectacular's own check against the official OpenAPI 3 JSON Schema; raises on any error.
    validate_schema(schema)
    assert schema["openapi"].startswith("3.")
    assert any(path.startswith("/api/v1/datasets") for path in schema["paths"])
    # Token and Bearer both appear as ways in, so generated clients can authenticate.
    schemes = schema["components"]["securitySchemes"]
    assert schemes, "no security scheme in the schema"


def test_schema_generation_has_no_warnings(tmp_path):
    """What `manage.py spectacular --validate --fail-on-warn` checks in CI: every view's
    serializer, filter and custom action is described (a warning means a guessed schema)."""
    out = tmp_path / "schema.yaml"
    stderr = io.StringIO()
    try:
        call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out), stderr=stderr)
    except SchemaGenerationError:
        pytest.fail("drf-spectacular warnings (fix the view named in each):\n" + stderr.getvalue())
    assert out.stat().st_size > 1000, stderr.getvalue()


def test_docs_are_served_without_authentication(anon_client):
    response = anon_client.get("/api/v1/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()


# ---------------------------------------------------------------------------------------------
# Every other /api/v1/ URL answers 401 to anonymous callers, whatever the method


def _sample(pattern: str) -> str:
    """A concrete path for a URL pattern (route or regex): every parameter becomes ``1``."""
    path = re.sub(r"\(\?P<\w+>[^)]*\)", "1", pattern)  # regex named groups
    path = re.sub(r"<(?:\w+:)?\w+>", "1", path)  # route converters
    path = path.replace("^", "").replace("$", "").replace("\\.", ".").replace("/?", "/")
    return path


def _walk(patterns, prefix: str = ""):
    for p in patterns:
        piece = _sample(str(p.pattern))
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, prefix + piece)
        elif isinstance(p, URLPattern):
            yield "/" + prefix + piece, p


def api_paths() -> list[str]:
    paths = set()
    for path, pattern in _walk(get_resolver().url_patterns):
        path = path.replace("//", "/")
        if not path.startswith("/api/v1/") or "format" in str(pattern.pattern) or path in PUBLIC:
            continue
        try:
            resolve(path)
        except Resolver404:
            continue  # a parameter that must be something other than "1" (rare; kept honest below)
        paths.add(path)
    return sorted(paths)


def test_the_walk_finds_the_api():
    paths = api_paths()
    assert "/api/v1/datasets/" in paths and "/api/v1/datasets/1/" in paths
    assert len(paths) >= 5, paths


@pytest.mark.parametrize("path", api_paths())
def test_every_other_api_url_needs_credentials(anon_client, path):
    for method in METHODS:
        response = getattr(anon_client, method)(path, {}, format="json")
        assert response.status_code == 401, f"{method.upper()} {path} → {response.status_code}"
        if response["Content-Type"].startswith("application/json"):
            assert set(response.json()) >= {"detail", "errors"}, response.json()
        assert response.has_header("WWW-Authenticate"), f"{method.upper()} {path}: no WWW-Authenticate"


def test_a_wrong_token_is_401_not_500(anon_client):
    anon_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-real-token")
    assert anon_client.get("/api/v1/datasets/").status_code == 401
    anon_client.credentials(HTTP_AUTHORIZATION="Token")
    assert anon_client.get("/api/v1/datasets/").status_code == 401
