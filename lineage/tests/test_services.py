"""Writes of lineage beyond the HTTP layer: one node per namespace + name (models included), who may
rewrite a dataset's columns through a schema facet, and registering many datasets at once."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from catalog import columns as catalog_columns
from catalog import selectors as catalog_selectors
from catalog import services as catalog_services
from catalog import signals as catalog_signals
from catalog import versions as catalog_versions
from catalog.models import Dataset
from catalog.search import search
from lineage import fold, impact, ingest, marquez, selectors, walks
from lineage.models import Node, NodeKind
from lineage.tests.events import ds, facet, run_event

pytestmark = pytest.mark.django_db

MODEL = {"datasetType": facet(datasetType="MODEL")}


def emit(job, inputs, outputs, actor=None, **kw):
    return ingest.ingest_event(body=run_event(job, inputs=inputs, outputs=outputs, **kw), actor=actor)[0]


# ---------------------------------------------------------------------------------------------
# F5: one namespace + name is one node


def test_model_read_without_facet_is_the_model_node():
    emit("train", [ds("s3://lake", "features")], [ds("mlflow://prod", "churn", **MODEL)])
    emit("score", [ds("mlflow://prod", "churn"), ds("s3://lake", "features")], [ds("s3://lake", "scores")])

    assert Node.objects.filter(namespace="mlflow://prod", name="churn").count() == 1
    assert not Dataset.objects.filter(namespace="mlflow://prod", name="churn").exists()
    graph = {n["id"]: n for n in marquez.lineage_graph("model:mlflow://prod:churn", depth=5)["graph"]}
    model = graph["model:mlflow://prod:churn"]
    assert model["type"] == "MODEL"
    assert [e["destination"] for e in model["outEdges"]] == ["job:pipelines:score"]
    assert [e["origin"] for e in model["inEdges"]] == ["job:pipelines:train"]
    assert "dataset:s3://lake:scores" in graph
    # Asked by its dataset spelling, it is the same node.
    same = marquez.lineage_graph("dataset:mlflow://prod:churn", depth=5)
    assert {n["id"] for n in same["graph"]} == set(graph)
    assert selectors.node_exists("dataset:mlflow://prod:churn")
    impacted = impact.impact("dataset:mlflow://prod:churn")
    assert "dataset:s3://lake:scores" in [n["id"] for lvl in impacted["levels"] for n in lvl["nodes"]]


def test_dataset_later_declared_model_becomes_the_model_node():
    emit("score", [ds("mlflow://prod", "churn")], [ds("s3://lake", "scores")])
    before = Node.objects.get(key="dataset:mlflow://prod:churn")
    emit("train", [ds("s3://lake", "features")], [ds("mlflow://prod", "churn", **MODEL)])

    nodes = Node.objects.filter(namespace="mlflow://prod", name="churn")
    assert [(n.pk, n.kind, n.key) for n in nodes] == [
        (before.pk, NodeKind.MODEL, "model:mlflow://prod:churn")
    ]
    graph = {n["id"]: n for n in marquez.lineage_graph("model:mlflow://prod:churn", depth=5)["graph"]}
    model = graph["model:mlflow://prod:churn"]
    assert [e["destination"] for e in model["outEdges"]] == ["job:pipelines:score"]
    assert [e["origin"] for e in model["inEdges"]] == ["job:pipelines:train"]


def test_clearance_upstream_sees_through_the_model():
    """Predictions of a model trained on restricted data inherit the model's training data."""
    emit(
        "train",
        [ds("postgres://wh:5432", "clinical.diabetes"), ds("s3://lake", "features")],
        [ds("mlflow://qa", "readmission", **MODEL)],
    )
    emit("score", [ds("mlflow://qa", "readmission")], [ds("s3://qa", "scores/readmission")])

    up = walks.upstream_datasets(["dataset:s3://qa:scores/readmission", "dataset:mlflow://qa:readmission"])
    assert set(up["dataset:s3://qa:scores/readmission"]) == {
        "dataset:postgres://wh:5432:clinical.diabetes",
        "dataset:s3://lake:features",
    }
    assert set(up["dataset:mlflow://qa:readmission"]) == set(up["dataset:s3://qa:scores/readmission"])


# ---------------------------------------------------------------------------------------------
# F13: a schema facet rewrites a curated dataset's columns only for those who may change it

SCHEMA = {"schema": facet(fields=[{"name": "only_col", "type": "int"}])}


def columns(dataset):
    return sorted((c.name, c.present) for c in dataset.columns.all())


@pytest.fixture
def curated(owner, steward):
    dataset = catalog_services.create_dataset(
        actor=owner, namespace="postgres://wh:5432", name="clinical.diabetes", stewards=[steward.username]
    )
    catalog_columns.set_columns_from_schema(dataset=dataset, columns=[{"name": "patient_id", "type": "str"}])
    return dataset


def test_outsider_schema_facet_kept_but_not_applied_to_curated_columns(curated, outsider):
    emit("r2.schema", [], [ds("postgres://wh:5432", "clinical.diabetes", **SCHEMA)], actor=outsider)

    assert columns(curated) == [("patient_id", True)]
    node = Node.objects.get(key="dataset:postgres://wh:5432:clinical.diabetes")
    assert node.facets["schema"]["fields"] == [{"name": "only_col", "type": "int"}]


@pytest.mark.parametrize("who", ["owner", "steward", "staff"])
def test_owner_steward_staff_schema_facet_applied(curated, who, request):
    emit(
        "load",
        [],
        [ds("postgres://wh:5432", "clinical.diabetes", **SCHEMA)],
        actor=request.getfixturevalue(who),
    )
    assert columns(curated) == [("only_col", True), ("patient_id", False)]


def test_lineage_found_dataset_takes_anyones_schema_until_it_has_versions(outsider, staff):
    emit("load", [], [ds("s3://lake", "events", **SCHEMA)], actor=outsider)
    dataset = Dataset.objects.get(namespace="s3://lake", name="events")
    assert columns(dataset) == [("only_col", True)]

    upload = SimpleUploadedFile("e.csv", b"only_col,other\n1,2\n", content_type="text/csv")
    catalog_versions.add_version_from_upload(actor=staff, dataset=dataset, upload=upload)
    other = {"schema": facet(fields=[{"name": "rewritten", "type": "int"}])}
    emit("load", [], [ds("s3://lake", "events", **other)], actor=outsider)
    assert ("rewritten", True) not in columns(dataset)


# ---------------------------------------------------------------------------------------------
# F25: many new datasets at once


def test_ensure_datasets_registers_in_bulk_indexes_and_signals(django_capture_on_commit_callbacks):
    existing = catalog_services.ensure_dataset(namespace="s3://bulk", name="u0")[0]
    created = []

    def receiver(sender, dataset, via=None, **kw):
        created.append((dataset.name, via))

    catalog_signals.dataset_created.connect(receiver, dispatch_uid="test-ensure-datasets")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            pairs = [("s3://bulk", f"u{i}") for i in range(300)]
            found = catalog_services.ensure_datasets(pairs + pairs[:5])
    finally:
        catalog_signals.dataset_created.disconnect(dispatch_uid="test-ensure-datasets")

    assert set(found) == set(pairs)
    assert found[("s3://bulk", "u0")].pk == existing.pk
    assert sorted(created) == sorted((f"u{i}", "lineage") for i in range(1, 300))
    assert Dataset.objects.filter(namespace="s3://bulk", origin="lineage").count() == 300
    assert [d.name for d in search(Dataset.objects.all(), "u123")] == ["u123"]
    assert catalog_services.ensure_datasets(pairs) == found  # nothing new the second time


def test_ensure_datasets_leaves_out_a_pair_whose_urn_is_taken():
    taken = catalog_services.ensure_dataset(namespace="file:///tmp", name="a:b:c")[0]
    found = catalog_services.ensure_datasets([("file:///tmp:a", "b:c"), ("file:///tmp", "x")])
    assert list(found) == [("file:///tmp", "x")]
    assert catalog_selectors.dataset_by_urn("dataset:file:///tmp:a:b:c").pk == taken.pk


def test_large_event_registers_every_dataset_once(outsider):
    outputs = [ds("s3://bulk", f"t{i}") for i in range(400)]
    emit("bulk", [ds("s3://bulk", "t0")], outputs, actor=outsider)
    assert Dataset.objects.filter(namespace="s3://bulk").count() == 400
    assert Node.objects.filter(namespace="s3://bulk", dataset_id__isnull=False).count() == 400
    graph = marquez.lineage_graph("job:pipelines:bulk", depth=1)["graph"]
    assert len(graph) == 401


# ---------------------------------------------------------------------------------------------
# The common small event: few statements


def test_steady_state_run_costs_few_statements(django_assert_max_num_queries):
    """A scheduled job's next run (datasets and job already known): START and COMPLETE together in
    17 statements, the test's savepoints included (was 20: the job with its latest run's time, the
    run with its IO, and the job's edges with whether it has column lineage are each one read)."""
    inputs = [ds("postgres://wh:5432", f"public.t{i}") for i in range(3)]
    outputs = [ds("s3://lake", "out/job.parquet")]
    emit("job", inputs, outputs, event_type="COMPLETE")
    run_id = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
    with django_assert_max_num_queries(17):
        emit("job", inputs, outputs, event_type="START", run_id=run_id, event_time="2026-01-11T10:00:00Z")
        emit("job", inputs, outputs, event_type="COMPLETE", run_id=run_id, event_time="2026-01-11T10:05:00Z")
    graph = {n["id"]: n for n in marquez.lineage_graph("job:pipelines:job", depth=1)["graph"]}
    assert graph["job:pipelines:job"]["data"]["latestRun"]["id"] == run_id
    assert graph["job:pipelines:job"]["data"]["latestRun"]["state"] == "COMPLETED"
    assert len(graph) == 5


def test_deferred_event_is_judged_as_its_poster(
    curated, outsider, settings, django_capture_on_commit_callbacks
):
    """A large event applied later by the worker has the rights of the user who posted it."""
    settings.LINEAGE_SYNC_MAX_NEW_DATASETS = 0
    with django_capture_on_commit_callbacks(execute=True):
        event = emit(
            "r2.schema",
            [ds("s3://lake", "new")],
            [ds("postgres://wh:5432", "clinical.diabetes", **SCHEMA)],
            actor=outsider,
        )
    assert event.deferred
    assert Node.objects.filter(key="dataset:s3://lake:new").exists()  # applied by the (eager) worker
    assert columns(curated) == [("patient_id", True)]


def test_rebuild_merges_a_dataset_and_a_model_node_of_one_name():
    """Graphs recorded before one-node-per-name may hold both spellings: a rebuild merges them."""
    emit("train", [ds("s3://lake", "features")], [ds("mlflow://prod", "churn", **MODEL)])
    emit("score", [ds("mlflow://prod", "churn")], [ds("s3://lake", "scores")])
    Node.objects.create(
        kind=NodeKind.DATASET, key="dataset:mlflow://prod:churn", namespace="mlflow://prod", name="churn"
    )
    fold.rebuild_graph()
    [node] = Node.objects.filter(namespace="mlflow://prod", name="churn")
    assert node.kind == NodeKind.MODEL
    assert walks.upstream_datasets(["dataset:s3://lake:scores"])["dataset:s3://lake:scores"] == [
        "dataset:s3://lake:features"
    ]
