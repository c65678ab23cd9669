"""The continuous-training loop of docs/continuous-training.md, end to end: a live server, a real
worker, and the receiver of docs/examples/continuous_training.py deciding after each profile.

The receiver subscribes to ``profile.finished`` with the URL of its own HTTP server; the worker
profiles each version, records the event in the profile's transaction and delivers it, signed, to
that server, which checks the signature and hands the event to the decision: retrain (clearance
first, then the model registered) or say why not."""

import hashlib
import hmac
import importlib.util
import json
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from rest_framework.authtoken.models import Token

from config.celery import app as celery_app
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


def post(url: str, body: bytes, **headers: str) -> int:
    return requests.post(
        url, data=body, headers={"Content-Type": "application/json", **headers}, timeout=10
    ).status_code


@pytest.fixture
def receiver_of(settings):
    """receiver_of(handle) → the example's webhook server on a loopback port, serving in a thread."""
    ct = load_example()
    settings.WEBHOOK_ALLOW_PRIVATE = True  # the live server checks the subscription's URL in this process
    servers = []

    def start(handle):
        server = ct.serve_webhook(0, "", handle, host="127.0.0.1")
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return ct, server, f"http://127.0.0.1:{server.server_port}/hooks/gouvernail"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_retrain_on_clean_versions_and_not_on_drift(
    live_server, live_worker_factory, receiver_of, owner, make_user
):
    # The worker delivers to a loopback receiver: allowed by the same setting as on the server.
    worker = live_worker_factory(extra_env={"WEBHOOK_ALLOW_PRIVATE": "1"})
    assert celery_app.conf.task_default_queue == worker.queue
    owner_token = Token.objects.create(user=owner).key
    pipeline = make_user("training_pipeline")
    base = live_server.url
    trained: list[tuple[str, int]] = []
    decisions: dict[int, object] = {}
    events: list[dict] = []

    def handle(event):  # the receiver's handler, on the receiver's own thread
        events.append(event)
        if event["event"] == "profile.finished":
            decision = ct.on_profile_finished(
                api, event["data"], train=train, model_namespace="mlflow://ml", model_name="credit-scorer"
            )
            decisions[decision.version] = decision

    def train(urn: str, number: int) -> None:
        trained.append((urn, number))  # a real pipeline reads urn@number here and fits its model

    ct, server, url = receiver_of(handle)
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
    subscription, server.secret = ct.subscribe(api, url, dataset_urn=dataset["urn"])

    def step(name: str, text: str):
        number = upload(base, owner_token, dataset["id"], name, text)
        return worker.wait_until(lambda: decisions.get(number), timeout=180)

    rows = credit_csv(400, seed=1)
    first = step("v1.csv", rows)
    assert first.retrain and first.model["version"] == "1", first.reason

    header, *lines = rows.splitlines()
    shuffled = "\n".join([header, *reversed(lines)]) + "\n"  # the same rows: no drift, quality passes
    second = step("v2.csv", shuffled)
    assert second.retrain, second.reason

    # Every application from the north now: values the suite allows, in other proportions.
    drifted = rows.replace(",south,", ",north,").replace(",east,", ",north,")
    third = step("v3.csv", drifted)
    assert not third.retrain and "version 3: drifted columns region" in third.reason, third.reason

    urn = dataset["urn"]
    assert trained == [(urn, 1), (urn, 2)]
    models = api.call("GET", "/api/v1/models/")["results"]
    assert sorted(m["version"] for m in models if m["name"] == "credit-scorer") == ["1", "2"]
    # What the event carried: the quality verdict and the drift figures, per column.
    third_event = next(e for e in events if e["data"]["version"] == 3)
    assert third_event["data"]["quality"]["success"] and third_event["data"]["quality"]["evaluated"] > 0
    region = third_event["data"]["drift"]["columns"]["region"]
    assert region["drifted"] and region["psi"] >= 0.2, third_event["data"]["drift"]
    # The monitor judges right after the profile is written: its PSI alert on version 3 follows.
    worker.wait_until(
        lambda: any(
            a["rule"]["metric"] == "psi" and a["version"] == 3
            for a in api.call("GET", "/api/v1/alerts/", dataset=dataset["id"], status="open")["results"]
        )
    )
    # Each event was delivered once, signed (the receiver refuses anything else), and logged so.
    assert sorted(e["data"]["version"] for e in events) == [1, 2, 3]
    log = api.call("GET", f"/api/v1/subscriptions/{subscription['id']}/deliveries")["results"]
    assert sorted(d["status"] for d in log) == ["delivered"] * 3, log


def test_the_webhook_receiver_checks_signatures_and_handles_a_delivery_once(receiver_of):
    handled: list[dict] = []
    ct, server, url = receiver_of(handled.append)
    body = json.dumps({"id": "e-1", "event": "profile.finished", "data": {}}).encode()
    signed = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert ct.signature_ok("s3cret", body, signed)
    assert not ct.signature_ok("s3cret", body + b" ", signed)
    assert not ct.signature_ok("other", body, signed) and not ct.signature_ok("s3cret", body, None)
    assert not ct.signature_ok("", body, "sha256=" + hmac.new(b"", body, hashlib.sha256).hexdigest())

    # No secret yet: nothing is trusted, not even a body signed with the empty key.
    empty = "sha256=" + hmac.new(b"", body, hashlib.sha256).hexdigest()
    assert post(url, body, **{"X-Gouvernail-Signature": empty, "X-Gouvernail-Delivery": "e-1"}) == 401
    server.secret = "s3cret"
    assert post(url, body, **{"X-Gouvernail-Signature": "sha256=00", "X-Gouvernail-Delivery": "e-1"}) == 401
    for _ in range(2):  # delivered twice (at least once): handled once
        assert post(url, body, **{"X-Gouvernail-Signature": signed, "X-Gouvernail-Delivery": "e-1"}) == 204
    deadline = time.monotonic() + 10
    while not handled and time.monotonic() < deadline:
        time.sleep(0.02)
    assert handled == [json.loads(body)]
    assert post(url, body + b" ", **{"X-Gouvernail-Signature": signed, "X-Gouvernail-Delivery": "e-2"}) == 401
