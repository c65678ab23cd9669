"""The impact page (downstream datasets and whom to tell), "Notify downstream owners" (a signal,
and e-mails while nothing listens to it), and column lineage drawn on the graph page."""

import pytest
from django.core import mail
from django.urls import reverse

from catalog import services as catalog_services
from lineage import ingest, signals
from lineage.tests.events import ds, facet, run_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def pipeline(owner, steward, outsider, make_user):
    """raw (owner's) → clean (steward's, restricted) → features (outsider's), with column lineage."""
    catalog_services.create_dataset(actor=owner, namespace="s3://lake", name="raw")
    catalog_services.create_dataset(
        actor=steward, namespace="s3://lake", name="clean", sensitivity="restricted"
    )
    catalog_services.create_dataset(actor=outsider, namespace="s3://lake", name="features")
    lineage_of = {"id": {"inputFields": [{"namespace": "s3://lake", "name": "raw", "field": "raw_id"}]}}
    ingest.ingest_event(
        body=run_event(
            "clean",
            inputs=[ds("s3://lake", "raw")],
            outputs=[ds("s3://lake", "clean", columnLineage=facet(fields=lineage_of))],
        ),
        actor=owner,
    )
    to_features = {"user_id": {"inputFields": [{"namespace": "s3://lake", "name": "clean", "field": "id"}]}}
    ingest.ingest_event(
        body=run_event(
            "features",
            inputs=[ds("s3://lake", "clean")],
            outputs=[ds("s3://lake", "features", columnLineage=facet(fields=to_features))],
        ),
        actor=owner,
    )


def test_impact_page_lists_downstream_and_whom_to_tell(web, outsider, owner, steward, pipeline):
    page = web(outsider).get(reverse("lineage:impact"), {"node": "dataset:s3://lake:raw"})
    text = page.content.decode()
    assert page.status_code == 200
    assert "dataset:s3://lake:clean" in text and "dataset:s3://lake:features" in text
    assert steward.username in text and outsider.username in text
    assert "Notify downstream owners" not in text  # an outsider to raw may not
    assert (
        "Notify downstream owners"
        in web(owner).get(reverse("lineage:impact"), {"node": "dataset:s3://lake:raw"}).content.decode()
    )
    assert (
        web(outsider).get(reverse("lineage:impact"), {"node": "dataset:s3://lake:nothing"}).status_code == 404
    )
    assert web(outsider).get(reverse("lineage:impact")).status_code == 200


def test_notify_sends_the_signal_and_mails_when_nothing_listens(
    web, owner, steward, outsider, pipeline, django_capture_on_commit_callbacks
):
    url = reverse("lineage:impact-notify")
    assert web(outsider).post(url, {"node": "dataset:s3://lake:raw"}).status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        done = web(owner).post(
            url, {"node": "dataset:s3://lake:raw", "message": "Ids are UUIDs now."}, follow=True
        )
    assert f"Downstream owners notified: {outsider.username}, {steward.username}" in done.content.decode()
    assert sorted(m.to[0] for m in mail.outbox) == ["oscar@example.org", "sam@example.org"]
    sam = next(m for m in mail.outbox if m.to == ["sam@example.org"])
    assert "Ids are UUIDs now." in sam.body and "dataset:s3://lake:clean" in sam.body
    assert "dataset:s3://lake:features" not in sam.body  # only what they keep

    heard = []
    signals.impact_notified.connect(
        lambda sender, **kw: heard.append(kw), weak=False, dispatch_uid="t-impact"
    )
    try:
        mail.outbox.clear()
        with django_capture_on_commit_callbacks(execute=True):
            web(owner).post(url, {"node": "dataset:s3://lake:raw"})
    finally:
        signals.impact_notified.disconnect(dispatch_uid="t-impact")
    assert mail.outbox == []  # an event consumer listens: it tells them
    (sent,) = heard
    assert sent["dataset"].name == "raw" and sent["actor"] == owner
    assert {n["id"] for n in sent["downstream"]} >= {"dataset:s3://lake:clean", "dataset:s3://lake:features"}
    assert sorted(sent["recipients"]) == sorted([steward.username, outsider.username])


def test_nothing_downstream_is_said(web, outsider, pipeline):
    done = web(outsider).post(
        reverse("lineage:impact-notify"), {"node": "dataset:s3://lake:features"}, follow=True
    )
    assert "Nothing is downstream" in done.content.decode() and not mail.outbox


def test_graph_page_draws_column_lineage(web, outsider, pipeline):
    page = web(outsider).get(reverse("lineage:graph"), {"node": "dataset:s3://lake:clean", "view": "columns"})
    text = page.content.decode()
    assert page.status_code == 200
    for field in (
        "datasetField:s3://lake:raw:raw_id",
        "datasetField:s3://lake:clean:id",
        "datasetField:s3://lake:features:user_id",
    ):
        assert f'data-id="{field}"' in text
    assert "node-field" in text and "RESTRICTED" in text  # clean's columns carry its restriction
    assert "Show datasets and jobs" in text
    one = web(outsider).get(reverse("lineage:graph"), {"node": "datasetField:s3://lake:features:user_id"})
    assert one.status_code == 200 and 'data-id="datasetField:s3://lake:raw:raw_id"' in one.content.decode()
    nodes = web(outsider).get(reverse("lineage:graph"), {"node": "dataset:s3://lake:clean"}).content.decode()
    assert "Show column lineage" in nodes and "node-field" not in nodes
    catalog_services.create_dataset(actor=outsider, namespace="s3://lake", name="lonely")
    none = web(outsider).get(
        reverse("lineage:graph"), {"node": "dataset:s3://lake:lonely", "view": "columns"}
    )
    assert none.status_code == 404 and "in the column lineage yet" in none.content.decode()
