"""LINEAGE_APPLY=deferred: events are stored pending and answered at once, the folder applies them in
arrival order through the same code as sync mode, every lineage endpoint folds what is pending before
it reads (the reads themselves never do), and an event the graph refuses is recorded as failed
without holding up the others."""

import json
import uuid
from unittest import mock

import pytest
from django.core.cache import cache
from django.db import OperationalError

from catalog.models import Dataset
from lineage import apply, fold, history, impact, ingest, paths, selectors, training, walks
from lineage.models import ColumnEdge, Edge, EventState, LineageEvent, Node, Run, RunIO
from lineage.tests.events import PRODUCER, ds, facet, run_event

pytestmark = pytest.mark.django_db
URL = "/api/v1/lineage"


@pytest.fixture
def deferred(settings):
    settings.LINEAGE_APPLY = "deferred"
    return settings


@pytest.fixture
def client(owner, api_client_for):
    return api_client_for(owner, scheme="Bearer")


def post(client, body):
    return client.post(URL, json.dumps(body), content_type="application/json")


def pending() -> int:
    return LineageEvent.objects.filter(state=EventState.PENDING).count()


def test_event_is_stored_pending_and_a_read_folds_it(deferred, client):
    body = run_event("load", inputs=[ds("s3://lake", "raw")], outputs=[ds("s3://lake", "clean")])
    r = post(client, body)

    assert r.status_code == 201, r.content
    assert r.json()["created"] is True
    event = LineageEvent.objects.get()
    assert (event.state, event.deferred, event.body) == (EventState.PENDING, True, body)
    assert not Node.objects.exists()  # nothing folded yet: the request only stored it

    graph = client.get(URL, {"nodeId": "dataset:s3://lake:clean", "depth": 2})
    assert graph.status_code == 200
    assert {n["id"] for n in graph.json()["graph"]} == {
        "dataset:s3://lake:raw",
        "job:pipelines:load",
        "dataset:s3://lake:clean",
    }
    assert pending() == 0
    assert LineageEvent.objects.get().state == EventState.APPLIED


RUN_ID = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"


@pytest.mark.parametrize(
    ("path", "params", "seen"),
    [
        (URL, {"nodeId": "dataset:s3://lake:clean", "depth": 2}, lambda a: len(a["graph"]) == 3),
        ("/api/v1/column-lineage", {"nodeId": "dataset:s3://lake:clean"}, lambda a: a == {"graph": []}),
        (f"{URL}/impact", {"nodeId": "dataset:s3://lake:raw"}, lambda a: a["count"] == 2),
        (
            f"{URL}/path",
            {"from": "dataset:s3://lake:raw", "to": "dataset:s3://lake:clean"},
            lambda a: a["found"],
        ),
        (f"{URL}/runs/{RUN_ID}", {}, lambda a: a["outputs"]),
        (f"{URL}/datasets/dataset:s3://lake:clean/runs", {}, lambda a: a["results"]),
    ],
    ids=["lineage", "column_lineage", "impact", "path", "run_detail", "dataset_runs"],
)
def test_every_read_endpoint_sees_what_was_posted_before_it(deferred, client, path, params, seen):
    body = run_event(
        "load", run_id=RUN_ID, inputs=[ds("s3://lake", "raw")], outputs=[ds("s3://lake", "clean")]
    )
    ingest.ingest_event(body=body)
    assert pending() == 1
    r = client.get(path, params)
    assert r.status_code == 200, r.content
    assert seen(r.json())
    assert pending() == 0 and "X-Lineage-Pending" not in r


def test_the_lineage_page_sees_what_was_posted_before_it(deferred, owner, client):
    body = run_event("load", inputs=[ds("s3://lake", "raw")], outputs=[ds("s3://lake", "clean")])
    ingest.ingest_event(body=body)
    client.force_login(owner)
    r = client.get("/lineage/", {"node": "dataset:s3://lake:clean"})
    assert r.status_code == 200
    assert pending() == 0 and "X-Lineage-Pending" not in r
    assert b"job:pipelines:load" in r.content


@pytest.mark.parametrize(
    "read",
    [
        lambda: walks.upstream_datasets(["dataset:s3://lake:clean"])["dataset:s3://lake:clean"],
        lambda: (impact.impact("dataset:s3://lake:raw") or {}).get("levels"),
        lambda: (paths.path_between("dataset:s3://lake:raw", "dataset:s3://lake:clean") or {}).get("found"),
        lambda: (history.run_detail(RUN_ID) or {}).get("outputs"),
        lambda: selectors.node_exists("job:pipelines:load"),
        lambda: list(history.runs_of_dataset(selectors.dataset_node_for("dataset:s3://lake:clean"))),
        lambda: walks.downstream_nodes("dataset:s3://lake:raw"),
    ],
    ids=["upstream_datasets", "impact", "path", "run_detail", "node_exists", "dataset_runs", "downstream"],
)
def test_reads_fold_nothing_and_see_all_after_the_catch_up(deferred, read):
    body = run_event(
        "load", run_id=RUN_ID, inputs=[ds("s3://lake", "raw")], outputs=[ds("s3://lake", "clean")]
    )
    ingest.ingest_event(body=body)
    assert not read()  # the graph as folded so far: nothing yet
    assert pending() == 1
    assert fold.catch_up_for_read() == 0
    assert pending() == 0
    assert read()


def test_nothing_pending_costs_one_probe(deferred, django_assert_num_queries):
    ingest.ingest_event(body=run_event("load", outputs=[ds("s3://lake", "clean")]))
    fold.catch_up()
    with django_assert_num_queries(1):  # the probe of the partial index
        fold.catch_up_for_read()
    with django_assert_num_queries(1):  # the walk itself
        walks.upstream_datasets(["dataset:s3://lake:clean"])


def test_start_and_complete_in_one_batch_in_either_order(deferred):
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    for run_id, order in ((first, ("START", "COMPLETE")), (second, ("COMPLETE", "START"))):
        for event_type in order:
            minute = "00" if event_type == "START" else "05"
            ingest.ingest_event(
                body=run_event(
                    "job",
                    event_type=event_type,
                    run_id=run_id,
                    inputs=[ds("s3://lake", "in")],
                    event_time=f"2026-01-1{1 if run_id == first else 2}T10:{minute}:00Z",
                )
            )
    assert pending() == 4
    assert fold.fold_pending() == 4

    runs = {r.run_id: r for r in Run.objects.all()}
    for run_id, day in ((first, 11), (second, 12)):
        run = runs[run_id]
        assert run.state == "COMPLETED"
        assert (run.started_at.day, run.started_at.minute, run.ended_at.minute) == (day, 0, 5)
    assert Node.objects.get(key="job:pipelines:job").latest_run.run_id == second


def test_refused_event_is_marked_failed_and_the_others_are_folded(deferred, client, staff, api_client_for):
    run_id = str(uuid.uuid4())
    assert post(client, run_event("a", run_id=run_id, outputs=[ds("s3://lake", "a")])).status_code == 201
    # Valid OpenLineage, but its run id belongs to job "a": sync mode answers 400; deferred mode has
    # answered 201 already, so the graph records the refusal instead.
    assert post(client, run_event("b", run_id=run_id, outputs=[ds("s3://lake", "b")])).status_code == 201
    assert post(client, run_event("c", outputs=[ds("s3://lake", "c")])).status_code == 201

    assert fold.fold_pending() == 3
    states = dict(LineageEvent.objects.values_list("job_key", "state"))
    assert states == {
        "job:pipelines:a": EventState.APPLIED,
        "job:pipelines:b": EventState.FAILED,
        "job:pipelines:c": EventState.APPLIED,
    }
    failed = LineageEvent.objects.get(state=EventState.FAILED)
    assert "run.runId" in failed.error and "another job" in failed.error
    assert not Node.objects.filter(key="job:pipelines:b").exists()  # nothing of it stayed
    assert Node.objects.filter(key="job:pipelines:c").exists()
    assert fold.fold_pending() == 0  # never tried again

    staff_client = api_client_for(staff)
    listed = staff_client.get(f"{URL}/events", {"state": "failed"}).json()["results"]
    assert [(e["id"], e["state"], e["error"]) for e in listed] == [(failed.pk, "failed", failed.error)]
    assert staff_client.get(f"{URL}/events", {"state": "bogus"}).status_code == 400
    backlog = staff_client.get(f"{URL}/backlog").json()
    assert (backlog["mode"], backlog["pending"], backlog["failed"]) == ("deferred", 0, 1)
    assert backlog["oldestPendingReceivedAt"] is None


def test_nodes_created_by_a_failed_event_are_not_reused_in_its_batch(deferred):
    """The fold remembers a batch's nodes; an event that fails after creating one rolls it back,
    and the next event naming the same dataset must create it again, not point at the lost row."""
    ingest.ingest_event(body=run_event("a", outputs=[ds("s3://lake", "fresh")]))
    ingest.ingest_event(body=run_event("b", outputs=[ds("s3://lake", "fresh")]))
    real = apply._set_current_edges

    def fail_for_a(job, io, *rest):
        if job.key == "job:pipelines:a":
            raise RuntimeError("boom")
        return real(job, io, *rest)

    with mock.patch.object(apply, "_set_current_edges", fail_for_a):
        assert fold.fold_pending() == 2
    states = dict(LineageEvent.objects.values_list("job_key", "state"))
    assert states == {"job:pipelines:a": EventState.FAILED, "job:pipelines:b": EventState.APPLIED}
    assert LineageEvent.objects.get(job_key="job:pipelines:a").error == "RuntimeError: boom"
    fresh = Node.objects.get(key="dataset:s3://lake:fresh")
    job_b = Node.objects.get(key="job:pipelines:b")
    assert set(Edge.objects.values_list("src", "dst")) == {(job_b.pk, fresh.pk)}
    assert RunIO.objects.get().node_id == fresh.pk


def test_backlog_counts_pending_events(deferred, client):
    post(client, run_event("a"))
    post(client, run_event("b"))
    answer = client.get(f"{URL}/backlog").json()
    assert (answer["pending"], answer["failed"]) == (2, 0)
    assert answer["oldestPendingReceivedAt"].endswith("Z")
    assert pending() == 2  # looking at the backlog does not fold it


def test_retry_of_a_pending_event_changes_nothing(deferred, client):
    body = run_event("j", inputs=[ds("s3://lake", "a")], outputs=[ds("s3://lake", "b")])
    first = post(client, body)
    again = post(client, body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert LineageEvent.objects.count() == 1
    fold.fold_pending()
    assert post(client, body).status_code == 200  # and once folded
    assert (LineageEvent.objects.count(), Run.objects.count(), pending()) == (1, 1, 0)


def test_refused_body_stores_nothing_in_deferred_mode_either(deferred, client):
    body = run_event("j")
    del body["run"]["runId"]
    r = post(client, body)
    assert r.status_code == 400
    assert "run.runId" in r.json()["errors"]
    assert not LineageEvent.objects.exists()


def test_a_transient_error_rolls_the_batch_back_and_loses_nothing(deferred):
    """What a worker killed or disconnected mid-batch leaves: the batch's transaction never commits,
    so every event of it is still pending and the next fold applies them all."""
    for i in range(5):
        ingest.ingest_event(body=run_event(f"job_{i}", outputs=[ds("s3://lake", f"t{i}")]))
    real_apply = apply.apply_event
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OperationalError("server closed the connection unexpectedly")
        return real_apply(*args, **kwargs)

    with mock.patch.object(apply, "apply_event", flaky), pytest.raises(OperationalError):
        fold.fold_pending()
    assert pending() == 5
    assert not Node.objects.filter(kind="JOB").exists()
    assert not LineageEvent.objects.filter(state=EventState.FAILED).exists()

    assert fold.fold_pending() == 5
    assert Node.objects.filter(kind="JOB").count() == 5


def test_a_burst_queues_one_fold_task(deferred, client, django_capture_on_commit_callbacks, monkeypatch):
    cache.delete(fold.FOLD_QUEUED)
    monkeypatch.setattr(fold, "_last_refused", float("-inf"))
    with mock.patch("lineage.tasks.fold_pending.delay") as delay:
        with django_capture_on_commit_callbacks(execute=True):
            for i in range(5):
                assert post(client, run_event(f"j{i}")).status_code == 201
    assert delay.call_count == 1
    assert pending() == 5
    cache.delete(fold.FOLD_QUEUED)


def test_the_fold_task_folds_and_clears_the_flag(deferred):
    from lineage.tasks import fold_pending

    ingest.ingest_event(body=run_event("j", outputs=[ds("s3://lake", "t")]))
    cache.set(fold.FOLD_QUEUED, 1)
    assert fold_pending() == 1
    assert pending() == 0
    assert cache.get(fold.FOLD_QUEUED) is None


def test_model_registration_sees_a_training_run_posted_before_it(deferred, owner):
    """record_training_run reads runs: a pending OpenLineage run of the same run id is found (no
    second event recorded), and the model's lineage is there."""
    model = {"datasetType": facet(datasetType="MODEL")}
    ingest.ingest_event(
        body=run_event(
            "train:churn",
            namespace="mlflow://prod",
            run_id=RUN_ID,
            inputs=[ds("s3://lake", "features")],
            outputs=[ds("mlflow://prod", "churn", **model)],
        )
    )
    assert pending() == 1
    key = training.record_training_run(
        model_namespace="mlflow://prod",
        model_name="churn",
        model_version="1",
        inputs=[],
        run_id=RUN_ID,
        actor=owner,
    )
    assert key == "model:mlflow://prod:churn"
    assert LineageEvent.objects.count() == 1
    assert walks.upstream_datasets([key])[key] == ["dataset:s3://lake:features"]


# ---------------------------------------------------------------------------------------------
# The same events through both modes give the same graph


def _events() -> list[dict]:
    a, b, c = (str(uuid.uuid4()) for _ in range(3))
    schema = facet(fields=[{"name": "id", "type": "INT"}, {"name": "amount", "type": "DOUBLE"}])
    lineage = facet(
        fields={"total": {"inputFields": [{"namespace": "s3://lake", "name": "orders", "field": "amount"}]}}
    )
    model = {"datasetType": facet(datasetType="MODEL"), "version": facet(datasetVersion="7")}
    out = [
        run_event("ingest", event_type="START", run_id=a, outputs=[ds("s3://lake", "orders", schema=schema)]),
        run_event(
            "ingest",
            event_type="COMPLETE",
            run_id=a,
            event_time="2026-01-10T10:05:00Z",
            outputs=[ds("s3://lake", "orders", schema=schema)],
        ),
        # COMPLETE before its START, a later run of the same job that reads something else.
        run_event(
            "report",
            event_type="COMPLETE",
            run_id=b,
            event_time="2026-01-10T11:05:00Z",
            inputs=[ds("s3://lake", "orders")],
            outputs=[ds("s3://lake", "totals", columnLineage=lineage)],
        ),
        run_event(
            "report",
            event_type="START",
            run_id=b,
            event_time="2026-01-10T11:00:00Z",
            inputs=[ds("s3://lake", "orders")],
            outputs=[ds("s3://lake", "totals")],
        ),
        run_event(
            "report",
            run_id=c,
            event_time="2026-01-11T11:00:00Z",
            inputs=[ds("s3://lake", "orders"), ds("s3://lake", "fx")],
            outputs=[ds("s3://lake", "totals", columnLineage=lineage)],
        ),
        run_event(
            "train", inputs=[ds("s3://lake", "totals")], outputs=[ds("mlflow://prod", "churn", **model)]
        ),
        run_event("score", inputs=[ds("mlflow://prod", "churn")], outputs=[ds("s3://lake", "scores")]),
        # A run id of another job: refused in sync mode (400), failed in deferred mode.
        run_event("thief", run_id=a, outputs=[ds("s3://lake", "stolen")]),
        {
            "eventTime": "2026-01-12T00:00:00Z",
            "producer": PRODUCER,
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent",
            "dataset": ds("s3://lake", "fx", documentation=facet(description="Exchange rates")),
        },
        {
            "eventTime": "2026-01-12T00:00:00Z",
            "producer": PRODUCER,
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/JobEvent",
            "job": {"namespace": "pipelines", "name": "planned", "facets": {}},
            "inputs": [ds("s3://lake", "scores")],
            "outputs": [ds("s3://lake", "planned_out")],
        },
    ]
    return out


def _snapshot() -> dict:
    key = dict(Node.objects.values_list("pk", "key"))
    run = dict(Run.objects.values_list("pk", "run_id"))
    return {
        "nodes": sorted(
            Node.objects.values_list("key", "kind", "dataset_id", "description", "facets", "owners").order_by(
                "key"
            ),
            key=str,
        ),
        "latest": sorted((key[pk], run.get(r)) for pk, r in Node.objects.values_list("pk", "latest_run")),
        "edges": sorted((key[s], key[d]) for s, d in Edge.objects.values_list("src", "dst")),
        "runs": sorted(
            (r, key[j], st, b, s, e, f)
            for r, j, st, b, s, e, f in Run.objects.values_list(
                "run_id", "job", "state", "begun_at", "started_at", "ended_at", "facets"
            )
        ),
        "io": sorted(
            (run[r], key[n], d, label, num, json.dumps(f, sort_keys=True))
            for r, n, d, label, num, f in RunIO.objects.values_list(
                "run", "node", "direction", "version_label", "version_number", "facets"
            )
        ),
        "columns": sorted(
            (key[j], key[o], of, key[i], inf)
            for j, o, of, i, inf in ColumnEdge.objects.values_list(
                "job", "out_node", "out_field", "in_node", "in_field"
            )
        ),
    }


def _clear_graph() -> None:
    LineageEvent.objects.all().delete()
    assert fold.rebuild_graph() == 0  # the graph of no events: empty


def test_deferred_mode_builds_the_graph_sync_mode_builds(settings, owner):
    events = _events()
    refused = 0
    for body in events:
        try:
            ingest.ingest_event(body=body, actor=owner)
        except Exception:  # the run id of another job (400 in sync mode)
            refused += 1
    assert refused == 1
    synced = _snapshot()
    assert synced["edges"] and synced["columns"] and synced["io"]

    _clear_graph()
    settings.LINEAGE_APPLY = "deferred"
    settings.LINEAGE_FOLD_BATCH = 3  # several batches, START and COMPLETE of one run in different ones
    for body in events:
        ingest.ingest_event(body=body, actor=owner)
    assert not Node.objects.exists()
    assert fold.fold_pending() == len(events)
    assert LineageEvent.objects.filter(state=EventState.FAILED).count() == 1
    assert _snapshot() == synced


# ---------------------------------------------------------------------------------------------
# Concurrent posting: stored events == 2xx answers, and the folded graph is complete


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("threads", [pytest.param(8, marks=pytest.mark.postgres), 3], ids=["postgres", "any"])
def test_concurrent_posting_in_deferred_mode(live_server, owner, deferred, threads):
    from rest_framework.authtoken.models import Token

    from lineage.tests.test_concurrency import _bodies, _hammer

    token = Token.objects.create(user=owner).key
    n_jobs, runs_per_job = (12, 5) if threads == 8 else (4, 3)
    bodies = _bodies(n_jobs, runs_per_job)
    duplicate = run_event("dup", inputs=[ds("s3://lake", "shared/a")])
    bodies += [duplicate] * threads
    statuses = _hammer(live_server.url, token, bodies, threads)

    assert all(s < 500 for s in statuses), statuses
    assert statuses.count(201) == LineageEvent.objects.count() == len(bodies) - threads + 1
    assert statuses.count(200) == threads - 1
    fold.fold_pending()  # what the worker (here: the eager task after each post) has not done yet
    assert pending() == 0
    assert not LineageEvent.objects.filter(state=EventState.FAILED).exists()
    assert Node.objects.filter(kind="JOB").count() == n_jobs + 1
    assert Run.objects.filter(state="COMPLETED").count() == n_jobs * runs_per_job + 1
    assert Dataset.objects.filter(name__startswith="shared/").count() == 2


def test_migration_queues_events_deferred_before_the_folder_existed():
    """Migration 0003: an event deferred by size was applied by one task each, which may have given
    up; it becomes pending (folded again: applying twice changes nothing), the others stay applied."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module("lineage.migrations.0003_event_state")
    big = ingest.ingest_event(body=run_event("big", outputs=[ds("s3://lake", "x")]))[0]
    small = ingest.ingest_event(body=run_event("small", outputs=[ds("s3://lake", "y")]))[0]
    LineageEvent.objects.filter(pk=big.pk).update(deferred=True)

    migration.queue_deferred_events(apps, None)

    assert LineageEvent.objects.get(pk=big.pk).state == EventState.PENDING
    assert LineageEvent.objects.get(pk=small.pk).state == EventState.APPLIED
    assert fold.fold_pending() == 1
    assert LineageEvent.objects.get(pk=big.pk).state == EventState.APPLIED
    assert Run.objects.filter(job__key="job:pipelines:big").count() == 1


def test_a_read_after_a_backlog_answers_within_its_budget_and_says_what_it_skipped(deferred, client):
    deferred.LINEAGE_READ_FOLD_SECONDS = 0  # no time to fold: answer from the graph as it is
    for i in range(3):
        assert post(client, run_event(f"step_{i}", outputs=[ds("s3://lake", f"t{i}")])).status_code == 201
    r = client.get(URL, {"nodeId": "dataset:s3://lake:t0", "depth": 2})
    assert r.status_code == 404 and r["X-Lineage-Pending"] == "3"  # t0 is not in the graph yet
    assert pending() == 3
    # With time enough the read waits for every event posted before it, and says nothing.
    deferred.LINEAGE_READ_FOLD_SECONDS = 30
    r = client.get(URL, {"nodeId": "dataset:s3://lake:t2", "depth": 2})
    assert r.status_code == 200 and "X-Lineage-Pending" not in r
    assert pending() == 0
