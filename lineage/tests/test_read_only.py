"""Every public read of lineage only reads.

Each function of the read modules runs under ``no_writes()`` on a graph that gives it real work (a
chain of jobs, column lineage, a model, a restricted catalog dataset with an owner and a steward)
while one event is still pending: a read that folded it, as reads once did, would write. The table
must name every public function of each read module, so a new read cannot slip by.
"""

import uuid

import pytest
from django.utils import timezone

from catalog import services as catalog_services
from lineage import (
    column_lineage,
    fold,
    history,
    impact,
    ingest,
    layout,
    marquez,
    paths,
    permissions,
    selectors,
    walks,
)
from lineage.models import EventState, LineageEvent, Node, Run
from lineage.tests.events import ds, facet, run_event
from tests.read_only import WriteInRead, no_writes, public_functions

pytestmark = pytest.mark.django_db

READ_MODULES = (selectors, walks, marquez, impact, paths, column_lineage, history, layout, permissions)
RUN_ID = str(uuid.uuid4())
ORDERS = "dataset:s3://lake:orders"
MODEL = "model:mlflow://prod:churn"


def _graph_of(g) -> list[dict]:
    return marquez.lineage_graph(ORDERS, depth=5)["graph"]


# (module, function name, call). Every call gets the fixture's objects and returns its answer.
READS = [
    (selectors, "node_exists", lambda g: selectors.node_exists(ORDERS)),
    (selectors, "node_by_key", lambda g: selectors.node_by_key("dataset:mlflow://prod:churn")),
    (selectors, "node_pk", lambda g: selectors.node_pk(MODEL)),
    (selectors, "dataset_node_for", lambda g: selectors.dataset_node_for(str(g["orders"].pk))),
    (selectors, "nodes_by_ids", lambda g: selectors.nodes_by_ids(list(g["node_ids"].values()))),
    (selectors, "catalog_dataset_for", lambda g: selectors.catalog_dataset_for(ORDERS)),
    (walks, "walk", lambda g: walks.walk(g["node_ids"][ORDERS], depth=5).edges),
    (walks, "walk_cte", lambda g: walks.walk_cte("upstream")),
    (
        walks,
        "upstream_datasets",
        lambda g: walks.upstream_datasets([MODEL, "dataset:s3://lake:totals"])[MODEL],
    ),
    (walks, "downstream_nodes", lambda g: walks.downstream_nodes("dataset:s3://lake:raw")),
    (marquez, "lineage_graph", lambda g: marquez.lineage_graph(ORDERS, depth=5, full_job_io=True)["graph"]),
    (marquez, "lineage_graph", lambda g: marquez.lineage_graph("dataset:s3://lake:unseen")["graph"]),
    (marquez, "lineage_graph_bytes", lambda g: marquez.lineage_graph_bytes(ORDERS, direction="upstream")),
    (
        marquez,
        "graph_from_walk",
        lambda g: marquez.graph_from_walk(walks.walk(g["node_ids"][ORDERS], depth=5)),
    ),
    (marquez, "run_data", lambda g: marquez.run_data(Run.objects.select_related("job").get(run_id=RUN_ID))),
    (marquez, "iso", lambda g: marquez.iso(timezone.now())),
    (impact, "impact", lambda g: impact.impact("dataset:s3://lake:raw")["notify"]),
    (paths, "path_between", lambda g: paths.path_between("dataset:s3://lake:raw", MODEL)["found"]),
    (
        column_lineage,
        "column_lineage",
        lambda g: column_lineage.column_lineage("datasetField:s3://lake:totals:total", with_downstream=True)[
            "graph"
        ],
    ),
    (column_lineage, "column_lineage", lambda g: column_lineage.column_lineage(ORDERS)["graph"]),
    (history, "runs_of_dataset", lambda g: list(history.runs_of_dataset(selectors.node_by_key(ORDERS)))),
    (history, "run_detail", lambda g: history.run_detail(RUN_ID)["outputs"]),
    (history, "events", lambda g: list(history.events(job="job:pipelines:report", event_type="complete"))),
    (history, "dataset_facets", lambda g: history.dataset_facets(g["orders"].pk)["dataQualityMetrics"]),
    (history, "backlog", lambda g: history.backlog()["pending"]),
    (layout, "to_digraph", lambda g: layout.to_digraph(_graph_of(g)).number_of_edges()),
    (
        layout,
        "layout_graph",
        lambda g: layout.layout_graph(_graph_of(g), focus=ORDERS, restricted={ORDERS}).nodes,
    ),
    (layout, "svg", lambda g: layout.svg(layout.layout_graph(_graph_of(g), restricted={ORDERS}))),
    (permissions, "owner_usernames", lambda g: permissions.owner_usernames({"owners": [{"name": "user:a"}]})),
    (
        permissions,
        "guarded_edges",
        lambda g: permissions.guarded_edges(
            g["report"], {(g["node_ids"][ORDERS], g["report"].pk)}, g["outsider"]
        ),
    ),
    (
        permissions,
        "may_rewrite_dataset",
        lambda g: not permissions.may_rewrite_dataset(g["orders"], g["outsider"]),
    ),
    (
        permissions,
        "may_name_owner",
        lambda g: permissions.may_name_owner(g["orders"], g["steward"], "olivia_owner", registered_now=False),
    ),
    (
        permissions,
        "may_declare_model",
        lambda g: not permissions.may_declare_model(selectors.node_by_key(ORDERS), g["outsider"]),
    ),
]


@pytest.fixture
def graph(settings, owner, steward, outsider):
    """raw → ingest → orders (restricted, in the catalog) → report → totals (column lineage) → train →
    the churn model; then, deferred, one more event left pending."""
    orders = catalog_services.create_dataset(
        actor=owner,
        namespace="s3://lake",
        name="orders",
        sensitivity="restricted",
        stewards=[steward.username],
    )
    # In the catalog, named by no event yet: its graph is the one node.
    catalog_services.create_dataset(actor=owner, namespace="s3://lake", name="unseen")
    schema = facet(fields=[{"name": "id", "type": "INT"}, {"name": "amount", "type": "DOUBLE"}])
    lineage = facet(
        fields={"total": {"inputFields": [{"namespace": "s3://lake", "name": "orders", "field": "amount"}]}}
    )
    quality = {"dataQualityMetrics": facet(rowCount=10, columnMetrics={})}
    model = {
        "datasetType": facet(datasetType="MODEL"),
        "ownership": facet(owners=[{"name": "user:olivia_owner"}]),
    }
    for body in (
        run_event(
            "ingest",
            run_id=RUN_ID,
            inputs=[ds("s3://lake", "raw")],
            outputs=[ds("s3://lake", "orders", schema=schema)],
        ),
        run_event(
            "report",
            inputs=[{**ds("s3://lake", "orders"), "inputFacets": quality}],
            outputs=[ds("s3://lake", "totals", columnLineage=lineage)],
        ),
        run_event(
            "train", inputs=[ds("s3://lake", "totals")], outputs=[ds("mlflow://prod", "churn", **model)]
        ),
    ):
        ingest.ingest_event(body=body, actor=owner)
    settings.LINEAGE_APPLY = "deferred"
    ingest.ingest_event(body=run_event("later", inputs=[ds("s3://lake", "totals")]), actor=owner)
    assert _pending() == 1
    orders.refresh_from_db()
    return {
        "orders": orders,
        "report": Node.objects.get(key="job:pipelines:report"),
        "node_ids": dict(Node.objects.values_list("key", "pk")),
        "outsider": outsider,
        "steward": steward,
    }


def _pending() -> int:
    return LineageEvent.objects.filter(state=EventState.PENDING).count()


def test_the_table_names_every_public_read():
    for module in READ_MODULES:
        listed = {name for m, name, _call in READS if m is module}
        assert listed == public_functions(module), module.__name__


def test_every_public_read_only_reads_and_leaves_the_pending_event_pending(graph):
    wrote, empty = [], []
    for module, name, call in READS:
        try:
            with no_writes():
                answer = call(graph)
        except WriteInRead as exc:
            wrote.append(f"{module.__name__}.{name}: {exc}")
            continue
        if not answer:
            empty.append(f"{module.__name__}.{name}")
    assert not wrote, wrote
    assert not empty, f"no real work done (empty answer): {empty}"
    assert _pending() == 1


def test_the_pending_event_folds_so_a_read_that_folded_would_have_written(graph):
    assert fold.catch_up_for_read() == 0
    assert _pending() == 0
