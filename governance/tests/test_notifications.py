"""Every transition tells the people concerned: e-mail always, a signed webhook when configured."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core import mail

from governance import access_requests, notifications

pytestmark = pytest.mark.django_db


class _Receiver(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook_server(settings):
    """A real HTTP server on a loopback port, in a thread, recording what it receives."""
    _Receiver.received = []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.GOVERNANCE_WEBHOOK_URL = f"http://127.0.0.1:{server.server_port}/hooks/gouvernail"
    settings.GOVERNANCE_WEBHOOK_SECRET = "s3cret-for-tests"
    yield _Receiver.received
    server.shutdown()
    server.server_close()


def test_emails_on_each_transition(
    requester, owner, steward, steward2, make_dataset, django_capture_on_commit_callbacks
):
    ds = make_dataset("restricted")
    with django_capture_on_commit_callbacks(execute=True):
        req = access_requests.create_access_request(
            actor=requester, datasets=[ds.urn], purpose="training", justification="x", model_name="fraud"
        )
    created = mail.outbox[-1]
    assert "created" in created.subject and f"#{req.pk}" in created.subject
    # The deciders hear of it; the requester does not need to be told what they did.
    assert set(created.to) == {owner.email, steward.email, steward2.email}
    assert ds.urn in created.body and "fraud" in created.body

    with django_capture_on_commit_callbacks(execute=True):
        access_requests.approve_access_request(actor=steward, request=req, comment="ok from me")
    assert "approval" in mail.outbox[-1].subject and requester.email in mail.outbox[-1].to
    assert steward.email not in mail.outbox[-1].to and "ok from me" in mail.outbox[-1].body
    with django_capture_on_commit_callbacks(execute=True):
        access_requests.approve_access_request(actor=owner, request=req)
    assert "approved" in mail.outbox[-1].subject
    with django_capture_on_commit_callbacks(execute=True):
        access_requests.revoke_access_request(actor=steward2, request=req)
    assert "revoked" in mail.outbox[-1].subject and len(mail.outbox) == 4


def test_nothing_is_sent_when_the_transaction_rolls_back(
    requester, make_dataset, django_capture_on_commit_callbacks
):
    ds = make_dataset("confidential")
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(Exception):  # noqa: B017
            access_requests.create_access_request(
                actor=requester, datasets=[ds.urn, "dataset:x:missing"], purpose="training", justification="x"
            )
    assert mail.outbox == []


def test_signed_webhook_reaches_a_real_server(
    requester, steward, make_dataset, webhook_server, django_capture_on_commit_callbacks
):
    ds = make_dataset("confidential")
    with django_capture_on_commit_callbacks(execute=True):
        req = access_requests.create_access_request(
            actor=requester, datasets=[ds.urn], purpose="training", justification="x"
        )
    with django_capture_on_commit_callbacks(execute=True):
        access_requests.approve_access_request(actor=steward, request=req)
    assert len(webhook_server) == 2
    headers, body = webhook_server[-1]
    signature = headers[notifications.SIGNATURE_HEADER]
    assert signature.startswith("sha256=")
    assert notifications.verify(body, "s3cret-for-tests", signature)
    assert not notifications.verify(body, "wrong-secret", signature)
    assert not notifications.verify(body.replace(b"approved", b"rejected"), "s3cret-for-tests", signature)
    data = json.loads(body)
    assert data["event"] == "access_request.approved"
    assert data["access_request"]["id"] == req.pk and data["access_request"]["status"] == "approved"
    assert data["actor"] == steward.username and data["access_request"]["datasets"] == [ds.urn]


def test_no_webhook_without_both_settings(settings):
    settings.GOVERNANCE_WEBHOOK_URL = "http://127.0.0.1:9/"
    settings.GOVERNANCE_WEBHOOK_SECRET = ""
    assert notifications.webhook_configured() is False


def test_each_message_states_the_status_its_step_produced(requester, owner, steward, make_dataset):
    """QA G11: steps sent after later steps (the task runs late) stated the request's status then."""
    from governance.models import AccessRequestEvent

    ds = make_dataset("restricted")
    req = access_requests.create_access_request(
        actor=requester, datasets=[ds.urn], purpose="training", justification="x"
    )
    access_requests.approve_access_request(actor=steward, request=req)
    access_requests.approve_access_request(actor=owner, request=req)
    access_requests.revoke_access_request(actor=steward, request=req)
    # Only now do the notifications go out, as when a worker catches up with a queue.
    events = list(AccessRequestEvent.objects.filter(request=req).order_by("id"))
    steps = [(e.action, notifications.payload(e)["access_request"]) for e in events]
    assert [(a, p["from_status"], p["status"], p["status_now"]) for a, p in steps] == [
        ("created", None, "pending", "revoked"),
        ("approval", "pending", "pending", "revoked"),
        ("approved", "pending", "approved", "revoked"),
        ("revoked", "approved", "revoked", "revoked"),
    ]
    mail.outbox.clear()
    notifications.send_emails(events[0])
    assert mail.outbox[-1].subject.endswith("created: pending") and "(new → pending)" in mail.outbox[-1].body
