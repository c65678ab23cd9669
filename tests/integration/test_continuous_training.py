"""The continuous-training loop of docs/continuous-training.md, end to end: a live server, a real
worker, and the receiver of docs/examples/continuous_training.py deciding after each profile.

The receiver hears of finished profiles by polling the API here (``wait_for_profile``): the event
subscriptions that would POST ``profile.finished`` to it are not on this branch yet. Its decision,
clearance and model registration are the same code either way."""

import importlib.util
import sys
from pathlib import Path

import pytest
import requests
from rest_framework.authtoken.models import Token

from profiling.tests.factories import credit_csv

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "continuous_training.py"


def load_example():
    spec = importlib.util.spec_from_file_location("continuous_training", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def upload(base: str, token: str, dataset_id: int, name: str, text: str) -> int:
    answer = requests.post(
        f"{base}/api/v1/datasets/{dataset_id}/versions/",
        headers={"Authorization": f"Token {token}"},
        files={"file": (name, text.encode(), "text/csv")},
        timeout=60,
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["number"]


def test_retrain_on_clean_versions_and_not_on_drift(live_server, live_worker, owner, make_user):
    ct = load_example()
    owner_token = Token.objects.create(user=owner).key
    pipeline = make_user("training_pipeline")
    base = live_server.url
    admin = ct.Api(base, owner_token)
    api = ct.Api(base, Token.objects.create(user=pipeline).key)

    dataset = admin.call(
        "POST", "/api/v1/datasets/", {"namespace": "s3://lake", "name": "credit/applications"}
    )
    admin.call(
        "PUT",
        f"/api/v1/datasets/{dataset['id']}/monitor",
        {"rules": [{"metric": "psi", "threshold": 0.2}, {"metric": "quality_score", "threshold": 0.9}]},
    )
    trained: list[tuple[str, int]] = []

    def train(urn: str, number: int) -> None:
        trained.append((urn, number))  # a real pipeline reads urn@number here and fits its model

    def step(number: int):
        data = ct.wait_for_profile(api, dataset, number, timeout=180)
        return ct.on_profile_finished(
            api, data, train=train, model_namespace="mlflow://ml", model_name="credit-scorer"
        )

    rows = credit_csv(400, seed=1)
    first = step(upload(base, owner_token, dataset["id"], "v1.csv", rows))
    assert first.retrain and first.model["version"] == "1", first.reason

    header, *lines = rows.splitlines()
    shuffled = "\n".join([header, *reversed(lines)]) + "\n"  # the same rows: no drift, quality passes
    second = step(upload(base, owner_token, dataset["id"], "v2.csv", shuffled))
    assert second.retrain, second.reason

    # Every application from the north now: values the suite allows, in other proportions.
    drifted = rows.replace(",south,", ",north,").replace(",east,", ",north,")
    third = step(upload(base, owner_token, dataset["id"], "v3.csv", drifted))
    assert not third.retrain and "version 3: drifted columns region" in third.reason, third.reason

    urn = dataset["urn"]
    assert trained == [(urn, 1), (urn, 2)]
    models = api.call("GET", "/api/v1/models/")["results"]
    assert sorted(m["version"] for m in models if m["name"] == "credit-scorer") == ["1", "2"]
    alerts = api.call("GET", "/api/v1/alerts/", dataset=dataset["id"], status="open")["results"]
    assert any(a["rule"]["metric"] == "psi" and a["version"] == 3 for a in alerts), alerts


def test_the_webhook_receiver_checks_signatures():
    ct = load_example()
    body = b'{"event": "profile.finished"}'
    good = "sha256=" + __import__("hmac").new(b"s3cret", body, "sha256").hexdigest()
    assert ct.signature_ok("s3cret", body, good)
    assert not ct.signature_ok("s3cret", body + b" ", good)
    assert not ct.signature_ok("other", body, good) and not ct.signature_ok("s3cret", body, None)
