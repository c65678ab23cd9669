"""The demo's lineage: two feature jobs, one reading restricted health data, as OpenLineage events."""

import uuid

from config.demo.catalog import LAKE, WAREHOUSE
from lineage.ingest import ingest_event

JOBS = [
    (
        "build_credit_features",
        [(WAREHOUSE, "risk.credit_applications")],
        [(WAREHOUSE, "risk.credit_features")],
    ),
    (
        "build_patient_features",
        [(WAREHOUSE, "clinical.diabetes_progression")],
        [(LAKE, "features/patient_risk_features")],
    ),
]


def load_lineage(admin) -> None:
    """Post one COMPLETE run event per job (the run ids are fixed: a rerun records nothing new)."""
    for job, inputs, outputs in JOBS:
        run_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"gouvernail-demo:{job}"))
        body = {
            "eventType": "COMPLETE",
            "eventTime": "2026-01-15T09:30:00+00:00",
            "producer": "https://github.com/gouvernail/gouvernail/demo",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "run": {"runId": run_id},
            "job": {"namespace": "airflow://demo", "name": f"features.{job}"},
            "inputs": [{"namespace": ns, "name": n} for ns, n in inputs],
            "outputs": [{"namespace": ns, "name": n} for ns, n in outputs],
        }
        ingest_event(body=body, actor=admin)
