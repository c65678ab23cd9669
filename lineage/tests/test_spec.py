"""The plain-Python schema check (``spec.conforms``) never accepts what the JSON schema refuses."""

import copy
import random

from lineage.models import EventKind
from lineage.spec import _VALIDATORS, conforms, event_kind
from lineage.tests.events import PRODUCER, ds, facet, run_event

ODD_VALUES = [None, 0, 1.5, True, "", "x", "not-a-uuid", [], [1], ["a"], {}, {"a": 1}, {"a": {}}, [{}]]


def _bases() -> list[dict]:
    run = run_event(
        "j",
        inputs=[ds("s3://lake", "in", schema=facet(fields=[]))],
        outputs=[ds("s3://lake", "out", version=facet(datasetVersion="3"))],
    )
    run["run"]["facets"] = {"nominalTime": facet(nominalStartTime="2026-01-10T10:00:00Z")}
    run["job"]["facets"] = {"documentation": facet(description="d")}
    run["inputs"][0]["inputFacets"] = {"dataQualityMetrics": facet(rowCount=3)}
    run["outputs"][0]["outputFacets"] = {"outputStatistics": facet(rowCount=3)}
    dataset = {
        "eventTime": "2026-01-10T10:00:00Z",
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent",
        "dataset": ds("s3://lake", "d", schema=facet(fields=[])),
    }
    job = {
        "eventTime": "2026-01-10T10:00:00Z",
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/JobEvent",
        "job": {"namespace": "n", "name": "j", "facets": {}},
        "inputs": [ds("s3://lake", "in")],
        "outputs": [],
    }
    return [run, dataset, job]


def _paths(value, prefix=()):
    """Every (container path, key) in a JSON value."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield prefix, k
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield prefix, i
            yield from _paths(v, (*prefix, i))


def _at(value, path):
    for p in path:
        value = value[p]
    return value


def _schema_accepts(body: dict, kind: str) -> bool:
    return not any(True for _ in _VALIDATORS[kind].iter_errors(body))


def test_valid_events_take_the_fast_path():
    for body in _bases():
        kind = event_kind(body)
        assert _schema_accepts(body, kind)
        assert conforms(body, kind), kind


def test_fast_path_agrees_with_the_schema_on_mutated_events():
    """Thousands of events with one field removed or replaced by a value of another type: whenever
    the fast check says yes, the JSON schema says yes; and it says no to most of the broken ones."""
    rng = random.Random(4)
    refused_by_schema = 0
    for _ in range(3000):
        body = copy.deepcopy(rng.choice(_bases()))
        for _m in range(rng.choice((1, 1, 2))):
            path, key = rng.choice(list(_paths(body)))
            container = _at(body, path)
            if isinstance(container, dict) and rng.random() < 0.35:
                del container[key]
            else:
                container[key] = copy.deepcopy(rng.choice(ODD_VALUES))
        kind = event_kind(body)
        accepted = _schema_accepts(body, kind)
        refused_by_schema += not accepted
        if conforms(body, kind):
            assert accepted, body
    assert refused_by_schema > 1000  # the mutations did break events


def test_event_type_and_run_id_are_checked():
    body = run_event("j")
    assert conforms(body, EventKind.RUN)
    assert not conforms({**body, "eventType": "DONE"}, EventKind.RUN)
    assert not conforms({**body, "run": {"runId": "run-1"}}, EventKind.RUN)
    assert not conforms({**body, "inputs": [{"namespace": "s3://lake"}]}, EventKind.RUN)
