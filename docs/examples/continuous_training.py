"""Continuous training with Gouvernail: retrain when a new version of the training data has been
profiled, passed its quality suite and did not drift; ask for clearance before reading a byte;
register the model with the exact version it learned from.

One decision (``on_profile_finished``), two ways to hear that a profile finished:

* a webhook subscription to ``profile.finished`` (API.md "Monitoring and events"):
  ``serve_webhook(...)`` checks the ``X-Gouvernail-Signature`` HMAC and de-duplicates on
  ``X-Gouvernail-Delivery``, then calls ``on_profile_finished`` with the event's ``data``;
* polling the API (``wait_for_profile``), for installations without subscriptions: it builds the
  same ``data`` from ``GET .../profile/`` and waits until the dataset's monitor has judged it.

Standard library only, plus your training code and ``governance/client.py`` (one file, copy it).
docs/continuous-training.md walks through it; tests/integration/test_continuous_training.py runs it
against a live server and a real worker.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from governance.client import ClearanceDenied, require_clearance


class Api:
    """A few calls of Gouvernail's REST API with a token (``Authorization: Token <key>``)."""

    def __init__(self, base_url: str, token: str, timeout: float = 30) -> None:
        self.base_url, self.token, self.timeout = base_url.rstrip("/"), token, timeout

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        url = self.base_url + path + ("?" + urllib.parse.urlencode(params) if params else "")
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 -- the server's URL
        request.add_header("Authorization", f"Token {self.token}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310
            return json.loads(answer.read() or b"null")


@dataclass
class Decision:
    retrain: bool
    reason: str
    model: dict | None = None


def should_retrain(api: Api, data: dict[str, Any]) -> Decision:
    """The rule of the loop: a succeeded profile whose quality suite passed, with no drifted column
    against the previous version and no open alert of the dataset's monitor (whose reference may be
    a pinned training version, and whose rules may watch more than drift)."""
    dataset, number = data["dataset"], data["version"]
    if data.get("status") != "succeeded":
        return Decision(False, f"version {number}: the profile {data.get('status')}")
    quality = data.get("quality")
    if not quality or not quality.get("success"):
        return Decision(False, f"version {number}: the quality suite did not pass ({quality})")
    drifted = (data.get("drift") or {}).get("drifted_columns") or []
    if drifted:
        return Decision(False, f"version {number}: drifted columns {', '.join(drifted)}")
    alerts = api.call("GET", "/api/v1/alerts/", dataset=dataset["id"], status="open")
    if alerts["count"]:
        messages = "; ".join(a["message"] for a in alerts["results"][:3])
        return Decision(False, f"version {number}: {alerts['count']} open alert(s): {messages}")
    return Decision(True, f"version {number}: quality passed, no drift, no open alert")


def on_profile_finished(
    api: Api,
    data: dict[str, Any],
    *,
    train: Callable[[str, int], Any],
    model_namespace: str,
    model_name: str,
) -> Decision:
    """Handle one ``profile.finished`` event: decide, ask for clearance, train, register the model.
    ``train(dataset_urn, version_number)`` reads the data and fits the model (your code)."""
    decision = should_retrain(api, data)
    if not decision.retrain:
        return decision
    urn, number = data["dataset"]["urn"], data["version"]
    try:
        require_clearance([urn], "training", base_url=api.base_url, token=api.token)
    except ClearanceDenied as denied:
        return Decision(False, f"version {number}: not cleared: {denied}")
    train(urn, number)
    model = api.call(
        "POST",
        "/api/v1/models/",
        {
            "namespace": model_namespace,
            "name": model_name,
            "version": str(number),
            "trained_on": [f"{urn}@{number}"],
        },
    )
    return Decision(True, decision.reason + f"; model {model_name} {number} registered", model)


# ---------------------------------------------------------------------------------------------
# Hearing of finished profiles: polling the API


def wait_for_profile(
    api: Api, dataset: dict[str, Any], number: int, *, timeout: float = 300
) -> dict[str, Any]:
    """Poll until version ``number``'s profile has finished and the dataset's monitor has judged it
    → the data a ``profile.finished`` event would carry."""
    deadline = time.monotonic() + timeout
    path = f"/api/v1/datasets/{dataset['id']}/versions/{number}/profile/"
    while True:
        profile = api.call("GET", path)
        if profile["status"] in ("succeeded", "failed"):
            judged = api.call("GET", f"/api/v1/datasets/{dataset['id']}/monitor")["last_evaluated_version"]
            if profile["status"] == "failed" or (judged or 0) >= number:
                break
        if time.monotonic() > deadline:
            raise TimeoutError(f"the profile of version {number} did not finish in {timeout:.0f} s")
        time.sleep(0.5)
    drift = profile.get("drift") or {}
    quality = profile.get("quality")
    return {
        "dataset": dataset,
        "version": number,
        "status": profile["status"],
        "quality": {"success": quality["success"], "score": quality["score"]}
        if quality and quality.get("results")
        else None,
        "drift": {
            "previous_version": drift.get("previous_version"),
            "drifted_columns": sorted(n for n, c in (drift.get("columns") or {}).items() if c.get("drifted")),
        }
        if drift
        else None,
    }


# ---------------------------------------------------------------------------------------------
# Hearing of finished profiles: a signed webhook


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """``X-Gouvernail-Signature: sha256=<hex HMAC-SHA256 of the body with the subscription's secret>``."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return bool(header) and hmac.compare_digest(expected, header)


def serve_webhook(port: int, secret: str, handle: Callable[[dict[str, Any]], Any]) -> ThreadingHTTPServer:
    """A receiver for the subscription's URL: 401 on a bad signature, 200 once ``handle(event)`` is
    done (a delivery seen before is answered 200 at once: deliveries are at least once). Call
    ``serve_forever()`` on the answer; put it behind HTTPS in production."""
    seen: set[str] = set()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 -- http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if not signature_ok(secret, body, self.headers.get("X-Gouvernail-Signature")):
                self.send_response(401)
                self.end_headers()
                return
            delivery = self.headers.get("X-Gouvernail-Delivery", "")
            if delivery not in seen:
                handle(json.loads(body))
                seen.add(delivery)
            self.send_response(200)
            self.end_headers()

    return ThreadingHTTPServer(("0.0.0.0", port), Receiver)  # noqa: S104 -- a receiver listens


if __name__ == "__main__":
    import os

    api = Api(os.environ["GOUVERNAIL_URL"], os.environ["GOUVERNAIL_TOKEN"])

    def train(urn: str, number: int) -> None:
        print(f"training on {urn}@{number}")  # your training code: read the version, fit, save

    def handle(event: dict[str, Any]) -> None:
        if event.get("event") == "profile.finished":
            print(
                on_profile_finished(
                    api, event["data"], train=train, model_namespace="mlflow://ml", model_name="scorer"
                )
            )

    serve_webhook(int(os.environ.get("PORT", "8088")), os.environ["WEBHOOK_SECRET"], handle).serve_forever()
