"""POST /api/v1/lineage: what is accepted, what is refused and how, and that nothing is lost."""

import gzip
import json
import uuid

import pytest

from catalog.models import Dataset
from lineage.models import Edge, LineageEvent, Node, Run
from lineage.tests.events import PRODUCER, ds, facet, run_event

pytestmark = pytest.mark.django_db
URL = "/api/v1/lineage"


@pytest.fixture
def client(owner, api_client_for):
    return api_client_for(owner, scheme="Bearer")


def post(client, body, **kw):
    return client.post(URL, json.dumps(body), content_type="application/json", **kw)


def assert_refused(response, field, status=400):
    assert response.status_code == status, response.content
    data = response.json()
    assert set(data) == {"detail", "errors"}
    assert field in data["errors"], data
    assert LineageEvent.objects.count() == 0
    return data


def test_with_and_without_trailing_slash(client):
    assert post(client, run_event("a")).status_code == 201
    r = client.post(URL + "/", json.dumps(run_event("b")), content_type="application/json")
    assert r.status_code == 201
    assert LineageEvent.objects.count() == 2


def test_token_scheme_too_and_anonymous_refused(owner, api_client_for, anon_client):
    assert post(api_client_for(owner, scheme="Token"), run_event("a")).status_code == 201
    assert post(anon_client, run_event("b")).status_code == 401
    assert anon_client.get(URL, {"nodeId": "job:pipelines:a"}).status_code == 401


@pytest.mark.parametrize("event_type", ["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"])
def test_every_event_type_is_taken(client, event_type):
    r = post(client, run_event("j", event_type=event_type))
    assert r.status_code == 201, r.content
    assert r.json()["kind"] == "run"


def test_missing_run_id_names_the_field(client):
    body = run_event("j")
    del body["run"]["runId"]
    data = assert_refused(post(client, body), "run.runId")
    assert "required" in data["errors"]["run.runId"][0]


def test_run_id_must_be_a_uuid(client):
    assert_refused(post(client, run_event("j", run_id="not-a-uuid")), "run.runId")


def test_unknown_event_type(client):
    data = assert_refused(post(client, run_event("j", event_type="FINISHED")), "eventType")
    assert "START" in data["errors"]["eventType"][0]


@pytest.mark.parametrize("value", ["yesterday", "2026-01-10", "2026-13-40T10:00:00Z", "10:00"])
def test_event_time_not_iso8601(client, value):
    assert_refused(post(client, run_event("j", event_time=value)), "eventTime")


def test_event_time_without_zone_is_utc(client):
    assert post(client, run_event("j", event_time="2026-01-10T10:00:00.123456")).status_code == 201
    assert LineageEvent.objects.get().event_time.isoformat() == "2026-01-10T10:00:00.123456+00:00"


def test_missing_job_name_and_dataset_name(client):
    body = run_event("j", inputs=[{"namespace": "s3://lake"}])
    del body["job"]["name"]
    data = assert_refused(post(client, body), "job.name")
    assert "inputs[0].name" in data["errors"]


def test_missing_producer_is_refused_but_not_a_missing_schema_url(client):
    body = run_event("j")
    del body["producer"], body["schemaURL"]
    data = assert_refused(post(client, body), "producer")
    assert "schemaURL" not in data["errors"]  # optional on run events, as in Marquez


def test_wrong_types(client):
    body = run_event("j")
    body["inputs"] = {"namespace": "a", "name": "b"}
    assert_refused(post(client, body), "inputs")


def test_malformed_json(client):
    r = client.post(URL, '{"eventType": "START", ', content_type="application/json")
    data = assert_refused(r, "body")
    assert "Malformed JSON" in data["detail"]
    r = client.post(URL, b"\xff\xfe\x00garbage", content_type="application/json")
    assert_refused(r, "body")
    r = client.post(URL, "[1, 2]", content_type="application/json")
    assert_refused(r, "non_field_errors")
    r = client.post(URL, "[" * 100_000, content_type="application/json")
    assert_refused(r, "body")


def test_body_over_the_limit_is_413(client, settings):
    settings.LINEAGE_MAX_EVENT_BYTES = 2_000
    body = run_event("j", inputs=[ds("s3://lake", f"t{i}") for i in range(200)])
    data = assert_refused(post(client, body), "body", status=413)
    assert "2000 bytes" in data["detail"]


def test_gzip_body_is_taken_and_bounded(client, settings):
    raw = gzip.compress(json.dumps(run_event("zipped")).encode())
    r = client.post(URL, raw, content_type="application/json", HTTP_CONTENT_ENCODING="gzip")
    assert r.status_code == 201, r.content
    settings.LINEAGE_MAX_EVENT_BYTES = 5_000
    bomb = gzip.compress(json.dumps(run_event("j", inputs=[ds("s3://lake", "x" * 200)] * 100)).encode())
    r = client.post(URL, bomb, content_type="application/json", HTTP_CONTENT_ENCODING="gzip")
    assert r.status_code == 413
    r = client.post(URL, b"not gzip", content_type="application/json", HTTP_CONTENT_ENCODING="gzip")
    assert r.status_code == 400
    assert LineageEvent.objects.count() == 1


def test_names_with_spaces_unicode_and_uris(client):
    names = [
        ("postgres://db.internal:5432", "public.orders 2024"),
        ("s3://lake", "données/équipe/€ café.parquet"),
        ("kafka://broker:9092", "topic://with/scheme"),
        ("file", "/data/日本語 テーブル.csv"),
    ]
    r = post(
        client,
        run_event("etl", inputs=[ds(*names[0]), ds(*names[1])], outputs=[ds(*names[2]), ds(*names[3])]),
    )
    assert r.status_code == 201, r.content
    for ns, name in names:
        assert Dataset.objects.filter(namespace=ns, name=name).exists()
        graph = client.get(URL, {"nodeId": f"dataset:{ns}:{name}"}).json()["graph"]
        assert f"dataset:{ns}:{name}" in {n["id"] for n in graph}
        assert "job:pipelines:etl" in {n["id"] for n in graph}


def test_control_characters_and_overlong_names_refused(client):
    data = assert_refused(
        post(client, run_event("j", inputs=[ds("s3://lake", "bad\nname")])), "inputs[0].name"
    )
    assert "Control characters" in data["errors"]["inputs[0].name"][0]
    assert_refused(post(client, run_event("j", outputs=[ds("s3://lake", "x" * 256)])), "outputs[0].name")
    assert_refused(post(client, run_event("  ")), "job.name")
    assert Dataset.objects.count() == 0


def test_too_many_datasets_refused_clearly(client, settings):
    settings.LINEAGE_MAX_DATASETS_PER_EVENT = 50
    data = assert_refused(
        post(client, run_event("j", inputs=[ds("s3://lake", f"t{i}") for i in range(51)])), "inputs"
    )
    assert "At most 50 datasets per list" in data["errors"]["inputs"][0]
    assert Dataset.objects.count() == 0


def test_ten_thousand_inputs_in_one_event_is_stored_and_queued(client, django_capture_on_commit_callbacks):
    body = run_event(
        "wide", inputs=[ds("s3://lake", f"part/{i}") for i in range(10_000)], outputs=[ds("s3://lake", "all")]
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        r = post(client, body)
    assert r.status_code == 201, r.content[:500]
    event = LineageEvent.objects.get()
    assert event.deferred and event.body == body
    assert len(callbacks) == 1  # the worker applies it; registering 10,001 datasets takes a while


def test_deferred_event_applied_by_the_task(client, settings, django_capture_on_commit_callbacks):
    settings.LINEAGE_SYNC_MAX_NEW_DATASETS = 5
    body = run_event(
        "wide", inputs=[ds("s3://lake", f"part/{i}") for i in range(30)], outputs=[ds("s3://lake", "all")]
    )
    with django_capture_on_commit_callbacks(execute=True):
        r = post(client, body)
    assert r.status_code == 201
    assert LineageEvent.objects.get().deferred
    job = Node.objects.get(key="job:pipelines:wide")
    assert Edge.objects.filter(dst=job.pk).count() == 30
    assert Edge.objects.filter(src=job.pk).count() == 1
    assert Dataset.objects.count() == 31


def test_unknown_facet_kept_as_is(client):
    custom = {
        "_producer": PRODUCER,
        "_schemaURL": "https://example.org/MyFacet.json",
        "anything": [1, {"x": None}],
    }
    body = run_event("j", outputs=[ds("s3://lake", "out", myCompanyFacet=custom)])
    body["run"]["facets"] = {"weird": {"no_producer": True}}
    assert post(client, body).status_code == 201
    assert LineageEvent.objects.get().body == body
    node = Node.objects.get(key="dataset:s3://lake:out")
    assert node.facets["myCompanyFacet"] == custom
    assert Run.objects.get().facets == {"weird": {"no_producer": True}}


def test_same_event_twice_changes_nothing(client):
    body = run_event("j", inputs=[ds("s3://lake", "a")], outputs=[ds("s3://lake", "b")])
    first = post(client, body)
    assert first.status_code == 201
    before = (Node.objects.count(), Edge.objects.count(), Run.objects.count(), Dataset.objects.count())
    # Same content, different key order and whitespace: the same event.
    again = client.post(URL, json.dumps(body, indent=2, sort_keys=True), content_type="application/json")
    assert again.status_code == 200
    assert again.json() == {**first.json(), "created": False}
    assert LineageEvent.objects.count() == 1
    assert (
        Node.objects.count(),
        Edge.objects.count(),
        Run.objects.count(),
        Dataset.objects.count(),
    ) == before


def test_complete_before_start(client):
    run_id = str(uuid.uuid4())
    out = [ds("s3://lake", "late")]
    assert (
        post(
            client,
            run_event(
                "j", event_type="COMPLETE", run_id=run_id, outputs=out, event_time="2026-01-10T10:05:00Z"
            ),
        ).status_code
        == 201
    )
    assert (
        post(
            client, run_event("j", event_type="START", run_id=run_id, event_time="2026-01-10T10:00:00Z")
        ).status_code
        == 201
    )
    run = Run.objects.get(run_id=run_id)
    assert run.state == "COMPLETED"  # a late START never undoes a COMPLETE
    assert run.started_at.isoformat() == "2026-01-10T10:00:00+00:00"
    assert run.ended_at.isoformat() == "2026-01-10T10:05:00+00:00"
    detail = client.get(f"/api/v1/lineage/runs/{run_id}").json()
    assert detail["state"] == "COMPLETED" and detail["durationMs"] == 300_000
    assert [o["id"] for o in detail["outputs"]] == ["dataset:s3://lake:late"]


def test_run_id_reused_by_another_job_is_refused(client):
    run_id = str(uuid.uuid4())
    assert post(client, run_event("first", run_id=run_id)).status_code == 201
    data = assert_refused_keep(post(client, run_event("second", run_id=run_id)), "run.runId")
    assert "another job" in data["errors"]["run.runId"][0]
    assert LineageEvent.objects.count() == 1
    assert not Node.objects.filter(key="job:pipelines:second").exists()


def assert_refused_keep(response, field):
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    return response.json()


def test_dataset_event_and_job_event(client):
    dataset_event = {
        "eventTime": "2026-01-10T10:00:00Z",
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent",
        "dataset": ds("s3://lake", "static", schema=facet(fields=[{"name": "id", "type": "INT"}])),
    }
    r = post(client, dataset_event)
    assert r.status_code == 201 and r.json()["kind"] == "dataset"
    assert list(Dataset.objects.get(name="static").columns.values_list("name", flat=True)) == ["id"]

    job_event = {
        "eventTime": "2026-01-10T10:00:00Z",
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/JobEvent",
        "job": {
            "namespace": "pipelines",
            "name": "declared",
            "facets": {"documentation": facet(description="Nightly.")},
        },
        "inputs": [ds("s3://lake", "static")],
        "outputs": [ds("s3://lake", "derived")],
    }
    r = post(client, job_event)
    assert r.status_code == 201 and r.json()["kind"] == "job"
    graph = {n["id"]: n for n in client.get(URL, {"nodeId": "job:pipelines:declared"}).json()["graph"]}
    assert graph["job:pipelines:declared"]["data"]["description"] == "Nightly."
    assert set(graph) == {"job:pipelines:declared", "dataset:s3://lake:static", "dataset:s3://lake:derived"}

    bad = {**dataset_event, "dataset": {"namespace": "s3://lake"}}
    assert post(client, bad).status_code == 400


def test_stored_events_listed_raw(client, outsider, api_client_for):
    bodies = [run_event("j", event_type=t) for t in ("START", "COMPLETE")]
    for b in bodies:
        post(client, b)
    page = api_client_for(outsider).get("/api/v1/lineage/events", {"eventType": "complete"}).json()
    assert page["count"] == 1 and page["results"][0]["body"] == bodies[1]
    assert set(page) == {"count", "next", "previous", "results"}
    assert client.get("/api/v1/lineage/events", {"since": "nope"}).status_code == 400


@pytest.mark.parametrize(
    "raw",
    [
        '"facets": {"m": {"v": NaN}}',
        '"facets": {"m": {"v": Infinity}}',
        '"facets": {"m": {"v": 1e400}}',
        '"facets": {"m": {"v": "nul\\u0000here"}}',
        '"facets": {"m": {"v": "lone \\ud800 surrogate"}}',
    ],
)
def test_json_the_database_cannot_store_is_refused(client, raw):
    body = json.dumps(run_event("j", outputs=[ds("s3://lake", "x")]))
    body = body.replace('"name": "x"}', '"name": "x", ' + raw + "}")
    data = assert_refused(client.post(URL, body, content_type="application/json"), "body")
    assert "Not storable JSON" in data["detail"]


def test_escaped_backslash_u0000_is_ordinary_text(client):
    body = run_event("j", outputs=[ds("s3://lake", "x", note=facet(text="C:\\u0000 is a path"))])
    assert post(client, body).status_code == 201


def test_event_time_out_of_range(client):
    assert_refused(post(client, run_event("j", event_time="9999-12-31T23:30:00-05:00")), "eventTime")


@pytest.mark.parametrize("second", [{"version": {"datasetVersion": "2"}}, {"extra": {"k": 1}}])
def test_a_dataset_named_twice_on_one_side_is_one_input(client, second):
    """QA G8: the second mention updated a row not inserted yet: a 500, and the event was lost."""
    body = run_event(
        "dupin",
        inputs=[ds("qa-edge", "din", version={"datasetVersion": "1"}), ds("qa-edge", "din", **second)],
    )
    r = post(client, body)
    assert r.status_code == 201, r.content[:300]
    assert LineageEvent.objects.filter(pk=r.json()["id"]).exists()
    run = Run.objects.get(run_id=body["run"]["runId"].lower())
    (io,) = run.io.all()
    assert io.direction == "input" and set(second) <= set(io.facets)


def test_the_direct_path_answers_as_drf_does(client, anon_client, monkeypatch):
    """A well-formed event with a token skips DRF's request cycle (LineageView._post_directly); its
    answer is DRF's, and what it does not take DRF's cycle answers."""
    from lineage.api.views import LineageView

    event = run_event("a")
    direct = post(client, event)
    with monkeypatch.context() as m:
        m.setattr(LineageView, "_post_directly", lambda self, r: None)
        through_drf = post(client, run_event("b"))
    assert (direct.status_code, through_drf.status_code) == (201, 201)
    assert direct["Content-Type"] == through_drf["Content-Type"] == "application/json"
    assert direct["Allow"] == through_drf["Allow"] and direct["Vary"] == through_drf["Vary"]
    assert direct.json() == {**through_drf.json(), "id": through_drf.json()["id"] - 1}
    again = post(client, event)
    assert again.status_code == 200 and again.json() == {**direct.json(), "created": False}
    # Refusals come from DRF's cycle, in the API's error shape, and store nothing.
    declined = []
    real = LineageView._post_directly
    monkeypatch.setattr(
        LineageView,
        "_post_directly",
        lambda self, r: declined.append(r) if (a := real(self, r)) is None else a,
    )
    anon_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    assert post(anon_client, run_event("c")).json()["detail"] == "Invalid token."
    bad = run_event("d")
    del bad["run"]["runId"]
    assert "run.runId" in post(client, bad).json()["errors"]
    assert len(declined) == 2
    assert LineageEvent.objects.count() == 2
    # A graph format asked of a POST still gets JSON (QA Q5): the formats are for reads.
    for kw in ({"HTTP_ACCEPT": "application/graphml+xml"}, {"QUERY_STRING": "format=dot"}):
        r = post(client, run_event("f"), **kw)
        assert r.status_code == 201 and r["Content-Type"] == "application/json" and r.json()["created"]
    r = post(client, {"eventType": "START"}, QUERY_STRING="format=dot")
    assert r.status_code == 400 and r["Content-Type"] == "application/json"


def test_a_chunked_body_without_a_length_is_refused_clearly(client):
    r = client.generic(
        "POST",
        URL,
        json.dumps(run_event("a")),
        content_type="application/json",
        HTTP_TRANSFER_ENCODING="chunked",
    )
    # The test client sets CONTENT_LENGTH; a WSGI server passing a chunked body does not.
    assert r.status_code == 201
    from django.test import RequestFactory

    from lineage.api.views import _read_body

    request = RequestFactory().post(
        URL, b"", content_type="application/json", HTTP_TRANSFER_ENCODING="chunked"
    )
    request.META.pop("CONTENT_LENGTH", None)
    answer = _read_body(request)
    assert answer.status_code == 411 and "Content-Length" in answer.data["detail"]
