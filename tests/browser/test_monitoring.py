"""Monitoring in a browser: a steward sets rules on the dataset's Monitoring page, sees the alert and
the drift chart with its threshold in the dataset page's panel, and acknowledges the alert there;
an owner notifies downstream owners from the impact page; column lineage is drawn."""

import re

import pytest
from playwright.sync_api import expect

from catalog import services as catalog_services
from catalog import versions as catalog_versions
from lineage import ingest
from lineage.tests.events import ds, facet, run_event
from profiling.models import Alert, ProfileRun

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def watched(owner, steward, data_root):
    """Three versions of a dataset whose profiles say how far ``age`` moved each time."""
    dataset = catalog_services.create_dataset(
        actor=owner, namespace="s3://lake", name="loans", title="Loans", stewards=[steward.username]
    )
    for n, psi in ((1, None), (2, 0.04), (3, 0.45)):
        path = data_root / f"v{n}.csv"
        path.write_text(f"id,age,income\n{n},30,100\n")
        version, _ = catalog_versions.add_version_from_uri(actor=owner, dataset=dataset, uri=path.as_uri())
        drift = (
            None
            if psi is None
            else {"previous_version": n - 1, "columns": {"age": {"psi": psi, "drifted": psi > 0.2}}}
        )
        ProfileRun.objects.filter(version=version).delete()  # the eager job's, replaced by these figures
        ProfileRun.objects.create(
            version=version,
            dataset=dataset,
            version_number=n,
            status="succeeded",
            drift=drift,
            columns=[{"name": "age", "null_fraction": 0.0}, {"name": "income", "null_fraction": 0.0}],
        )
    return dataset


def test_set_rules_see_the_alert_and_acknowledge_it(browser_as, steward, watched, shot):
    page = browser_as(steward)
    page.goto(f"/datasets/{watched.pk}/monitoring/")
    page.get_by_label("Schedule").fill("0 4 * * *")
    page.get_by_label("Figure of rule 1").select_option("psi")
    page.get_by_label("Column of rule 1").select_option("age")
    page.get_by_label("Threshold of rule 1").fill("0.3")
    page.get_by_role("button", name="Save the monitor").click()
    expect(page.get_by_role("status")).to_contain_text("The monitor is saved")
    expect(page.locator(".alert-item")).to_contain_text("PSI of age is 0.45 in version 3 against version 2")

    page.goto(f"/datasets/{watched.pk}/")
    panel = page.locator("#monitoring-panel")
    expect(panel.get_by_role("img", name=re.compile("PSI of age by version, threshold 0.3"))).to_be_visible()
    shot(page.locator("#monitoring-panel"), "monitoring-panel")
    panel.get_by_label("Comment").fill("Checking the loader")
    panel.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_role("status")).to_contain_text("The alert is acknowledged")
    expect(page.locator("#monitoring-panel .alert-item")).to_contain_text(
        "acknowledged by " + steward.username
    )
    assert Alert.objects.get().history[-1]["comment"] == "Checking the loader"


def test_notify_downstream_owners_and_column_lineage(browser_as, owner, outsider, watched, shot):
    catalog_services.create_dataset(actor=outsider, namespace="s3://lake", name="features")
    fields = {"age_bucket": {"inputFields": [{"namespace": "s3://lake", "name": "loans", "field": "age"}]}}
    ingest.ingest_event(
        body=run_event(
            "features",
            inputs=[ds("s3://lake", "loans")],
            outputs=[ds("s3://lake", "features", columnLineage=facet(fields=fields))],
        ),
        actor=owner,
    )
    page = browser_as(owner)
    page.goto(f"/datasets/{watched.pk}/")
    page.get_by_role("link", name="Impact").click()
    expect(page.get_by_role("table")).to_contain_text("dataset:s3://lake:features")
    expect(page.get_by_role("table")).to_contain_text(outsider.username)
    page.get_by_label("What changed").fill("Ages are now in months.")
    shot(page, "impact")
    page.get_by_role("button", name="Notify downstream owners").click()
    expect(page.get_by_role("status").first).to_contain_text(
        f"Downstream owners notified: {outsider.username}"
    )

    page.get_by_role("link", name="Downstream graph").click()
    page.get_by_role("link", name="Show column lineage").click()
    expect(page.locator('[data-id="datasetField:s3://lake:features:age_bucket"]')).to_be_visible()
    expect(page.locator('[data-id="datasetField:s3://lake:loans:age"]')).to_be_visible()
    shot(page, "column-lineage")
