"""The model side end to end, as a training pipeline meets it, with real MLflow and a real worker.

A steward catalogues a training and an evaluation dataset (real files under DATA_ROOTS); the pipeline
trains a scikit-learn model on the training CSV, logs the run to MLflow with the catalogued file as its
input and registers the model in MLflow's registry; staff asks for a sync, the worker brings the
version here with its input matched and its clearance recorded and writes the tags back to MLflow; the
pipeline catalogues its predictions on the evaluation data as a new version and asks for an
evaluation, which the worker computes (Fairlearn's figures); a model policy the evaluation breaks gates
the release with a reason naming the group and the metric, a relaxed one lets it through; the card
exports in Model Card Toolkit's structure. Runs on SQLite (embedded broker) and on PostgreSQL + Redis.
"""

import random

import jsonschema
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, equalized_odds_difference
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, recall_score

from catalog import services as catalog_services
from catalog import versions as catalog_versions
from governance.models import MlflowSync, ModelEvaluation, ModelVersion
from governance.tests.test_evaluations import MCT_SCHEMA

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SITE = "https://gouvernail.example.org"
FEATURES = ["age", "income"]


def applicants(rows: int, seed: int) -> pd.DataFrame:
    """Credit applicants whose approval depends on income and age, with a gender column the model
    never sees but the evaluation slices by."""
    rnd = random.Random(seed)
    out = []
    for _ in range(rows):
        gender = rnd.choice("FM")
        age = rnd.randint(20, 70)
        income = rnd.gauss(42 if gender == "F" else 48, 12)
        approved = int(income + 0.2 * age + rnd.gauss(0, 6) > 55)
        out.append({"age": age, "income": round(income, 3), "gender": gender, "approved": approved})
    return pd.DataFrame(out)


def train_and_register(uri: str, artifacts, training_csv, catalogued_source: str) -> tuple[str, object]:
    """What a training pipeline does: read the catalogued file, fit, log the run with the file as its
    input and register the model in MLflow's registry → (MLflow version, fitted model)."""
    import mlflow
    import mlflow.sklearn

    df = pd.read_csv(training_csv)
    model = LogisticRegression(max_iter=1000).fit(df[FEATURES], df.approved)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment_id = client.create_experiment("credit-training", artifact_location=artifacts.as_uri())
    with mlflow.start_run(experiment_id=experiment_id):
        mlflow.log_input(
            mlflow.data.from_pandas(df, source=catalogued_source, name="train"), context="training"
        )
        mlflow.log_metric("train_accuracy", model.score(df[FEATURES], df.approved))
        # cloudpickle: MLflow's default (skops) needs a package this project has no other use for.
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            registered_model_name="credit-scorer",
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
        )
    return str(info.registered_model_version), model


def test_train_log_sync_evaluate_gate_and_card(
    data_root, tmp_path, settings, monkeypatch, live_worker_factory, steward, staff, api_client_for
):
    mlflow_uri = f"sqlite:///{tmp_path}/mlflow.db"
    settings.MLFLOW_TRACKING_URI = mlflow_uri  # the API's view (the 409 check); the worker's below
    settings.SITE_URL = SITE
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    worker = live_worker_factory(extra_env={"MLFLOW_TRACKING_URI": mlflow_uri, "SITE_URL": SITE})

    # The steward catalogues the training data and the evaluation data (gender is sensitive).
    training = catalog_services.create_dataset(
        actor=steward, namespace="s3://lake", name="credit/train", sensitivity="internal"
    )
    held_out = catalog_services.create_dataset(
        actor=steward,
        namespace="s3://lake",
        name="credit/holdout",
        sensitivity="internal",
        sensitive_columns=["gender"],
    )
    applicants(400, seed=1).to_csv(data_root / "train.csv", index=False)
    holdout = applicants(1500, seed=2)
    holdout.to_csv(data_root / "holdout.csv", index=False)
    tv, _ = catalog_versions.add_version_from_uri(
        actor=steward, dataset=training, uri=(data_root / "train.csv").as_uri()
    )
    catalog_versions.add_version_from_uri(
        actor=steward, dataset=held_out, uri=(data_root / "holdout.csv").as_uri()
    )

    # The pipeline trains and logs to MLflow, naming the file as the catalog has it.
    artifacts = tmp_path / "mlflow-artifacts"
    artifacts.mkdir()
    mlflow_version, model = train_and_register(mlflow_uri, artifacts, data_root / "train.csv", tv.source_uri)

    # Staff asks for a sync; the worker does it.
    admin = api_client_for(staff)
    queued = admin.post("/api/v1/integrations/mlflow/sync")
    assert queued.status_code == 202, queued.content
    worker.wait_until(
        lambda: MlflowSync.objects.filter(pk=queued.json()["id"], status__in=["succeeded", "failed"]).exists()
    )
    job = admin.get(f"/api/v1/integrations/mlflow/sync/{queued.json()['id']}").json()
    assert job["status"] == "succeeded", job
    assert (job["created"], job["unknown_inputs"]) == (1, 0)
    mv = ModelVersion.objects.get(model__name="credit-scorer", version=mlflow_version)
    assert mv.cleared is True and mv.via == "mlflow"
    assert [str(i) for i in mv.inputs.all()] == [f"{training.urn}@{tv.number}"]
    assert mv.mlflow_origin.inputs[0]["method"] == "version's source URI"
    tags = (
        MlflowClient(tracking_uri=mlflow_uri, registry_uri=mlflow_uri)
        .get_model_version("credit-scorer", mlflow_version)
        .tags
    )
    assert tags["gouvernail.clearance"] == "cleared"
    assert tags["gouvernail.card"] == f"{SITE}/models/{mv.pk}/"

    # The pipeline scores the evaluation data and catalogues its predictions as the next version.
    holdout["score"] = model.predict_proba(holdout[FEATURES])[:, 1].round(6)
    holdout["predicted"] = (holdout.score > 0.5).astype(int)
    holdout[["gender", "approved", "predicted", "score"]].to_csv(data_root / "predictions.csv", index=False)
    pv, _ = catalog_versions.add_version_from_uri(
        actor=steward, dataset=held_out, uri=(data_root / "predictions.csv").as_uri()
    )
    requested = admin.post(
        f"/api/v1/models/{mv.pk}/evaluations",
        {
            "dataset": f"{held_out.urn}@{pv.number}",
            "label_column": "approved",
            "prediction_column": "predicted",
            "score_column": "score",
        },
        format="json",
    )
    assert requested.status_code == 202, requested.content
    worker.wait_until(
        lambda: ModelEvaluation.objects.filter(
            pk=requested.json()["id"], status__in=["succeeded", "failed"]
        ).exists()
    )
    ev = admin.get(f"/api/v1/models/{mv.pk}/evaluations/{requested.json()['id']}").json()
    assert ev["status"] == "succeeded", ev.get("error")

    # Fairlearn's figures on the same arrays, read back from the file the catalog points at.
    scored = pd.read_csv(data_root / "predictions.csv")
    eod = equalized_odds_difference(scored.approved, scored.predicted, sensitive_features=scored.gender)
    assert eod > 0.01  # the data is built so that the groups differ: the gate below has something to refuse
    assert ev["equalized_odds_difference"]["gender"] == pytest.approx(eod, abs=1e-9)
    frame = MetricFrame(
        metrics={"accuracy": accuracy_score, "recall": recall_score},
        y_true=scored.approved,
        y_pred=scored.predicted,
        sensitive_features=scored.gender,
    )
    assert ev["overall"]["accuracy"] == pytest.approx(frame.overall["accuracy"], abs=1e-9)
    for group in ("F", "M"):
        assert ev["by_group"]["gender"][group]["recall"] == pytest.approx(
            frame.by_group["recall"][group], abs=1e-9
        )
    assert ev["overlaps_training"] is False

    # A policy this evaluation breaks gates the release, naming the group and the metric.
    limit = round(eod / 2, 4)
    r = admin.put(
        f"/api/v1/models/{mv.pk}/policy",
        {"max_equalized_odds_difference": limit, "require_independent_evaluation": True},
        format="json",
    )
    assert r.status_code == 200, r.content
    model_urn = r.json()["model"] + f"@{mlflow_version}"
    gate = admin.get("/api/v1/clearance", {"models": model_urn, "purpose": "deployment"})
    assert gate.status_code == 200, gate.content
    assert gate.json()["allowed"] is False
    [refusal] = [x for x in gate.json()["models"][0]["reasons"] if "equalized-odds difference" in x]
    assert "'gender'" in refusal and ("group 'F'" in refusal or "group 'M'" in refusal), refusal

    # Relaxed: the same question is answered yes.
    r = admin.patch(f"/api/v1/models/{mv.pk}/policy", {"max_equalized_odds_difference": 1.0}, format="json")
    assert r.status_code == 200, r.content
    gate = admin.get("/api/v1/clearance", {"models": model_urn, "purpose": "deployment"}).json()
    assert gate["allowed"] is True, gate["models"][0]["reasons"]

    # The card in Model Card Toolkit's structure, with the evaluation's figures in it.
    mct = admin.get(f"/api/v1/models/{mv.pk}/card", {"format": "mct"})
    assert mct.status_code == 200, mct.content
    body = mct.json()
    jsonschema.validate(body, MCT_SCHEMA, format_checker=jsonschema.FormatChecker())
    assert body["model_details"]["version"]["name"] == mlflow_version
    metrics = {
        (m["type"], m["slice"]): m["value"] for m in body["quantitative_analysis"]["performance_metrics"]
    }
    assert float(metrics[("equalized_odds_difference", "gender")]) == pytest.approx(eod)
    assert float(metrics[("accuracy", "overall")]) == pytest.approx(frame.overall["accuracy"])
