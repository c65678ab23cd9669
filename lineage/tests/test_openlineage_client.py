"""End to end: openlineage-python's own client, pointed at a running Gouvernail, records a pipeline
from raw source to trained model; the lineage endpoints answer it as Marquez would.

Runs on SQLite by default and on PostgreSQL with DATABASE_URL set (the same test, both databases).
"""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    column_lineage_dataset,
    data_quality_metrics_input_dataset,
    dataset_type_dataset,
    dataset_version_dataset,
    documentation_dataset,
    ownership_dataset,
    schema_dataset,
)
from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport
from rest_framework.authtoken.models import Token

from catalog.models import Dataset, Origin
from lineage import signals
from lineage.models import LineageEvent

pytestmark = pytest.mark.django_db(transaction=True)

RAW_NS = "postgres://db.internal:5432"
RAW = "public.customer events"  # a space in the name, as real tables have
LAKE = "s3://lake"
FEATURES = "features/customer_features.parquet"
MODELS = "mlflow://models"


def _client(live_server, user) -> OpenLineageClient:
    token, _ = Token.objects.get_or_create(user=user)
    config = HttpConfig(
        url=live_server.url,
        auth=ApiKeyTokenProvider({"apiKey": token.key}),
        retry={"total": 0},
    )
    return OpenLineageClient(transport=HttpTransport(config))


def _schema(*cols: tuple[str, str]) -> schema_dataset.SchemaDatasetFacet:
    return schema_dataset.SchemaDatasetFacet(
        fields=[schema_dataset.SchemaDatasetFacetFields(name=n, type=t) for n, t in cols]
    )


def _emit_run(client, job: str, inputs, outputs, *, start: datetime) -> str:
    run = Run(runId=str(uuid.uuid4()))
    for state, at in ((RunState.START, start), (RunState.COMPLETE, start + timedelta(minutes=5))):
        client.emit(
            RunEvent(
                eventType=state,
                eventTime=at.isoformat(),
                run=run,
                job=Job(namespace="pipelines", name=job),
                inputs=inputs,
                outputs=outputs,
            )
        )
    return run.runId


def test_pipeline_from_raw_source_to_model(live_server, owner, steward):
    received = []

    def on_model(sender, **kw):
        received.append(kw)

    signals.model_output_recorded.connect(on_model, weak=False)
    try:
        client = _client(live_server, owner)
        t0 = datetime(2026, 1, 10, 8, 0, tzinfo=UTC)
        raw = InputDataset(
            namespace=RAW_NS,
            name=RAW,
            facets={
                "schema": _schema(("customer_id", "BIGINT"), ("event", "VARCHAR"), ("amount", "DOUBLE")),
                "ownership": ownership_dataset.OwnershipDatasetFacet(
                    owners=[ownership_dataset.Owner(name=f"user:{steward.username}", type="MAINTAINER")]
                ),
                "documentation": documentation_dataset.DocumentationDatasetFacet(
                    description="Raw **customer** events."
                ),
            },
            inputFacets={
                "dataQualityMetrics": data_quality_metrics_input_dataset.DataQualityMetricsInputDatasetFacet(
                    rowCount=1000, columnMetrics={}
                )
            },
        )
        features = OutputDataset(
            namespace=LAKE,
            name=FEATURES,
            facets={
                "schema": _schema(("customer_id", "BIGINT"), ("total", "DOUBLE")),
                "columnLineage": column_lineage_dataset.ColumnLineageDatasetFacet(
                    fields={
                        "total": column_lineage_dataset.Fields(
                            inputFields=[
                                column_lineage_dataset.InputField(
                                    namespace=RAW_NS,
                                    name=RAW,
                                    field="amount",
                                    transformations=[
                                        column_lineage_dataset.Transformation(
                                            type="DIRECT", subtype="AGGREGATION", description="sum"
                                        )
                                    ],
                                )
                            ]
                        )
                    }
                ),
            },
        )
        etl_run = _emit_run(client, "build_features", [raw], [features], start=t0)

        model = OutputDataset(
            namespace=MODELS,
            name="churn",
            facets={
                "datasetType": dataset_type_dataset.DatasetTypeDatasetFacet(datasetType="MODEL"),
                "version": dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion="3"),
            },
        )
        train_run = _emit_run(
            client,
            "train_churn",
            [InputDataset(namespace=LAKE, name=FEATURES)],
            [model],
            start=t0 + timedelta(hours=1),
        )
    finally:
        signals.model_output_recorded.disconnect(on_model)

    # Every event stored once, as received.
    assert LineageEvent.objects.count() == 4

    # Datasets registered in the catalog, marked as found through lineage, facets applied.
    raw_ds = Dataset.objects.get(namespace=RAW_NS, name=RAW)
    assert raw_ds.origin == Origin.LINEAGE
    assert raw_ds.owner == steward  # ownership facet, dataset had no owner
    assert raw_ds.description == "Raw **customer** events."
    assert list(raw_ds.columns.order_by("position").values_list("name", "type")) == [
        ("customer_id", "BIGINT"),
        ("event", "VARCHAR"),
        ("amount", "DOUBLE"),
    ]
    # The model is a MODEL node, not a catalog dataset.
    assert not Dataset.objects.filter(namespace=MODELS).exists()
    assert received == [
        {
            "signal": signals.model_output_recorded,
            "namespace": MODELS,
            "name": "churn",
            "version": "3",
            "run_id": train_run,
            "job": "job:pipelines:train_churn",
            "inputs": [(Dataset.objects.get(name=FEATURES).pk, None)],
            "actor": owner,  # whose token posted the event
        }
    ]

    # The lineage endpoint, asked as a Marquez client asks it (Bearer token, plain HTTP).
    token = Token.objects.get(user=owner).key
    headers = {"Authorization": f"Bearer {token}"}
    answer = requests.get(
        f"{live_server.url}/api/v1/lineage",
        params={"nodeId": f"model:{MODELS}:churn", "depth": 20},
        headers=headers,
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    graph = {n["id"]: n for n in answer.json()["graph"]}
    raw_id = f"dataset:{RAW_NS}:{RAW}"
    feat_id = f"dataset:{LAKE}:{FEATURES}"
    assert set(graph) == {
        raw_id,
        "job:pipelines:build_features",
        feat_id,
        "job:pipelines:train_churn",
        f"model:{MODELS}:churn",
    }
    for node in graph.values():
        assert set(node) == {"id", "type", "data", "inEdges", "outEdges"}
    assert graph[raw_id]["type"] == "DATASET"
    assert graph["job:pipelines:train_churn"]["type"] == "JOB"
    assert graph[f"model:{MODELS}:churn"]["type"] == "MODEL"
    assert graph[feat_id]["inEdges"] == [{"origin": "job:pipelines:build_features", "destination": feat_id}]
    assert graph[feat_id]["outEdges"] == [{"origin": feat_id, "destination": "job:pipelines:train_churn"}]
    job = graph["job:pipelines:build_features"]["data"]
    assert job["id"] == {"namespace": "pipelines", "name": "build_features"}
    assert job["inputs"] == [{"namespace": RAW_NS, "name": RAW}]
    assert job["outputs"] == [{"namespace": LAKE, "name": FEATURES}]
    assert job["latestRun"]["id"] == etl_run and job["latestRun"]["state"] == "COMPLETED"
    assert job["latestRun"]["durationMs"] == 5 * 60 * 1000
    assert graph[raw_id]["data"]["fields"][2] == {
        "name": "amount",
        "type": "DOUBLE",
        "tags": [],
        "description": None,
    }

    # Column lineage, Marquez shape.
    cl = requests.get(
        f"{live_server.url}/api/v1/column-lineage",
        params={"nodeId": f"datasetField:{LAKE}:{FEATURES}:total"},
        headers=headers,
        timeout=10,
    ).json()
    nodes = {n["id"]: n for n in cl["graph"]}
    total = nodes[f"datasetField:{LAKE}:{FEATURES}:total"]
    assert total["type"] == "DATASET_FIELD"
    assert total["data"]["inputFields"] == [
        {
            "namespace": RAW_NS,
            "dataset": RAW,
            "datasetVersion": None,
            "field": "amount",
            "transformationDescription": "sum",
            "transformationType": "DIRECT",
        }
    ]
    assert f"datasetField:{RAW_NS}:{RAW}:amount" in nodes

    # History: which runs wrote and read the features.
    runs = requests.get(
        f"{live_server.url}/api/v1/lineage/datasets/{feat_id}/runs", headers=headers, timeout=10
    ).json()
    assert {(r["runId"], r["direction"]) for r in runs["results"]} == {
        (etl_run, "output"),
        (train_run, "input"),
    }


def test_client_retry_of_the_same_event_changes_nothing(live_server, owner):
    client = _client(live_server, owner)
    event = RunEvent(
        eventType=RunState.COMPLETE,
        eventTime="2026-01-10T10:00:00+00:00",
        run=Run(runId=str(uuid.uuid4())),
        job=Job(namespace="pipelines", name="once"),
        inputs=[InputDataset(namespace=LAKE, name="a")],
        outputs=[OutputDataset(namespace=LAKE, name="b")],
    )
    client.emit(event)
    client.emit(event)
    assert LineageEvent.objects.count() == 1


def test_client_without_token_is_refused(live_server):
    config = HttpConfig(url=live_server.url, retry={"total": 0})
    client = OpenLineageClient(transport=HttpTransport(config))
    event = RunEvent(
        eventType=RunState.START,
        eventTime="2026-01-10T10:00:00+00:00",
        run=Run(runId=str(uuid.uuid4())),
        job=Job(namespace="pipelines", name="anon"),
    )
    with pytest.raises(requests.HTTPError) as err:
        client.emit(event)
    assert err.value.response.status_code == 401
    assert LineageEvent.objects.count() == 0
