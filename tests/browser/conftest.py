"""Fixtures for the browser journeys: Playwright (Debian's chromium) against live_server + a real worker.

The browser itself comes from tests/integration/plugin.py (``chromium_browser``); tests here are
marked ``browser`` and ``integration`` and are skipped when chromium, Playwright or the broker is absent.
"""

import os
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; the ORM calls of the test (and of
# live_server's thread) would be refused as "async unsafe" without this. Set before any fixture runs.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ROOT = Path(__file__).resolve().parents[2]
# Set GOUVERNAIL_SCREENSHOTS=docs/screenshots to refresh the README's screenshots while testing.
SHOTS = os.environ.get("GOUVERNAIL_SCREENSHOTS", "")


@pytest.fixture
def shot():
    """shot(page, "name") saves docs/screenshots/name.png when GOUVERNAIL_SCREENSHOTS is set."""

    def take(page, name: str, **kwargs) -> None:
        if SHOTS:
            folder = ROOT / SHOTS
            folder.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(folder / f"{name}.png"), **kwargs)

    return take


@pytest.fixture
def browser_as(chromium_browser, live_server):
    """browser_as(user) → a page in a fresh context, signed in as user through the login form."""
    contexts = []

    def open_as(user):
        context = chromium_browser.new_context(
            viewport={"width": 1280, "height": 900}, base_url=live_server.url
        )
        context.set_default_timeout(30_000)
        contexts.append(context)
        page = context.new_page()
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill("pw-" + user.username)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/")
        return page

    yield open_as
    for context in contexts:
        context.close()
