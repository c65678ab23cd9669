"""GET endpoints of lineage: shapes, errors, exports, permissions, and the OpenAPI schema."""

import xml.etree.ElementTree as ET

import pytest
from django.core.management import call_command

from catalog.models import Dataset
from lineage import ingest
from lineage.tests.events import ds, facet, run_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def pipeline():
    ingest.ingest_event(
        body=run_event(
            "clean",
            inputs=[ds("s3://lake", "raw")],
            outputs=[
                ds(
                    "s3://lake",
                    "clean",
                    columnLineage=facet(
                        fields={
                            "id": {
                                "inputFields": [{"namespace": "s3://lake", "name": "raw", "field": "raw_id"}]
                            }
                        }
                    ),
                )
            ],
        )
    )
    ingest.ingest_event(
        body=run_event("train", inputs=[ds("s3://lake", "clean")], outputs=[ds("s3://lake", "train")])
    )


@pytest.fixture
def readers(owner, steward, outsider, api_client_for):
    return {u.username: api_client_for(u) for u in (owner, steward, outsider)}


def test_every_signed_in_user_reads_lineage(pipeline, readers, anon_client):
    for client in readers.values():
        r = client.get("/api/v1/lineage", {"nodeId": "dataset:s3://lake:clean", "depth": 5})
        assert r.status_code == 200
        assert len(r.json()["graph"]) == 5
    for url in ("/api/v1/lineage/impact", "/api/v1/column-lineage", "/api/v1/lineage/events"):
        assert anon_client.get(url, {"nodeId": "dataset:s3://lake:clean"}).status_code == 401


def test_lineage_errors(pipeline, readers):
    client = readers["oscar_outsider"]
    r = client.get("/api/v1/lineage", {"nodeId": "dataset:s3://lake:nope"})
    assert r.status_code == 404 and set(r.json()) == {"detail", "errors"}
    assert client.get("/api/v1/lineage").json()["errors"] == {"nodeId": ["This parameter is required."]}
    assert "nodeId" in client.get("/api/v1/lineage", {"nodeId": "table:x"}).json()["errors"]
    assert (
        "depth"
        in client.get("/api/v1/lineage", {"nodeId": "dataset:s3://lake:clean", "depth": "x"}).json()["errors"]
    )
    assert (
        "depth"
        in client.get("/api/v1/lineage", {"nodeId": "dataset:s3://lake:clean", "depth": 10_000}).json()[
            "errors"
        ]
    )
    r = client.get("/api/v1/lineage", {"nodeId": "dataset:s3://lake:clean", "direction": "sideways"})
    assert r.status_code == 400 and "direction" in r.json()["errors"]


def test_export_formats(pipeline, readers):
    client = readers["olivia_owner"]
    params = {"nodeId": "dataset:s3://lake:clean"}
    graphml = client.get("/api/v1/lineage", {**params, "format": "graphml"})
    assert graphml.status_code == 200 and graphml["Content-Type"].startswith("application/graphml+xml")
    root = ET.fromstring(graphml.content)
    ns = {"g": "http://graphml.graphdrawing.org/xmlns"}
    assert len(root.findall(".//g:node", ns)) == 5 and len(root.findall(".//g:edge", ns)) == 4
    dot = client.get("/api/v1/lineage", {**params, "format": "dot"})
    assert dot["Content-Type"].startswith("text/vnd.graphviz")
    text = dot.content.decode()
    assert (
        text.startswith('digraph "lineage"') and '"dataset:s3://lake:raw" -> "job:pipelines:clean";' in text
    )
    assert client.get("/api/v1/lineage", {**params, "format": "json"}).json()["graph"]
    impact_dot = client.get("/api/v1/lineage/impact", {**params, "format": "dot"}).content.decode()
    assert '"dataset:s3://lake:train"' in impact_dot
    path_graphml = client.get(
        "/api/v1/lineage/path",
        {"from": "dataset:s3://lake:raw", "to": "dataset:s3://lake:train", "format": "graphml"},
    )
    assert path_graphml.status_code == 200 and b"job:pipelines:train" in path_graphml.content
    # Errors keep the JSON error shape whatever the format.
    assert b'"detail"' in client.get("/api/v1/lineage", {"nodeId": "dataset:x:y", "format": "dot"}).content


def test_dot_escapes_quotes(readers):
    ingest.ingest_event(body=run_event('say "hi"', outputs=[ds("s3://lake", 'quote"d\\name')]))
    dot = readers["olivia_owner"].get(
        "/api/v1/lineage", {"nodeId": 'job:pipelines:say "hi"', "format": "dot"}
    )
    assert '"job:pipelines:say \\"hi\\""' in dot.content.decode()


def test_impact_and_path_endpoints(pipeline, readers):
    client = readers["sam_steward"]
    r = client.get("/api/v1/lineage/impact", {"nodeId": "dataset:s3://lake:raw"})
    assert r.status_code == 200
    assert [lvl["distance"] for lvl in r.json()["levels"]] == [1, 2, 3, 4]
    assert client.get("/api/v1/lineage/impact", {"nodeId": "dataset:s3://lake:zz"}).status_code == 404
    path = client.get(
        "/api/v1/lineage/path", {"from": "dataset:s3://lake:train", "to": "dataset:s3://lake:raw"}
    ).json()
    assert path["found"] and path["length"] == 4 and path["path"][0] == "dataset:s3://lake:raw"
    ingest.ingest_event(body=run_event("other", outputs=[ds("s3://lake", "island")]))
    none = client.get(
        "/api/v1/lineage/path", {"from": "dataset:s3://lake:raw", "to": "dataset:s3://lake:island"}
    ).json()
    assert none["found"] is False and none["path"] == []
    assert client.get("/api/v1/lineage/path", {"from": "dataset:s3://lake:raw"}).status_code == 400


def test_column_lineage_endpoint(pipeline, readers):
    client = readers["oscar_outsider"]
    r = client.get("/api/v1/column-lineage", {"nodeId": "datasetField:s3://lake:clean:id", "depth": 5})
    assert r.status_code == 200
    ids = [n["id"] for n in r.json()["graph"]]
    assert ids == ["datasetField:s3://lake:clean:id", "datasetField:s3://lake:raw:raw_id"]
    down = client.get(
        "/api/v1/column-lineage", {"nodeId": "datasetField:s3://lake:raw:raw_id", "withDownstream": "true"}
    ).json()
    raw = next(n for n in down["graph"] if n["id"] == "datasetField:s3://lake:raw:raw_id")
    assert raw["outEdges"] == [
        {"origin": "datasetField:s3://lake:raw:raw_id", "destination": "datasetField:s3://lake:clean:id"}
    ]
    assert client.get("/api/v1/column-lineage", {"nodeId": "datasetField:s3://lake:zz:id"}).status_code == 404
    assert client.get("/api/v1/column-lineage", {"nodeId": "job:pipelines:clean"}).status_code == 400
    # A dataset node id: every field column lineage knows of it, as Marquez answers.
    whole = client.get("/api/v1/column-lineage", {"nodeId": "dataset:s3://lake:clean"}).json()
    assert [n["id"] for n in whole["graph"]] == ids
    assert client.get("/api/v1/column-lineage", {"nodeId": "dataset:s3://lake:zz"}).status_code == 404


def test_history_endpoints(pipeline, readers):
    client = readers["olivia_owner"]
    clean = Dataset.objects.get(name="clean")
    by_id = client.get(f"/api/v1/lineage/datasets/{clean.pk}/runs").json()
    by_urn = client.get(f"/api/v1/lineage/datasets/{clean.urn}/runs").json()
    assert by_id == by_urn and by_id["count"] == 2
    assert {r["direction"] for r in by_id["results"]} == {"input", "output"}
    assert (
        client.get(f"/api/v1/lineage/datasets/{clean.pk}/runs", {"direction": "output"}).json()["count"] == 1
    )
    assert client.get(f"/api/v1/lineage/datasets/{clean.pk}/runs", {"direction": "x"}).status_code == 400
    assert client.get(f"/api/v1/lineage/datasets/{clean.pk}/runs", {"version": "x"}).status_code == 400
    assert client.get("/api/v1/lineage/datasets/999999/runs").status_code == 404
    run_id = by_id["results"][0]["runId"]
    run = client.get(f"/api/v1/lineage/runs/{run_id}").json()
    assert run["id"] == run_id and run["state"] == "COMPLETED"
    assert client.get("/api/v1/lineage/runs/00000000-0000-0000-0000-000000000000").status_code == 404


def test_openapi_schema_has_lineage_endpoints(tmp_path, capsys):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(out), "--validate")
    warnings = [line for line in capsys.readouterr().err.splitlines() if "lineage" in line.lower()]
    assert warnings == []
    text = out.read_text()
    for op in ("lineage_event_create", "lineage_graph", "column_lineage", "lineage_impact", "lineage_path"):
        assert op in text


def test_admin_reads_but_never_edits_the_record(pipeline, client):
    from django.contrib.auth import get_user_model

    admin_user = get_user_model().objects.create_superuser("root_admin", password="pw")
    client.force_login(admin_user)
    assert client.get("/admin/lineage/lineageevent/").status_code == 200
    from lineage.models import LineageEvent

    event_id = LineageEvent.objects.first().pk
    assert client.get(f"/admin/lineage/lineageevent/{event_id}/change/").status_code == 200
    assert client.post(f"/admin/lineage/lineageevent/{event_id}/delete/", {"post": "yes"}).status_code == 403
    assert client.get("/admin/lineage/node/").status_code == 200
    assert client.get("/admin/lineage/run/").status_code == 200


def test_full_job_io_parameter(readers):
    ingest.ingest_event(body=run_event("join", inputs=[ds("s3://lake", "l"), ds("s3://lake", "r")]))
    client = readers["olivia_owner"]
    params = {"nodeId": "dataset:s3://lake:l", "direction": "downstream"}
    job = lambda r: next(n for n in r.json()["graph"] if n["type"] == "JOB")["data"]  # noqa: E731
    assert [d["name"] for d in job(client.get("/api/v1/lineage", params))["inputs"]] == ["l"]
    assert [
        d["name"] for d in job(client.get("/api/v1/lineage", {**params, "fullJobIO": "true"}))["inputs"]
    ] == ["l", "r"]


def test_catalogued_dataset_without_events_is_a_single_node_graph(readers, owner):
    """QA F6: a dataset known to the catalog is a known node, as Marquez answers it."""
    from catalog import columns as catalog_columns
    from catalog import services as catalog_services

    dataset = catalog_services.create_dataset(
        actor=owner, namespace="s3://lake", name="raw/events/2024.parquet"
    )
    catalog_columns.set_columns_from_schema(dataset=dataset, columns=[{"name": "ts", "type": "timestamp"}])
    client = readers["oscar_outsider"]
    r = client.get("/api/v1/lineage", {"nodeId": "dataset:s3://lake:raw/events/2024.parquet"})
    assert r.status_code == 200, r.content
    [node] = r.json()["graph"]
    assert node["id"] == "dataset:s3://lake:raw/events/2024.parquet"
    assert node["type"] == "DATASET"
    assert (node["inEdges"], node["outEdges"]) == ([], [])
    assert node["data"]["catalogId"] == dataset.pk
    assert [f["name"] for f in node["data"]["fields"]] == ["ts"]
    impact = client.get("/api/v1/lineage/impact", {"nodeId": "dataset:s3://lake:raw/events/2024.parquet"})
    assert impact.status_code == 200 and impact.json()["count"] == 0
    # Neither in the catalog nor in the lineage: still unknown.
    assert client.get("/api/v1/lineage", {"nodeId": "dataset:s3://lake:nowhere"}).status_code == 404


def test_column_lineage_of_a_field_the_dataset_does_not_have_is_404(pipeline, readers):
    """QA F6: datasetField of a known dataset but an unknown field → 404, not a made-up node."""
    client = readers["oscar_outsider"]
    assert (
        client.get("/api/v1/column-lineage", {"nodeId": "datasetField:s3://lake:clean:nope"}).status_code
        == 404
    )
    assert (
        client.get("/api/v1/column-lineage", {"nodeId": "datasetField:s3://lake:clean:id"}).status_code == 200
    )
    ingest.ingest_event(
        body=run_event(
            "describe",
            outputs=[ds("s3://lake", "schema_only", schema=facet(fields=[{"name": "a", "type": "int"}]))],
        )
    )
    ok = client.get("/api/v1/column-lineage", {"nodeId": "datasetField:s3://lake:schema_only:a"})
    assert ok.status_code == 200
    assert [n["id"] for n in ok.json()["graph"]] == ["datasetField:s3://lake:schema_only:a"]
    gone = client.get("/api/v1/column-lineage", {"nodeId": "datasetField:s3://lake:schema_only:b"})
    assert gone.status_code == 404
