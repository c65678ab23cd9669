"""Training runs recorded in a batch (training.record_training_runs, as a sync of fifty model versions
records them) build the graph that recording them one by one builds: one run per version, each job's
current edges those of its latest run, a run id of another job's run recorded as its child, the
same registration twice recorded once. Under it, ingest.ingest_events: events stored in one statement
(each once) and applied in order."""

import uuid
from dataclasses import asdict

import pytest
from django.core.exceptions import ValidationError

from catalog.selectors import resolve_dataset_ref
from lineage import ingest, training
from lineage.models import Edge, LineageEvent, Node, Run
from lineage.tests.events import ds, run_event

pytestmark = pytest.mark.django_db


def _emit(job, inputs, outputs):
    body = run_event(
        job, inputs=[ds("s3://lake", n) for n in inputs], outputs=[ds("s3://lake", n) for n in outputs]
    )
    return ingest.ingest_event(body=body)[0]


def _runs(namespace: str, train, report, *, shared: str, pipeline_run: str) -> list[training.TrainingRun]:
    return [
        training.TrainingRun(namespace, "m", "1", [(train, None)], None),
        training.TrainingRun(namespace, "m", "2", [(report, None)], None),  # other data: the edges move
        training.TrainingRun(namespace, "n", "1", [(train, None)], shared),  # one run writes two models:
        training.TrainingRun(namespace, "o", "1", [(report, None)], shared),  # the second is its child
        training.TrainingRun(namespace, "m", "2", [(report, None)], None),  # the same registration again
        training.TrainingRun(namespace, "p", "1", [(train, None)], pipeline_run),  # a pipeline's run id
    ]


def _graph(namespace: str) -> dict:
    """What the graph says of a namespace's models, with the namespace taken out of the keys."""
    mine = {n.pk: n.key.replace(namespace, "NS") for n in Node.objects.filter(namespace=namespace)}
    keys = dict(Node.objects.values_list("pk", "key")) | mine
    edges = sorted((keys[e.src], keys[e.dst]) for e in Edge.objects.all() if e.src in mine or e.dst in mine)
    runs = sorted(
        (
            mine[r.job_id],
            r.state,
            "parent" in r.facets,
            sorted((keys[io.node_id], io.direction) for io in r.io.all()),
            r.pk == Node.objects.get(pk=r.job_id).latest_run_id,
        )
        for r in Run.objects.filter(job_id__in=mine)
    )
    owners = sorted(
        (mine[n.pk], tuple(n.owners)) for n in Node.objects.filter(namespace=namespace, kind="MODEL")
    )
    events = LineageEvent.objects.filter(job_key__contains=f":{namespace}:").count()
    return {"edges": edges, "runs": runs, "owners": owners, "events": events}


def test_a_batch_builds_the_graph_that_one_by_one_builds(owner):
    pipeline_run = _emit("prepare", ["raw"], ["train"]).run_id
    _emit("summarise", ["train"], ["report"])
    train, report = (
        resolve_dataset_ref("dataset:s3://lake:train"),
        resolve_dataset_ref("dataset:s3://lake:report"),
    )

    single = _runs("single", train, report, shared=str(uuid.uuid4()), pipeline_run=pipeline_run)
    keys_single = [training.record_training_run(actor=owner, **asdict(r)) for r in single]
    batch = _runs("batch", train, report, shared=str(uuid.uuid4()), pipeline_run=pipeline_run)
    keys_batch = training.record_training_runs(batch, actor=owner)

    assert [k.replace("batch", "NS") for k in keys_batch] == [k.replace("single", "NS") for k in keys_single]
    graph = _graph("batch")
    assert graph == _graph("single")
    # What one by one gives, spelled out: m's current edges are those of its version 2 (report), its
    # version 2 is one run, o and p are children of the runs whose ids they were given.
    assert ("dataset:s3://lake:report", "job:NS:train:m") in graph["edges"]
    assert ("dataset:s3://lake:train", "job:NS:train:m") not in graph["edges"]
    assert [r[0] for r in graph["runs"]].count("job:NS:train:m") == 2
    assert sorted(r[0] for r in graph["runs"] if r[2]) == ["job:NS:train:o", "job:NS:train:p"]
    assert graph["events"] == 5 and all(o == (owner.username,) for _k, o in graph["owners"])


def test_a_refused_run_stores_nothing_of_the_batch(owner):
    _emit("prepare", ["raw"], ["train"])
    train = resolve_dataset_ref("dataset:s3://lake:train")
    events = LineageEvent.objects.count()
    runs = [
        training.TrainingRun("models", "fine", "1", [(train, None)], None),
        # A job name OpenLineage refuses (over 255 characters with its "train:" prefix).
        training.TrainingRun("models", "x" * 252, "1", [(train, None)], None),
    ]
    with pytest.raises(ValidationError, match="At most 255 characters"):
        training.record_training_runs(runs, actor=owner)
    assert LineageEvent.objects.count() == events
    assert not Node.objects.filter(namespace="models").exists()


def test_events_ingested_together_are_stored_once_each_and_applied_in_order():
    first = run_event("prepare", inputs=[ds("s3://lake", "raw")], outputs=[ds("s3://lake", "train")])
    before = ingest.ingest_event(body=first)[0]
    second = run_event("prepare", inputs=[ds("s3://lake", "raw2")], outputs=[ds("s3://lake", "train")])
    third = run_event("report", inputs=[ds("s3://lake", "train")], outputs=[ds("s3://lake", "report")])

    out = ingest.ingest_events([first, second, dict(second), third], apply="sync")

    assert [created for _e, created in out] == [False, True, False, True]
    assert out[0][0].pk == before.pk and out[2][0].pk == out[1][0].pk
    assert LineageEvent.objects.count() == 3
    # Applied in order: the job's latest run is the second one, its edges those of "raw2".
    job = Node.objects.get(key="job:pipelines:prepare")
    assert job.latest_run.run_id == second["run"]["runId"]
    upstream = {Node.objects.get(pk=e.src).key for e in Edge.objects.filter(dst=job.pk)}
    assert upstream == {"dataset:s3://lake:raw2"}
    assert Node.objects.filter(key="job:pipelines:report").exists()

    refused = run_event("broken", inputs=[ds("s3://lake", "x" * 300)])
    with pytest.raises(ValidationError):
        ingest.ingest_events([run_event("fine"), refused], apply="sync")
    assert LineageEvent.objects.count() == 3
