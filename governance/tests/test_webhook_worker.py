"""The webhook through a real Celery worker: queued after commit, retried when the receiver fails."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from governance import access_requests, notifications

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SECRET = "integration-secret"


class _FlakyReceiver(BaseHTTPRequestHandler):
    """Answers 503 to the first POST (a receiver being deployed), 204 afterwards."""

    received: list = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.headers[notifications.SIGNATURE_HEADER], body))
        self.send_response(503 if len(type(self).received) == 1 else 204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_webhook_is_retried_by_the_worker(requester, make_dataset, live_worker_factory):
    _FlakyReceiver.received = []
    server = HTTPServer(("127.0.0.1", 0), _FlakyReceiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        worker = live_worker_factory(
            extra_env={
                "GOVERNANCE_WEBHOOK_URL": f"http://127.0.0.1:{server.server_port}/hook",
                "GOVERNANCE_WEBHOOK_SECRET": SECRET,
                "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            }
        )
        ds = make_dataset("confidential")
        req = access_requests.create_access_request(
            actor=requester, datasets=[ds.urn], purpose="training", justification="x"
        )
        worker.wait_until(lambda: len(_FlakyReceiver.received) >= 2, timeout=60)
        (sig1, body1), (sig2, body2) = _FlakyReceiver.received[:2]
        assert body1 == body2 and sig1 == sig2  # the same event, delivered again
        assert notifications.verify(body2, SECRET, sig2)
        assert json.loads(body2)["access_request"]["id"] == req.pk
    finally:
        server.shutdown()
        server.server_close()
