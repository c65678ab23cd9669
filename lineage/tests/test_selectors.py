"""Graph reads: walks, cycles, upstream_datasets (governance's contract), impact, paths, history."""

import uuid

import pytest

from catalog import services as catalog_services
from catalog import versions as catalog_versions
from lineage import fold, history, impact, ingest, marquez, paths, selectors, training, walks
from lineage.tests.events import ds, run_event

pytestmark = pytest.mark.django_db


def emit(job, inputs, outputs, **kw):
    body = run_event(
        job, inputs=[ds("s3://lake", n) for n in inputs], outputs=[ds("s3://lake", n) for n in outputs], **kw
    )
    return ingest.ingest_event(body=body)[0]


def d(name):
    return f"dataset:s3://lake:{name}"


@pytest.fixture
def chain():
    """raw → clean → features → {train, report}; restricted_src → clean too."""
    emit("clean", ["raw", "restricted_src"], ["clean"])
    emit("featurize", ["clean"], ["features"])
    emit("train_prep", ["features"], ["train"])
    emit("report", ["features"], ["report"])


def test_upstream_datasets_nearest_first_through_jobs(chain):
    up = walks.upstream_datasets([d("train"), d("raw"), "dataset:nowhere:x"])
    assert up[d("train")][:2] == [d("features"), d("clean")]
    assert set(up[d("train")][2:]) == {d("raw"), d("restricted_src")}
    assert up[d("raw")] == []
    assert up["dataset:nowhere:x"] == []
    assert walks.upstream_datasets([]) == {}
    # depth counts datasets.
    assert walks.upstream_datasets([d("train")], depth=1) == {d("train"): [d("features")]}


def test_upstream_datasets_is_one_query(chain, django_assert_num_queries):
    with django_assert_num_queries(1):
        walks.upstream_datasets([d("train"), d("report"), d("clean")])


def test_cycle_terminates():
    # A job that reads and writes the same table, and a longer loop through two jobs.
    emit("dedupe", ["events"], ["events"])
    emit("a_to_b", ["events"], ["b"])
    emit("b_to_events", ["b"], ["events"])
    up = walks.upstream_datasets([d("events")], depth=50)
    assert up[d("events")] == [d("b")]
    graph = marquez.lineage_graph(d("events"), depth=20)
    ids = {n["id"] for n in graph["graph"]}
    assert ids == {
        d("events"),
        d("b"),
        "job:pipelines:dedupe",
        "job:pipelines:a_to_b",
        "job:pipelines:b_to_events",
    }
    dedupe = next(n for n in graph["graph"] if n["id"] == "job:pipelines:dedupe")
    assert dedupe["inEdges"] == [{"origin": d("events"), "destination": "job:pipelines:dedupe"}]
    assert dedupe["outEdges"] == [{"origin": "job:pipelines:dedupe", "destination": d("events")}]
    assert paths.path_between(d("b"), d("events"))["path"] == [
        d("b"),
        "job:pipelines:b_to_events",
        d("events"),
    ]


def test_direction_and_depth(chain):
    down = {n["id"] for n in marquez.lineage_graph(d("clean"), depth=2, direction="downstream")["graph"]}
    assert down == {d("clean"), "job:pipelines:featurize", d("features")}
    up = {n["id"] for n in marquez.lineage_graph(d("clean"), depth=20, direction="upstream")["graph"]}
    assert up == {d("clean"), "job:pipelines:clean", d("raw"), d("restricted_src")}
    both = {n["id"] for n in marquez.lineage_graph(d("clean"), depth=20)["graph"]}
    assert both == up | {
        n
        for n in marquez.lineage_graph(d("clean"), depth=20, direction="downstream")["graph"]
        for n in [n["id"]]
    }
    assert marquez.lineage_graph("dataset:s3://lake:unknown") is None
    assert {n[0] for n in walks.downstream_nodes(d("features"), depth=2)} == {
        "job:pipelines:train_prep",
        "job:pipelines:report",
        d("train"),
        d("report"),
    }


def test_current_graph_follows_the_latest_run_history_keeps_all():
    first = emit("etl", ["old_source"], ["out"], event_time="2026-01-01T00:00:00Z")
    second = emit("etl", ["new_source"], ["out"], event_time="2026-01-02T00:00:00Z")
    # A late event of the older run does not change the current graph.
    emit(
        "etl",
        ["old_source"],
        ["out"],
        event_time="2026-01-01T00:10:00Z",
        run_id=first.run_id,
        eventType="OTHER",
    )
    assert walks.upstream_datasets([d("out")])[d("out")] == [d("new_source")]
    node = selectors.node_by_key(d("out"))
    runs = {io.run.run_id for io in history.runs_of_dataset(node, direction="output")}
    assert runs == {first.run_id, second.run_id}
    assert history.run_detail(first.run_id)["inputs"][0]["id"] == d("old_source")


def test_versions_matched_by_number_and_checksum(owner, tmp_path):
    dataset = catalog_services.create_dataset(actor=owner, namespace="s3://lake", name="versioned")
    f = tmp_path / "v.csv"
    f.write_text("a,b\n1,2\n")
    from django.core.files.uploadedfile import SimpleUploadedFile

    version, _ = catalog_versions.add_version_from_upload(
        actor=owner, dataset=dataset, upload=SimpleUploadedFile("v.csv", f.read_bytes())
    )
    body = run_event(
        "reader",
        inputs=[
            {
                "namespace": "s3://lake",
                "name": "versioned",
                "facets": {"version": {"datasetVersion": version.checksum}},
            }
        ],
    )
    event, _ = ingest.ingest_event(body=body)
    body2 = run_event(
        "reader2",
        inputs=[
            {"namespace": "s3://lake", "name": "versioned", "facets": {"version": {"datasetVersion": "1"}}}
        ],
    )
    event2, _ = ingest.ingest_event(body=body2)
    node = selectors.node_by_key(d("versioned"))
    readers = {io.run.run_id for io in history.runs_of_dataset(node, version=1)}
    assert readers == {event.run_id, event2.run_id}
    assert history.runs_of_dataset(node, version=2).count() == 0


def test_impact_groups_by_distance_with_owners(chain, owner, steward, make_user):
    from catalog.selectors import resolve_dataset_ref

    train = resolve_dataset_ref(d("train"))
    catalog_services.update_dataset(
        actor=None, dataset=train, check=False, owner=owner.username, stewards=[steward.username]
    )
    training.record_training_run(
        model_namespace="mlflow://models",
        model_name="churn",
        model_version="1",
        inputs=[(train, None)],
        run_id=None,
        actor=make_user("mallory_ml"),
    )
    answer = impact.impact(d("features"))
    by_distance = {lvl["distance"]: [n["id"] for n in lvl["nodes"]] for lvl in answer["levels"]}
    assert by_distance[1] == ["job:pipelines:report", "job:pipelines:train_prep"]
    assert by_distance[2] == [d("report"), d("train")]
    assert by_distance[3] == ["job:mlflow://models:train:churn"]
    assert by_distance[4] == ["model:mlflow://models:churn"]
    train_entry = next(n for lvl in answer["levels"] for n in lvl["nodes"] if n["id"] == d("train"))
    assert train_entry["owners"] == [owner.username] and train_entry["stewards"] == [steward.username]
    model_entry = answer["levels"][-1]["nodes"][0]
    assert model_entry["type"] == "MODEL" and model_entry["owners"] == ["mallory_ml"]
    assert answer["notify"] == sorted([owner.username, steward.username, "mallory_ml"])


def test_record_training_run_is_idempotent(chain, owner):
    from catalog.selectors import resolve_dataset_ref
    from lineage.models import LineageEvent, Run

    train = resolve_dataset_ref(d("train"))
    run_id = str(uuid.uuid4())
    kwargs = dict(
        model_namespace="models", model_name="m", model_version="2", inputs=[(train, None)], actor=owner
    )
    key = training.record_training_run(run_id=run_id, **kwargs)
    assert key == "model:models:m"
    events = LineageEvent.objects.count()
    assert training.record_training_run(run_id=run_id, **kwargs) == key
    assert LineageEvent.objects.count() == events
    assert Run.objects.get(run_id=run_id).job.key == "job:models:train:m"
    assert training.record_training_run(run_id=None, **kwargs) == key
    assert training.record_training_run(run_id=None, **kwargs) == key
    assert Run.objects.filter(job__key="job:models:train:m").count() == 2
    assert walks.upstream_datasets([d("train")])  # untouched
    assert "model:models:m" in {
        n["id"] for n in marquez.lineage_graph(d("train"), direction="downstream")["graph"]
    }
    assert selectors.node_exists("model:models:m") and not selectors.node_exists("model:models:zzz")


def test_rebuild_from_the_record(chain):
    from lineage.models import Edge, Node

    before = marquez.lineage_graph(d("features"))
    edges = Edge.objects.count()
    assert fold.rebuild_graph() == 4
    assert Edge.objects.count() == edges
    after = marquez.lineage_graph(d("features"))
    strip = lambda g: sorted((n["id"], n["type"], str(n["inEdges"]), str(n["outEdges"])) for n in g["graph"])  # noqa: E731
    assert strip(before) == strip(after)
    assert Node.objects.filter(kind="DATASET", dataset_id__isnull=True).count() == 0


def test_job_data_lists_its_whole_io_edges_only_inside_the_answer():
    emit("join", ["left", "right"], ["joined"])
    default = {n["id"]: n for n in marquez.lineage_graph(d("left"), direction="downstream")["graph"]}
    assert default["job:pipelines:join"]["data"]["inputs"] == [{"namespace": "s3://lake", "name": "left"}]
    full = marquez.lineage_graph(d("left"), direction="downstream", full_job_io=True)
    graph = {n["id"]: n for n in full["graph"]}
    assert set(graph) == {d("left"), "job:pipelines:join", d("joined")}
    job = graph["job:pipelines:join"]
    # As Marquez: the job's data names all its inputs, the edges stay within the answer.
    assert job["data"]["inputs"] == [
        {"namespace": "s3://lake", "name": "left"},
        {"namespace": "s3://lake", "name": "right"},
    ]
    assert job["inEdges"] == [{"origin": d("left"), "destination": "job:pipelines:join"}]
