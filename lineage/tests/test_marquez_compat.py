"""What Marquez's API takes, Gouvernail takes; what Marquez refuses, Gouvernail refuses.

Marquez (marquez.service.models.LineageEvent) reads a body without ``schemaURL`` as a run event and
requires ``producer``, ``eventTime``, ``run.runId``, ``job.namespace`` and ``job.name``; its
dataset and job events need their ``schemaURL`` to be told apart.
"""

import pytest

from lineage.models import LineageEvent, Node, Run
from lineage.tests.events import ds, run_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(owner, api_client_for):
    return api_client_for(owner)


def post(client, body):
    return client.post("/api/v1/lineage", body, format="json")


@pytest.mark.parametrize("event_type", ["START", "COMPLETE"])
def test_a_run_event_without_schema_url_is_stored_and_folded(client, event_type):
    body = run_event(
        "nightly_etl",
        event_type=event_type,
        inputs=[ds("s3://lake", "raw")],
        outputs=[ds("s3://lake", "clean")],
    )
    del body["schemaURL"]
    response = post(client, body)
    assert response.status_code == 201, response.content
    assert LineageEvent.objects.count() == 1
    assert Run.objects.filter(run_id=body["run"]["runId"]).exists()
    assert Node.objects.filter(name="clean").exists()


def test_an_old_client_event_without_schema_url_or_event_type(client):
    body = run_event("legacy")
    del body["schemaURL"], body["eventType"]
    assert post(client, body).status_code == 201


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda b: b["run"].update(runId=None), "run.runId"),
        (lambda b: b["job"].update(name=None), "job.name"),
        (lambda b: b.pop("producer"), "producer"),
        (lambda b: b.update(eventTime="2026-01-10"), "eventTime"),
        (lambda b: b.update(schemaURL=42), "schemaURL"),
        (
            lambda b: b.update(
                outputs=[
                    {"namespace": "s3://lake", "name": "x", "facets": {"schema": {"fields": "not a list"}}}
                ]
            ),
            "outputs",
        ),
    ],
    ids=[
        "null-run-id",
        "null-job-name",
        "no-producer",
        "date-without-time",
        "schema-url-not-a-string",
        "bad-schema-facet",
    ],
)
def test_what_marquez_refuses_is_refused(client, change, field):
    body = run_event("j")
    change(body)
    response = post(client, body)
    assert response.status_code == 400, response.content
    assert any(key.startswith(field) for key in response.json()["errors"]), response.json()
    assert LineageEvent.objects.count() == 0


@pytest.mark.parametrize("kind", ["dataset", "job"])
def test_dataset_and_job_events_still_need_their_schema_url(client, kind):
    if kind == "dataset":
        body = {"eventTime": "2026-01-10T10:00:00Z", "producer": "p", "dataset": ds("s3://lake", "d")}
    else:
        body = {"eventTime": "2026-01-10T10:00:00Z", "producer": "p", "job": {"namespace": "n", "name": "j"}}
    response = post(client, body)
    assert response.status_code == 400
    assert LineageEvent.objects.count() == 0


@pytest.mark.parametrize(
    "fields",
    [[{"type": "int"}], [{"name": None}], [{"name": "a", "type": 5}], [{"name": "a", "fields": "x"}], "nope"],
    ids=["no-name", "null-name", "type-not-a-string", "nested-not-a-list", "not-a-list"],
)
def test_a_schema_facet_with_invalid_fields_is_refused(client, fields):
    body = run_event("j", outputs=[ds("s3://lake", "x", schema={"fields": fields})])
    response = post(client, body)
    assert response.status_code == 400, response.content
    assert any(k.startswith("outputs[0].facets.schema.fields") for k in response.json()["errors"])


def test_a_schema_facet_wider_than_the_column_limit_is_refused(client, settings):
    settings.GOUVERNAIL_MAX_COLUMNS = 50
    wide = [{"name": f"c{i}", "type": "int"} for i in range(51)]
    response = post(client, run_event("j", outputs=[ds("s3://lake", "wide", schema={"fields": wide})]))
    assert response.status_code == 400
    assert "GOUVERNAIL_MAX_COLUMNS" in str(response.json()["errors"])
    ok = post(client, run_event("j", outputs=[ds("s3://lake", "wide", schema={"fields": wide[:50]})]))
    assert ok.status_code == 201
