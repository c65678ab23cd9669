"""The Monitoring pages: the panel on the dataset page, the page with the edit form, the drift chart
with its threshold line, and acknowledge / resolve from the alert list."""

import pytest
from django.urls import reverse

from catalog import services as catalog_services
from catalog import versions as catalog_versions
from profiling import monitors
from profiling.models import Alert, Monitor, ProfileRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def ds(owner, steward, data_root):
    dataset = catalog_services.create_dataset(
        actor=owner, namespace="s3://lake", name="loans", stewards=[steward.username]
    )
    for n, psi in ((1, None), (2, 0.05), (3, 0.6)):
        path = data_root / f"v{n}.csv"
        path.write_text(f"id,age\n{n},30\n")
        version, _ = catalog_versions.add_version_from_uri(actor=owner, dataset=dataset, uri=path.as_uri())
        drift = None if psi is None else {"previous_version": n - 1, "columns": {"age": {"psi": psi}}}
        ProfileRun.objects.create(
            version=version, dataset=dataset, version_number=n, status="succeeded", drift=drift
        )
    return dataset


def test_panel_and_page_show_rules_alerts_and_chart(ds, owner, outsider, web):
    monitors.set_monitor(
        actor=owner, dataset=ds, rules=[{"metric": "psi", "column": "age", "threshold": 0.3}]
    )
    page = web(owner).get(reverse("catalog:dataset", args=[ds.pk])).content.decode()
    assert reverse("profiling:monitoring-panel", args=[ds.pk]) in page

    panel = web(outsider).get(reverse("profiling:monitoring-panel", args=[ds.pk])).content.decode()
    assert "PSI of age &gt; 0.3" in panel and "badge-bad" in panel
    assert "PSI of age is 0.6 in version 3 against version 2" in panel
    assert "threshold 0.3" in panel and 'stroke-dasharray="5 3"' in panel  # the threshold line
    assert "Version 3 against version 2: PSI 0.6 (beyond the threshold)" in panel
    assert "Acknowledge" not in panel  # outsiders read only

    mine = web(owner).get(reverse("profiling:monitoring", args=[ds.pk])).content.decode()
    assert "Save the monitor" in mine and "Acknowledge" in mine
    theirs = web(outsider).get(reverse("profiling:monitoring", args=[ds.pk])).content.decode()
    assert "Save the monitor" not in theirs


def test_edit_form_saves_and_shows_errors_by_row(ds, owner, outsider, web):
    url = reverse("profiling:monitor-edit", args=[ds.pk])
    form = {
        "schedule": "0 6 * * *",
        "reference": "1",
        "rows": "3",
        "metric-0": "psi",
        "column-0": "age",
        "threshold-0": "0.3",
        "metric-1": "",
        "metric-2": "quality_score",
        "threshold-2": "0.8",
        "op-2": "<",
    }
    assert web(owner).post(url, form).status_code == 302
    monitor = Monitor.objects.get()
    assert monitor.schedule == "0 6 * * *" and monitor.reference_version == 1
    assert [r.metric for r in monitor.rules.all()] == ["psi", "quality_score"]

    bad = web(owner).post(url, {**form, "threshold-2": "high", "schedule": "soon"})
    assert bad.status_code == 400
    text = bad.content.decode()
    assert "Rule in row 3, threshold: A number." in text and "Schedule:" in text
    assert 'value="high"' in text  # what was typed is kept
    assert Monitor.objects.get().schedule == "0 6 * * *"  # nothing written

    removed = web(owner).post(url, {**form, "remove-0": "1"})
    assert removed.status_code == 302 and [r.metric for r in Monitor.objects.get().rules.all()] == [
        "quality_score"
    ]
    assert web(outsider).post(url, form).status_code == 403


def test_acknowledge_and_resolve_from_the_page(ds, owner, steward, outsider, web):
    monitors.set_monitor(
        actor=owner, dataset=ds, rules=[{"metric": "psi", "column": "age", "threshold": 0.3}]
    )
    alert = Alert.objects.get()
    back = reverse("catalog:dataset", args=[ds.pk])
    assert web(outsider).post(reverse("profiling:alert-acknowledge", args=[alert.pk])).status_code == 403
    done = web(steward).post(
        reverse("profiling:alert-acknowledge", args=[alert.pk]), {"comment": "on it", "next": back}
    )
    assert done.status_code == 302 and done["Location"] == back
    again = web(steward).post(reverse("profiling:alert-acknowledge", args=[alert.pk]), follow=True)
    assert "only an open alert is acknowledged" in again.content.decode()
    evil = web(owner).post(
        reverse("profiling:alert-resolve", args=[alert.pk]),
        {"comment": "ok", "next": "https://evil.example/"},
    )
    assert evil["Location"] == reverse("profiling:monitoring", args=[ds.pk])
    alert.refresh_from_db()
    assert alert.status == "resolved" and alert.history[-1]["comment"] == "ok"
    page = web(owner).get(reverse("profiling:monitoring", args=[ds.pk])).content.decode()
    assert "No open alert." in page and "“ok”" in page
    assert web(owner).post(reverse("profiling:alert-resolve", args=[99999])).status_code == 404
