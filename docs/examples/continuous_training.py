"""Continuous training with Gouvernail: retrain when a new version of the training data has been
profiled, passed its quality suite and did not drift; ask for clearance before reading a byte;
register the model with the exact version it learned from.

The receiver hears that a profile finished from Gouvernail itself: ``subscribe`` asks for the
``profile.finished`` events of the dataset (API.md "Monitoring and events"), and ``serve_webhook``
receives them: it checks the ``X-Gouvernail-Signature`` HMAC, de-duplicates on
``X-Gouvernail-Delivery``, answers at once and hands the event to ``on_profile_finished`` on a thread
of its own (training takes longer than a delivery may wait). Where Gouvernail cannot reach the
pipeline over HTTP, ``wait_for_profile`` polls the API instead and builds the same ``data``: a
fallback, not the way to start.

Standard library only, plus your training code and ``governance/client.py`` (one file, copy it).
docs/continuous-training.md walks through it; tests/integration/test_continuous_training.py runs it
against a live server and a real worker.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from governance.client import ClearanceDenied, require_clearance

log = logging.getLogger("continuous_training")


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


def subscribe(api: Api, url: str, *, dataset_urn: str) -> tuple[dict[str, Any], str]:
    """Have Gouvernail POST the dataset's ``profile.finished`` events to ``url`` → (the subscription,
    its secret). The secret is shown this once: keep it where the receiver reads it."""
    answer = api.call(
        "POST", "/api/v1/subscriptions/", {"events": ["profile.finished"], "dataset": dataset_urn, "url": url}
    )
    return answer, answer["secret"]


@dataclass
class Decision:
    retrain: bool
    reason: str
    model: dict | None = None
    version: int | None = None


def monitor_has_judged(api: Api, dataset_id: int, number: int, *, timeout: float = 60) -> bool:
    """Whether the dataset's monitor has judged version ``number`` (or has no rules to judge), waiting
    up to ``timeout`` seconds: the monitor judges a profile right after it is written, so its alerts
    may follow the ``profile.finished`` event by a moment."""
    deadline = time.monotonic() + timeout
    while True:
        monitor = api.call("GET", f"/api/v1/datasets/{dataset_id}/monitor")
        if not monitor["rules"] or (monitor["last_evaluated_version"] or 0) >= number:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)


def should_retrain(api: Api, data: dict[str, Any], *, monitor_timeout: float = 60) -> Decision:
    """The rule of the loop: a succeeded profile whose quality suite passed, with no drifted column
    against the previous version and no open alert of the dataset's monitor once it has judged this
    version (its reference may be a pinned training version, and its rules may watch more than drift)."""
    dataset, number = data["dataset"], data["version"]
    if data.get("status") != "succeeded":
        return Decision(False, f"version {number}: the profile {data.get('status')}", version=number)
    quality = data.get("quality")
    if not quality or not quality.get("success"):
        return Decision(
            False, f"version {number}: the quality suite did not pass ({quality})", version=number
        )
    drifted = (data.get("drift") or {}).get("drifted_columns") or []
    if drifted:
        return Decision(False, f"version {number}: drifted columns {', '.join(drifted)}", version=number)
    if not monitor_has_judged(api, dataset["id"], number, timeout=monitor_timeout):
        return Decision(False, f"version {number}: the monitor has not judged it yet", version=number)
    alerts = api.call("GET", "/api/v1/alerts/", dataset=dataset["id"], status="open")
    if alerts["count"]:
        messages = "; ".join(a["message"] for a in alerts["results"][:3])
        return Decision(
            False, f"version {number}: {alerts['count']} open alert(s): {messages}", version=number
        )
    return Decision(True, f"version {number}: quality passed, no drift, no open alert", version=number)


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
        return Decision(False, f"version {number}: not cleared: {denied}", version=number)
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
    return Decision(True, decision.reason + f"; model {model_name} {number} registered", model, number)


# ---------------------------------------------------------------------------------------------
# Hearing of finished profiles: a signed webhook

MAX_BODY = 1 << 20  # Gouvernail's events are a few KB


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """``X-Gouvernail-Signature: sha256=<hex HMAC-SHA256 of the body with the subscription's secret>``,
    checked on the raw bytes, in constant time. No secret: nothing is trusted."""
    if not secret or not header:
        return False
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)


class _Receiver(BaseHTTPRequestHandler):
    server: WebhookServer

    def do_POST(self) -> None:  # noqa: N802 -- http.server's name
        self._answer(self._receive())

    def _receive(self) -> int:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return 413
        body = self.rfile.read(length)  # the raw bytes, as signed
        if not signature_ok(self.server.secret, body, self.headers.get("X-Gouvernail-Signature")):
            return 401
        try:
            event = json.loads(body)
        except ValueError:
            return 400
        self.server.accept(self.headers.get("X-Gouvernail-Delivery") or str(event.get("id")), event)
        return 204

    def _answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


class WebhookServer(ThreadingHTTPServer):
    """The receiver of a subscription's URL (see ``serve_webhook``). ``secret`` may be set after it
    is bound (subscribe with its URL, then give it the secret the answer showed); until then every
    POST is refused."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], secret: str, handle: Callable[[dict[str, Any]], Any]):
        super().__init__(address, _Receiver)
        self.secret, self.handle = secret, handle
        self._seen: set[str] = set()  # a real receiver keeps these in its database
        self._lock = threading.Lock()
        self._events: queue.Queue = queue.Queue()
        self._worker = threading.Thread(target=self._work, name="gouvernail-events", daemon=True)
        self._worker.start()

    def accept(self, delivery: str, event: dict[str, Any]) -> bool:
        """Queue an event for ``handle`` unless this delivery was seen before → whether it was new."""
        with self._lock:
            if delivery in self._seen:
                return False  # deliveries are at least once: this one arrived again
            self._seen.add(delivery)
        self._events.put((delivery, event))
        return True

    def _work(self) -> None:
        """Handle the events one after the other, in the order they arrived."""
        while (item := self._events.get()) is not None:
            delivery, event = item
            try:
                self.handle(event)
            except Exception:  # noqa: BLE001 -- one event must not stop the receiver
                log.exception("event %s not handled; 'deliver again' in Gouvernail sends it anew", delivery)
                with self._lock:
                    self._seen.discard(delivery)

    def server_close(self) -> None:
        self._events.put(None)
        super().server_close()


def serve_webhook(
    port: int,
    secret: str,
    handle: Callable[[dict[str, Any]], Any],
    *,
    host: str = "0.0.0.0",  # noqa: S104
) -> WebhookServer:
    """A receiver for the subscription's URL: 401 on a bad signature, else 204 at once, and
    ``handle(event)`` runs on the receiver's own thread, one event after the other (a delivery seen
    before is answered 204 and not handled again: deliveries are at least once; one that ``handle``
    failed on may be delivered again from Gouvernail's delivery log). Call ``serve_forever()`` on the
    answer; put it behind HTTPS in production.

    It answers before handling because a delivery waits at most WEBHOOK_TIMEOUT_SECONDS (5) and is
    sent again after a timeout, while training takes minutes. What it has accepted lives in memory:
    a production receiver writes the event to its database or job queue before answering, so that a
    crash after the 204 loses nothing."""
    return WebhookServer((host, port), secret, handle)


# ---------------------------------------------------------------------------------------------
# The fallback: polling the API, where Gouvernail cannot reach the pipeline


def wait_for_profile(
    api: Api, dataset: dict[str, Any], number: int, *, timeout: float = 300
) -> dict[str, Any]:
    """Poll until version ``number``'s profile has finished and the dataset's monitor has judged it
    → the data a ``profile.finished`` event would carry (its quality and drift parts)."""
    deadline = time.monotonic() + timeout
    path = f"/api/v1/datasets/{dataset['id']}/versions/{number}/profile/"
    while True:
        profile = api.call("GET", path)
        if profile["status"] == "failed" or (
            profile["status"] == "succeeded" and monitor_has_judged(api, dataset["id"], number, timeout=0)
        ):
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


if __name__ == "__main__":
    import os

    logging.basicConfig(level=logging.INFO)
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

    # WEBHOOK_SECRET: the secret ``subscribe`` (or POST /api/v1/subscriptions/) answered, once.
    serve_webhook(int(os.environ.get("PORT", "8088")), os.environ["WEBHOOK_SECRET"], handle).serve_forever()
