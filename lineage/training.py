"""Training runs recorded by Gouvernail itself (POST /api/v1/models/): governance registers a model
version and asks lineage to record the run that read the datasets and wrote the model.

The run is written as an ordinary OpenLineage COMPLETE event, so that the record can rebuild it.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import transaction

from lineage.apply_nodes import remembering_nodes
from lineage.fold import catch_up
from lineage.ingest import ingest_events
from lineage.models import Node, Run, RunState
from lineage.nodes import node_key

PRODUCER = "https://github.com/gouvernail/gouvernail/lineage"


@dataclass(frozen=True)
class TrainingRun:
    """One training run to record: the model version it wrote and the datasets it read ((catalog
    dataset, catalog version or None) each); ``run_id`` the pipeline's, or None."""

    model_namespace: str
    model_name: str
    model_version: str
    inputs: list
    run_id: str | None


def record_training_run(
    *,
    model_namespace: str,
    model_name: str,
    model_version: str,
    inputs: list,
    run_id: str | None,
    actor,
) -> str:
    """Record a run of ``train:<model_name>`` that read the datasets and wrote the MODEL → model node id.

    Idempotent per run_id; without one, the run id is derived from the model and version, so the
    same registration twice is one run. No model_output_recorded signal: the caller registers the model.
    """
    run = TrainingRun(model_namespace, model_name, model_version, inputs, run_id)
    return record_training_runs([run], actor=actor)[0]


def record_training_runs(runs: list[TrainingRun], *, actor) -> list[str]:
    """Batch form of record_training_run → each run's model node id, in order: the runs already
    recorded found in one query, the events of the others stored in one statement and applied in
    order in one transaction. The graph is the same as one by one: one run per version, the job's
    current edges those of its latest run."""
    if not runs:
        return []
    catch_up()  # the runs read here, and the graph these runs join, include every event posted so far
    owner = getattr(actor, "username", "") or ""
    wanted = []
    for r in runs:
        key = node_key("model", r.model_namespace, r.model_name)
        run_id = _training_run_id(r.run_id, r.model_namespace, r.model_name, r.model_version)
        wanted.append((r, key, run_id))
    # The runs of these ids, and of the ids each would take as a child of another job's run, at once.
    ids = {i for _r, _k, i in wanted} | {_child_id(k, r.model_version, i) for r, k, i in wanted}
    known = {row[0]: row[1:] for row in Run.objects.filter(run_id__in=ids).values_list(*_RUN_FACTS)}
    nodes = set(Node.objects.filter(key__in={k for _r, k, _i in wanted}).values_list("key", flat=True))
    keys, bodies, written = [], [], set()
    for r, key, run_id in wanted:
        keys.append(key)
        job_name = f"train:{r.model_name}"
        job_key = node_key("job", r.model_namespace, job_name)
        run_id, parent, existing = _own_run(run_id, key, r.model_version, job_key, known)
        if existing is not None and existing[-1] == RunState.COMPLETED and key in nodes:
            continue  # this registration was recorded before
        bodies.append(
            _training_event(
                run_id=run_id,
                parent=parent,
                job={"namespace": r.model_namespace, "name": job_name},
                inputs=_input_specs(r.inputs),
                model={
                    "namespace": r.model_namespace,
                    "name": r.model_name,
                    "facets": _model_facets(r.model_version, owner),
                },
            )
        )
        # What a later run of this batch finds, as it would one by one: this run, recorded.
        known[run_id] = (job_key, r.model_namespace, job_name, RunState.COMPLETED)
        nodes.add(key)
        written.add(key)
    if bodies:
        with transaction.atomic(), remembering_nodes():
            # Applied now whatever LINEAGE_APPLY says: the caller registers the model on these nodes.
            ingest_events(bodies, actor=actor, emit_model_signal=False, apply="sync")
            if owner:
                _add_owner(owner, written)
    return keys


def _add_owner(owner: str, keys: set[str]) -> None:
    """The user who registered the model is among its node's owners."""
    for pk, owners in Node.objects.filter(key__in=keys).values_list("pk", "owners"):
        if owner not in owners:
            Node.objects.filter(pk=pk).update(owners=[*owners, owner])


def _training_run_id(run_id: str | None, namespace: str, name: str, version: str) -> str:
    """The run id as a UUID: the one given (or a UUID derived from it), else one derived from the
    model and version."""
    if run_id is None:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"gouvernail:model:{namespace}:{name}:{version}"))
    try:
        return str(uuid.UUID(str(run_id)))
    except ValueError:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"gouvernail:run:{run_id}"))


# What a training run needs to know of a run already recorded: its job, and its state.
_RUN_FACTS = ("run_id", "job__key", "job__namespace", "job__name", "state")


def _child_id(key: str, version: str, run_id: str) -> str:
    """The training run's own id when the pipeline's run id belongs to another job."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"gouvernail:model:{key}:{version}:{run_id}"))


def _own_run(
    run_id: str, key: str, version: str, job_key: str, known: dict[str, tuple]
) -> tuple[str, dict | None, tuple | None]:
    """(the training run's id, its parent run facet or None, the run already recorded or None), from
    ``known``: {run id: (job key, job namespace, job name, state)} of the runs recorded.

    A run id that belongs to another job is the pipeline's own run (posted through OpenLineage):
    this training run is recorded as its child, under a run id of its own.
    """
    existing = known.get(run_id)
    if existing is None or existing[0] == job_key:
        return run_id, None, existing
    parent = {"run": {"runId": run_id}, "job": {"namespace": existing[1], "name": existing[2]}}
    own = _child_id(key, version, run_id)
    return own, parent, known.get(own)


def _facet(**fields: Any) -> dict[str, Any]:
    return {"_producer": PRODUCER, "_schemaURL": PRODUCER, **fields}


def _model_facets(version: str, owner: str) -> dict[str, Any]:
    facets: dict[str, Any] = {
        "datasetType": _facet(datasetType="MODEL"),
        "version": _facet(datasetVersion=str(version)),
    }
    if owner:
        facets["ownership"] = _facet(owners=[{"name": f"user:{owner}", "type": "MAINTAINER"}])
    return facets


def _input_specs(inputs: list) -> list[dict[str, Any]]:
    """The run's inputs: (catalog dataset, catalog version or None) → OpenLineage input datasets."""
    specs = []
    for dataset, version in inputs:
        spec: dict[str, Any] = {"namespace": dataset.namespace, "name": dataset.name}
        if version is not None:
            spec["facets"] = {"version": _facet(datasetVersion=str(version.number))}
        specs.append(spec)
    return specs


def _training_event(*, run_id: str, parent: dict | None, job: dict, inputs: list, model: dict) -> dict:
    """The training run as an OpenLineage COMPLETE RunEvent."""
    run: dict[str, Any] = {"runId": run_id}
    if parent:
        run["facets"] = {"parent": _facet(**parent)}
    return {
        "eventType": "COMPLETE",
        "eventTime": datetime.now(UTC).isoformat(),
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": run,
        "job": job,
        "inputs": inputs,
        "outputs": [model],
    }
