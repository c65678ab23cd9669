"""Training runs recorded by Gouvernail itself (POST /api/v1/models/): governance registers a model
version and asks lineage to record the run that read the datasets and wrote the model.

The run is written as an ordinary OpenLineage COMPLETE event, so that the record can rebuild it.
"""

import uuid
from datetime import UTC, datetime
from typing import Any

from django.db import transaction

from lineage.fold import catch_up
from lineage.ingest import ingest_event
from lineage.models import Node, Run, RunState
from lineage.nodes import node_key

PRODUCER = "https://github.com/gouvernail/gouvernail/lineage"


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
    run_id = _training_run_id(run_id, model_namespace, model_name, model_version)
    key = node_key("model", model_namespace, model_name)
    job_name = f"train:{model_name}"
    catch_up()  # the runs read here, and the graph this run joins, include every event posted so far
    run_id, parent, existing = _own_run(
        run_id, key, model_version, node_key("job", model_namespace, job_name)
    )
    if (
        existing is not None
        and existing.state == RunState.COMPLETED
        and Node.objects.filter(key=key).exists()
    ):
        return key  # this registration was recorded before
    owner = getattr(actor, "username", "") or ""
    body = _training_event(
        run_id=run_id,
        parent=parent,
        job={"namespace": model_namespace, "name": job_name},
        inputs=_input_specs(inputs),
        model={
            "namespace": model_namespace,
            "name": model_name,
            "facets": _model_facets(model_version, owner),
        },
    )
    with transaction.atomic():
        # Applied now whatever LINEAGE_APPLY says: the caller registers the model on this node.
        ingest_event(body=body, actor=actor, emit_model_signal=False, apply="sync")
        node = Node.objects.get(key=key)
        if owner and owner not in node.owners:
            Node.objects.filter(pk=node.pk).update(owners=[*node.owners, owner])
    return key


def _training_run_id(run_id: str | None, namespace: str, name: str, version: str) -> str:
    """The run id as a UUID: the one given (or a UUID derived from it), else one derived from the
    model and version."""
    if run_id is None:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"gouvernail:model:{namespace}:{name}:{version}"))
    try:
        return str(uuid.UUID(str(run_id)))
    except ValueError:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"gouvernail:run:{run_id}"))


def _own_run(run_id: str, key: str, version: str, job_key: str) -> tuple[str, dict | None, Run | None]:
    """(the training run's id, its parent run facet or None, the run already recorded or None).

    A run id that belongs to another job is the pipeline's own run (posted through OpenLineage):
    this training run is recorded as its child, under a run id of its own.
    """
    existing = Run.objects.filter(run_id=run_id).select_related("job").first()
    if existing is None or existing.job.key == job_key:
        return run_id, None, existing
    parent = {
        "run": {"runId": run_id},
        "job": {"namespace": existing.job.namespace, "name": existing.job.name},
    }
    own = str(uuid.uuid5(uuid.NAMESPACE_URL, f"gouvernail:model:{key}:{version}:{run_id}"))
    return own, parent, Run.objects.filter(run_id=own).first()


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
