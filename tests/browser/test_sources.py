"""Sources in a real browser (Playwright, Debian's chromium) against live_server and a real Celery
worker, as in production: staff adds a folder source through the form, tests the connection, scans
it, watches the scan's progress until it finishes, and finds the datasets it registered — on the
source's page and on a dataset's page, which says where it comes from."""

import re

import pytest
from playwright.sync_api import expect

from catalog.models import Source, SourceScan

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture
def lake(data_root):
    """A folder under DATA_ROOTS: a Hive-partitioned folder (one dataset) and a CSV file."""
    folder = data_root / "lake"
    for day, rows in (("2026-12-01", "ann,3\nbob,4\n"), ("2026-12-02", "cid,5\n")):
        part = folder / "events" / f"date={day}"
        part.mkdir(parents=True)
        (part / "part-0.csv").write_text("user,amount\n" + rows)
    (folder / "customers.csv").write_text("id,email\n1,a@example.org\n2,b@example.org\n")
    (folder / "README.txt").write_text("not data: skipped")
    return folder


@pytest.fixture
def broken(lake):
    """A file whose bytes are not what its extension says: an error of the scan, the rest registered."""
    (lake / "broken.parquet").write_bytes(b"this is not parquet at all")
    return lake / "broken.parquet"


def test_add_test_scan_a_folder_source(browser_as, lake, broken, live_worker, staff, shot):
    # ``lake`` (hence DATA_ROOTS) before ``live_worker``: the worker must read the folder too.
    page = browser_as(staff)
    refused = []  # the strict CSP must refuse nothing on these pages (no inline script or style)
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sources").click()
    expect(page.get_by_role("heading", name="Sources", exact=True)).to_be_visible()
    page.get_by_role("link", name="Add a source").click()
    page.get_by_label(re.compile(r"^Name\W*$")).fill("Data lake")
    page.get_by_label(re.compile(r"^Kind\W*$")).select_option("folder")
    page.get_by_label(re.compile(r"^URI\W*$")).fill(lake.as_uri())
    page.get_by_label("Schedule").fill("0 3 * * *")
    expect(page.locator("#id_schedule_hint")).to_have_text("At 03:00 (UTC)")  # the cron in words
    page.get_by_label("Profile each new or changed dataset").uncheck()
    shot(page, "source-form", full_page=True)
    page.get_by_role("button", name="Add the source").click()
    expect(page.get_by_role("heading", name="Data lake")).to_be_visible()
    expect(page.locator(".messages")).to_contain_text("Added the source Data lake")
    source = Source.objects.get(name="Data lake")

    # Test connection: what a scan would register, nothing written.
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#test-result")).to_contain_text("Connected.")
    expect(page.locator("#test-result")).to_contain_text(str(lake / "customers.csv"))
    expect(page.locator("#test-result")).to_contain_text(str(lake / "events"))
    assert not SourceScan.objects.exists() and not source.datasets.exists()

    # Scan now: the progress polls until the worker has finished, then history and datasets refresh.
    page.get_by_role("button", name="Scan now").click()
    status = page.locator("#scan-status")
    expect(status).to_contain_text("Partly succeeded", timeout=120_000)  # the broken file
    expect(status.locator("dd").nth(1)).to_have_text("2")  # registered
    expect(status.locator("dd").nth(5)).to_have_text("1")  # errors
    expect(status.locator("[hx-trigger]")).to_have_count(0)  # polling stopped
    # The list of errors is open when the scan has just finished: which file, and why.
    expect(status.locator(".scan-errors li")).to_be_visible()
    expect(status.locator(".scan-errors li")).to_contain_text(str(broken))
    expect(page.locator("#scan-history tbody tr")).to_have_count(1)
    expect(page.locator("#scan-history")).to_contain_text(staff.username)
    datasets = page.locator("#source-datasets")
    expect(datasets.get_by_role("link")).to_have_count(2)
    expect(datasets).to_contain_text(str(lake / "customers.csv"))
    expect(page.locator("#source-dataset-count")).to_have_text("2")  # the settings follow
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "source-page", full_page=True)

    # Scanned again with nothing changed: nothing registered, both unchanged, a second history row.
    page.get_by_role("button", name="Scan now").click()
    # The history gains its row when the poll sees the second scan finish (scan-finished).
    expect(page.locator("#scan-history tbody tr")).to_have_count(2, timeout=120_000)
    second = SourceScan.objects.order_by("-id").first()
    expect(status).to_contain_text(f"Scan {second.pk} ")
    expect(status.locator("[hx-trigger]")).to_have_count(0)
    expect(status.locator("dd").nth(3)).to_have_text("2")  # unchanged

    # The dataset's page says where it comes from.
    datasets.get_by_role("link", name=re.compile(r"customers\.csv$")).click()
    expect(page.get_by_role("link", name="Data lake")).to_be_visible()
    expect(page.locator("#versions")).to_contain_text("by reference")
    shot(page, "dataset-from-source", full_page=True)
    assert refused == [], refused


@pytest.mark.django_db(transaction=True)
def test_sources_read_without_javascript(chromium_browser, live_server, lake, staff, outsider):
    """An outsider reads sources, a scan's counts and its datasets with JavaScript off; the
    controls (test, scan, settings) are not offered to them."""
    from catalog import scans, sources

    source = sources.create_source(actor=staff, name="Data lake", kind="folder", uri=lake.as_uri())
    scan = scans.request_scan(actor=staff, source=source)
    scans.run_scan(scan.pk)  # here, in this process (a no-op if it already ran on commit)
    scan.refresh_from_db()
    assert scan.status == "succeeded", scan.errors
    context = chromium_browser.new_context(java_script_enabled=False, base_url=live_server.url)
    try:
        page = context.new_page()
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(outsider.username)
        page.get_by_label("Password").fill("pw-" + outsider.username)
        page.get_by_role("button", name="Sign in").click()
        page.goto("/sources/")
        page.get_by_role("link", name="Data lake").click()
        expect(page.locator("#scan-status")).to_contain_text("Succeeded")
        expect(page.locator("#scan-history tbody tr")).to_have_count(1)
        expect(page.get_by_role("button", name="Scan now")).to_have_count(0)
        expect(page.get_by_role("button", name="Test connection")).to_have_count(0)
        page.locator("#source-datasets").get_by_role("link", name=re.compile(r"customers\.csv$")).click()
        expect(page.get_by_role("link", name="Data lake")).to_be_visible()
    finally:
        context.close()
