"""The product's journeys in a real browser: Playwright driving Debian's chromium, headless, against
live_server with a real Celery worker (profiling runs there, as in production).

Steward: registers a dataset, uploads a version, watches the progress reach the end, sees histograms.
Data scientist: searches, opens it, requests access. Steward: approves from the inbox. Data
scientist: the clearance turns green. Lineage: the graph is drawn and a click on a node navigates.
"""

import re

import pytest
from django.db import connection
from playwright.sync_api import expect

from catalog import services as catalog_services

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CSV = "applicant_id,age,sex,income,score,hired,email\n" + "".join(
    f"{i},{21 + (i * 7) % 45},{'F' if i % 3 else 'M'},{18000 + (i * 137) % 60000},{(i * 31) % 100 / 10},"
    f"{1 if (i * 13) % 5 > 1 else 0},person{i}@example.org\n"
    for i in range(400)
)


@pytest.fixture
def csv_file(tmp_path):
    path = tmp_path / "hiring_2026.csv"
    path.write_text(CSV)
    return path


def test_curate_request_approve_clear(browser_as, live_worker, steward, outsider, owner, csv_file, shot):
    # --- A steward registers a dataset and uploads a version -----------------------------------
    page = browser_as(steward)
    page.get_by_role("link", name="Datasets", exact=True).click()
    page.get_by_role("link", name="Register a dataset").click()
    page.get_by_label("Namespace").fill("s3://hr-lake")
    page.get_by_label(re.compile(r"^Name\W*$")).fill("recruiting/applicants")
    page.get_by_label("Title").fill("Job applicants 2026")
    page.get_by_label("Description").fill("Applicants and **hiring** decisions.")
    expect(page.locator("#md-preview strong")).to_have_text("hiring")  # live Markdown preview
    page.get_by_label("Tags").fill("hr, recruiting")
    page.get_by_label("Sensitivity").select_option("confidential")
    page.get_by_label("Sensitive columns").fill("sex")
    page.get_by_label("Label column").fill("hired")
    page.get_by_label("Positive label").fill("1")
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_role("heading", name="Job applicants 2026")).to_be_visible()

    page.get_by_label("Upload a new version").set_input_files(str(csv_file))
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("#upload-label")).to_contain_text("Stored as version 1")
    expect(page.locator("#upload-bar")).to_have_attribute("value", "100")
    # The live profiling progress bar runs until the profile is there, then the panel refreshes.
    expect(page.locator("#profile-status")).to_contain_text("is ready", timeout=120_000)
    expect(page.locator("#profile-panel svg.chart").first).to_be_visible()
    expect(page.locator("#profile-panel")).to_contain_text("Positive rate")
    expect(page.locator("#columns")).to_contain_text("income")
    expect(page.locator("#latest-version")).to_have_text("1")  # the overview follows the upload
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "dataset-page", full_page=True)

    # Columns are documented in place.
    page.get_by_role("link", name="Edit column income").click()
    page.get_by_label("Description of income").fill("Yearly income in EUR")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#columns")).to_contain_text("Yearly income in EUR")

    # --- A data scientist searches, opens it, requests access ----------------------------------
    scientist = browser_as(outsider)
    scientist.get_by_role("searchbox", name="Search datasets").fill("applicants")
    scientist.get_by_role("searchbox", name="Search datasets").press("Enter")
    expect(scientist.locator("ol.results mark").first).to_be_visible()
    shot(scientist, "search")
    scientist.get_by_role("link", name=re.compile("Job applicants")).click()
    expect(scientist.locator("#access-panel")).to_contain_text("Not cleared")
    # Controls the scientist may not use are not there.
    expect(scientist.get_by_role("link", name="Edit details")).to_have_count(0)
    expect(scientist.locator("#upload-form")).to_have_count(0)
    scientist.get_by_role("link", name="Request access").first.click()
    scientist.get_by_label("Justification").fill("Train the *screening* model; fairness review planned.")
    scientist.get_by_label("Model").fill("screening-v1")
    scientist.get_by_role("button", name="Send the request").click()
    expect(scientist.get_by_role("heading", name=re.compile("Access request #"))).to_contain_text("Pending")

    # --- The steward approves from the inbox ----------------------------------------------------
    page.get_by_role("link", name="Approvals").click()
    expect(page.locator("article")).to_contain_text(outsider.username)
    shot(page, "approval-inbox")
    page.get_by_label(re.compile("Comment for request")).fill("Approved for the screening model.")
    page.get_by_role("button", name="Approve").click()
    expect(page.locator(".messages")).to_contain_text("approved")

    # --- The requester's clearance turns green ---------------------------------------------------
    scientist.get_by_role("link", name=re.compile("hr-lake:recruiting")).first.click()
    expect(scientist.locator("#clearance")).to_have_attribute("data-allowed", "true")
    expect(scientist.locator("#access-panel")).to_contain_text("Cleared")

    # --- The model trained on it has a printable card ---------------------------------------------
    from governance import registry

    mv = registry.register_model_version(
        actor=outsider,
        namespace="ml",
        name="screening",
        version="1",
        trained_on=["dataset:s3://hr-lake:recruiting/applicants@1"],
    )
    scientist.get_by_role("link", name="Models").click()
    scientist.get_by_role("link", name="ml/screening").click()
    expect(scientist.get_by_role("heading", name="Training data", exact=True)).to_be_visible()
    expect(scientist.locator("article.model-card")).to_contain_text("recruiting/applicants")
    shot(scientist, "model-card", full_page=True)
    scientist.emulate_media(media="print")
    expect(scientist.locator("header.topbar")).to_be_hidden()
    assert mv.cleared


def test_lineage_graph_draws_and_navigates(browser_as, live_worker, owner, outsider, shot):
    from lineage import ingest as lineage_services
    from lineage.tests.events import ds, run_event

    catalog_services.create_dataset(
        actor=owner, namespace="s3://lake", name="raw/patients", sensitivity="restricted"
    )
    lineage_services.ingest_event(
        body=run_event(
            "clean_visits",
            inputs=[ds("s3://lake", "raw/patients"), ds("s3://lake", "raw/visits")],
            outputs=[ds("s3://lake", "clean/visits")],
        ),
        actor=owner,
    )
    lineage_services.ingest_event(
        body=run_event(
            "build_features",
            inputs=[ds("s3://lake", "clean/visits")],
            outputs=[ds("s3://lake", "features/visits")],
        ),
        actor=owner,
    )
    page = browser_as(outsider)
    page.goto("/lineage/?node=dataset%3As3%3A%2F%2Flake%3Aclean%2Fvisits&depth=5")
    expect(page.locator("#lineage-graph")).to_have_attribute("data-ready", "1")
    expect(page.locator("#lineage-graph .node")).to_have_count(6)
    expect(page.locator("#lineage-graph .node.restricted")).to_have_count(1)
    shot(page, "lineage")
    # Zoom with the keyboard, then click a node: the graph re-centres on it.
    page.locator("#lineage-graph").focus()
    page.keyboard.press("+")
    page.locator('.node[data-id="job:pipelines:build_features"] a').click()
    expect(page).to_have_url(re.compile(r"node=job%3Apipelines%3Abuild_features"))
    expect(page.locator(".node.focus")).to_have_attribute("data-id", "job:pipelines:build_features")


def test_lineage_default_reaches_a_restricted_source_and_fits_readably(browser_as, owner, outsider, shot):
    """QA F12.2: a dataset 4 hops from a restricted source, page opened without a depth: the source
    is marked, the whole chain (first and last nodes included) is in view, the labels readable."""
    from lineage import ingest as lineage_services
    from lineage.tests.events import ds, run_event

    catalog_services.create_dataset(
        actor=owner, namespace="s3://qa-lake", name="clinical/diabetes", sensitivity="restricted"
    )
    names = ["clinical/diabetes", "staging/diabetes_clean", "derived/diabetes_sample", "reports/summary"]
    for i in range(1, len(names)):
        lineage_services.ingest_event(
            body=run_event(
                f"step_{i}", inputs=[ds("s3://qa-lake", names[i - 1])], outputs=[ds("s3://qa-lake", names[i])]
            ),
            actor=owner,
        )
    page = browser_as(outsider)
    page.goto("/lineage/?node=dataset%3As3%3A%2F%2Fqa-lake%3Aderived%2Fdiabetes_sample")
    svg = page.locator("#lineage-graph")
    expect(svg).to_have_attribute("data-ready", "1")
    expect(svg.locator(".node")).to_have_count(7)
    expect(svg.locator(".node.restricted")).to_have_count(1)
    expect(page.get_by_role("status")).to_contain_text("1 restricted source")
    frame = svg.bounding_box()
    for box in [svg.locator(".node rect").nth(i).bounding_box() for i in range(7)]:
        assert frame["x"] - 1 <= box["x"] and box["x"] + box["width"] <= frame["x"] + frame["width"] + 1
        assert frame["y"] - 1 <= box["y"] and box["y"] + box["height"] <= frame["y"] + frame["height"] + 1
    # 14 px labels drawn at 0.58 scale or more: at least 8 px on screen.
    label = svg.locator(".node text:not(.sub)").first.bounding_box()
    assert label["height"] >= 8, label
    shot(page, "lineage")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the narrow search table is PostgreSQL's")
def test_search_shows_results_then_its_facet_counts(browser_as, owner, outsider, monkeypatch):
    """A search with more matches than the page counts inline: results first, then the sidebar's
    counts arrive on their own (htmx), and its links narrow the search."""
    from django.core.cache import cache

    from catalog import search_page as views

    cache.clear()  # facet counts kept for paging by an earlier run would be shown at once
    monkeypatch.setattr(views, "FACETS_INLINE_MAX", 0)
    for i in range(3):
        catalog_services.create_dataset(actor=owner, namespace="s3://lake", name=f"claims_{i}", domain="risk")
    catalog_services.create_dataset(actor=owner, namespace="s3://lake", name="claims_misc")
    page = browser_as(outsider)
    with page.expect_request("**/datasets/facets/?q=claims") as sidebar_request:
        page.goto("/datasets/?q=claims")
    assert sidebar_request.value.response().ok
    expect(page.locator("ol.results > li")).to_have_count(4)
    sidebar = page.get_by_role("complementary", name="Narrow the results")
    expect(sidebar.get_by_role("heading", name="Domain")).to_be_visible()
    expect(sidebar).not_to_have_attribute("aria-busy", "true")
    expect(page.locator("#facets-status")).to_have_text("Filters loaded.")  # for screen readers
    sidebar.get_by_role("link", name=re.compile(r"risk\s*3")).click()
    expect(page).to_have_url(re.compile(r"domain=risk"))
    expect(page.locator("ol.results > li")).to_have_count(3)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the narrow search table is PostgreSQL's")
def test_search_sidebar_that_fails_to_load_offers_the_filters(browser_as, owner, outsider, monkeypatch):
    """QA Q7: when /datasets/facets/ fails, the sidebar is not left "Counting..." for good: it stops
    being busy and its link shows the page with the counts."""
    from django.core.cache import cache

    from catalog import search_page as views

    cache.clear()
    monkeypatch.setattr(views, "FACETS_INLINE_MAX", 0)
    catalog_services.create_dataset(actor=owner, namespace="s3://lake", name="claims_a", domain="risk")
    page = browser_as(outsider)
    page.route("**/datasets/facets/**", lambda route: route.fulfill(status=500, body="down"))
    page.goto("/datasets/?q=claims")
    sidebar = page.get_by_role("complementary", name="Narrow the results")
    expect(sidebar).not_to_have_attribute("aria-busy", "true")
    expect(sidebar.locator(".facets-wait")).to_be_hidden()
    sidebar.get_by_role("link", name="Show the filters with their counts").click()
    expect(page).to_have_url(re.compile(r"facets=all"))
    expect(
        page.get_by_role("complementary", name="Narrow the results").get_by_role("heading", name="Domain")
    ).to_be_visible()
