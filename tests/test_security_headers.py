"""Content-Security-Policy on every answer (django-csp), and templates that keep to it: no inline
script, no inline event handler, no hx-on attribute (htmx compiles those with new Function)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.django_db


def _policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {d.split()[0]: d.split()[1:] for d in (p.strip() for p in header.split(";")) if d}


@pytest.mark.parametrize("path", ["/accounts/login/", "/", "/api/v1/datasets/", "/api/v1/docs/"])
def test_every_answer_carries_the_policy(client, web, owner, path):
    web(owner)
    response = client.get(path)
    assert response.status_code == 200
    policy = _policy(response)
    assert policy["script-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in policy["default-src"]


def test_swagger_ui_has_no_inline_script(client, web, owner):
    web(owner)
    html = client.get("/api/v1/docs/").content.decode()
    assert "<script" in html
    for tag in re.findall(r"<script[^>]*>", html):
        assert "src=" in tag, f"inline script on the API docs page: {tag}"


INLINE_HANDLER = re.compile(r"""\son[a-z]+\s*=|\shx-on[:-]""", re.IGNORECASE)


def templates() -> list[Path]:
    return sorted(
        p
        for base in ("templates", "catalog", "profiling", "lineage", "governance")
        for p in (ROOT / base).rglob("*.html")
    )


def test_templates_hold_no_inline_script_or_handler():
    found = []
    for path in templates():
        text = path.read_text()
        for tag in re.findall(r"<script[^>]*>", text):
            if "src=" not in tag:
                found.append(f"{path.relative_to(ROOT)}: {tag}")
        for match in INLINE_HANDLER.finditer(text):
            line = text[: match.start()].count("\n") + 1
            found.append(f"{path.relative_to(ROOT)}:{line}: {match.group().strip()}")
    assert templates() and not found, found
