"""The lineage page, server side: the drawn graph, restricted and derived nodes, links, bad input."""

import pytest
from django.urls import reverse

from catalog import services as catalog_services
from lineage import ingest
from lineage.layout import layout_graph
from lineage.tests.events import ds, run_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def pipeline(owner):
    catalog_services.create_dataset(
        actor=owner, namespace="s3://lake", name="raw/patients", sensitivity="restricted"
    )
    ingest.ingest_event(
        body=run_event(
            "clean",
            inputs=[ds("s3://lake", "raw/patients"), ds("s3://lake", "raw/visits")],
            outputs=[ds("s3://lake", "clean/visits")],
        ),
        actor=owner,
    )
    ingest.ingest_event(
        body=run_event(
            "features", inputs=[ds("s3://lake", "clean/visits")], outputs=[ds("s3://lake", "features/visits")]
        ),
        actor=owner,
    )


def test_page_draws_the_graph_with_links(web, outsider, pipeline):
    response = web(outsider).get(
        reverse("lineage:graph"), {"node": "dataset:s3://lake:clean/visits", "depth": 5}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert '<svg id="lineage-graph"' in html
    layout = response.context["layout"]
    ids = {n.id for n in layout.nodes}
    assert {
        "dataset:s3://lake:raw/patients",
        "job:pipelines:clean",
        "dataset:s3://lake:features/visits",
    } <= ids
    by_id = {n.id: n for n in layout.nodes}
    assert by_id["dataset:s3://lake:raw/patients"].restricted
    assert by_id["dataset:s3://lake:features/visits"].blocked  # derived from restricted data
    assert not by_id["dataset:s3://lake:raw/visits"].blocked
    assert by_id["dataset:s3://lake:clean/visits"].focus
    # Nodes are links that re-centre the graph (they work without JavaScript).
    assert "node=job%3Apipelines%3Aclean" in html
    # Data flows left to right.
    assert (
        by_id["dataset:s3://lake:raw/visits"].x
        < by_id["job:pipelines:clean"].x
        < by_id["dataset:s3://lake:clean/visits"].x
    )
    assert response.context["focus_dataset_pk"] is not None


def test_direction_limits_the_graph(web, outsider, pipeline):
    response = web(outsider).get(
        reverse("lineage:graph"), {"node": "dataset:s3://lake:clean/visits", "direction": "downstream"}
    )
    ids = {n.id for n in response.context["layout"].nodes}
    assert "dataset:s3://lake:raw/patients" not in ids
    assert "dataset:s3://lake:features/visits" in ids


def test_unknown_and_bad_nodes(web, outsider, pipeline):
    client = web(outsider)
    assert client.get(reverse("lineage:graph"), {"node": "dataset:s3://lake:nope"}).status_code == 404
    assert client.get(reverse("lineage:graph"), {"node": "banana"}).status_code in (400, 404)
    assert client.get(reverse("lineage:graph")).status_code == 200  # the empty form


def test_layout_of_300_nodes_with_a_cycle():
    nodes = {}

    def add(i, t):
        nodes.setdefault(i, {"id": i, "type": t, "data": {}, "inEdges": [], "outEdges": []})

    def edge(o, d):
        e = {"origin": o, "destination": d}
        nodes[o]["outEdges"].append(e)
        nodes[d]["inEdges"].append(e)

    for j in range(150):
        add(f"job:etl:j{j}", "JOB")
        add(f"dataset:ns:d{j}", "DATASET")
        edge(f"job:etl:j{j}", f"dataset:ns:d{j}")
        if j:
            edge(f"dataset:ns:d{j - 1}", f"job:etl:j{j}")
            edge(f"dataset:ns:d{j // 2}", f"job:etl:j{j}")
    edge("dataset:ns:d149", "job:etl:j0")  # a cycle
    layout = layout_graph(list(nodes.values()), focus="dataset:ns:d0", restricted={"dataset:ns:d3"})
    assert len(layout.nodes) == 300
    assert len({(n.x, n.y) for n in layout.nodes}) == 300  # no two nodes on top of each other
    assert any(n.blocked for n in layout.nodes)


def test_default_depth_reaches_a_restricted_source_many_hops_up(web, outsider, owner):
    """By default the page walks the whole upstream (as clearance does) and a few hops down: a
    dataset derived from restricted data six hops away is marked, its source too."""
    catalog_services.create_dataset(
        actor=owner, namespace="s3://lake", name="raw/d0", sensitivity="restricted"
    )
    for i in range(1, 6):
        ingest.ingest_event(
            body=run_event(
                f"step{i}", inputs=[ds("s3://lake", f"raw/d{i - 1}")], outputs=[ds("s3://lake", f"raw/d{i}")]
            ),
            actor=owner,
        )
    response = web(outsider).get(reverse("lineage:graph"), {"node": "dataset:s3://lake:raw/d4"})
    assert response.status_code == 200
    by_id = {n.id: n for n in response.context["layout"].nodes}
    assert by_id["dataset:s3://lake:raw/d0"].restricted  # 8 hops up
    assert by_id["dataset:s3://lake:raw/d4"].blocked
    assert "dataset:s3://lake:raw/d5" in by_id  # downstream too
    html = response.content.decode()
    assert "1 restricted source" in html
    # Node links keep the default (no depth) so that the next graph reaches as far.
    assert "depth=" not in html.split('<svg id="lineage-graph"')[1]
    # An explicit depth still limits the walk.
    narrow = web(outsider).get(reverse("lineage:graph"), {"node": "dataset:s3://lake:raw/d4", "depth": 3})
    assert "dataset:s3://lake:raw/d0" not in {n.id for n in narrow.context["layout"].nodes}
