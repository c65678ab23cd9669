"""A model evaluation end to end with a real worker: the API queues it after the commit, the worker
reads the evaluation version's columns and stores Fairlearn's figures, the card and its MCT export
show them."""

import random

import pandas as pd
import pytest
from fairlearn.metrics import equalized_odds_difference

from catalog import services as catalog_services
from catalog import versions as catalog_versions
from governance.models import ModelEvaluation

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def predictions(rows: int = 2000) -> str:
    rnd = random.Random(5)
    lines = ["gender,approved,predicted,score"]
    for i in range(rows):
        gender = "M" if i % 2 else "F"
        label = int(rnd.random() < (0.5 if gender == "M" else 0.35))
        score = min(max(rnd.gauss(0.6 if label else 0.4, 0.2), 0.0), 1.0)
        lines.append(f"{gender},{label},{int(score > 0.5)},{score:.6f}")
    return "\n".join(lines) + "\n"


def test_a_worker_evaluates_the_model(data_root, live_worker, owner, api_client_for):
    # data_root first: the worker is started with the DATA_ROOTS it sets.
    training = catalog_services.create_dataset(
        actor=owner, namespace="s3://lake", name="credit/train", sensitivity="internal"
    )
    held_out = catalog_services.create_dataset(
        actor=owner,
        namespace="s3://lake",
        name="credit/holdout",
        sensitivity="internal",
        sensitive_columns=["gender"],
    )
    (data_root / "train.csv").write_text(predictions(50))
    (data_root / "holdout.csv").write_text(predictions())
    tv, _ = catalog_versions.add_version_from_uri(
        actor=owner, dataset=training, uri=(data_root / "train.csv").as_uri()
    )
    hv, _ = catalog_versions.add_version_from_uri(
        actor=owner, dataset=held_out, uri=(data_root / "holdout.csv").as_uri()
    )
    client = api_client_for(owner)
    model = client.post(
        "/api/v1/models/",
        {"namespace": "ml", "name": "credit", "version": "1", "trained_on": [f"{training.urn}@{tv.number}"]},
        format="json",
    ).json()
    queued = client.post(
        f"/api/v1/models/{model['id']}/evaluations",
        {
            "dataset": f"{held_out.urn}@{hv.number}",
            "label_column": "approved",
            "prediction_column": "predicted",
            "score_column": "score",
        },
        format="json",
    )
    assert queued.status_code == 202, queued.content

    live_worker.wait_until(
        lambda: ModelEvaluation.objects.filter(
            pk=queued.json()["id"], status__in=["succeeded", "failed"]
        ).exists()
    )
    ev = client.get(f"/api/v1/models/{model['id']}/evaluations/{queued.json()['id']}").json()
    if ev["status"] != "succeeded":
        log = live_worker.log()
        pytest.fail(f"{ev['error']}\n{log[log.find('Traceback') :][:6000]}")
    frame = pd.read_csv(data_root / "holdout.csv")
    assert ev["equalized_odds_difference"]["gender"] == pytest.approx(
        equalized_odds_difference(frame.approved, frame.predicted, sensitive_features=frame.gender), abs=1e-9
    )
    mct = client.get(f"/api/v1/models/{model['id']}/card", {"format": "mct"}).json()
    slices = {m["slice"] for m in mct["quantitative_analysis"]["performance_metrics"]}
    assert {"overall", "gender=F", "gender=M", "gender"} <= slices
