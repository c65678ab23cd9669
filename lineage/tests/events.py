"""Builders of OpenLineage event bodies for tests, as openlineage-python serialises them."""

import uuid
from typing import Any

PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/client/python"
RUN_SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"


def facet(**fields: Any) -> dict[str, Any]:
    return {"_producer": PRODUCER, "_schemaURL": "https://openlineage.io/spec/facets/x.json", **fields}


def ds(namespace: str, name: str, **facets: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"namespace": namespace, "name": name}
    if facets:
        out["facets"] = facets
    return out


def run_event(
    job: str,
    *,
    event_type: str = "COMPLETE",
    run_id: str | None = None,
    inputs: list | None = None,
    outputs: list | None = None,
    namespace: str = "pipelines",
    event_time: str = "2026-01-10T10:00:00Z",
    **extra: Any,
) -> dict[str, Any]:
    body = {
        "eventType": event_type,
        "eventTime": event_time,
        "producer": PRODUCER,
        "schemaURL": RUN_SCHEMA,
        "run": {"runId": run_id or str(uuid.uuid4())},
        "job": {"namespace": namespace, "name": job},
        "inputs": inputs or [],
        "outputs": outputs or [],
    }
    body.update(extra)
    return body
