"""Redis taken away from a production-configured process (cache and broker both on Redis), then back.

A cache outage degrades to the database (every answer 2xx, computed afresh), a committed version
keeps its file, notifications wait in the outbox while the broker is down and a worker sends them
once it is back, and no cached clearance answer outlives a change made during the outage.
"""

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core.files.storage import default_storage

from catalog import outbox
from catalog.models import DatasetVersion, OutboxMessage
from config.celery import app
from governance.models import AccessRequestEvent
from tests.integration.redis_server import celery_broker, production_settings

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SECRET = "outage-secret"


class _Receiver(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        type(self).received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook_receiver():
    _Receiver.received = []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", _Receiver.received
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def on_private_redis(private_redis, settings, live_worker_factory):
    """This process configured as production is with REDIS_URL and a Redis broker (the private
    server's databases 0 and 1); tasks are published, not run inline (live_worker_factory's doing)."""
    prod = production_settings(
        REDIS_URL=private_redis.url(0), CELERY_BROKER_URL=private_redis.url(1), DEBUG="1"
    )
    settings.CACHES = prod["CACHES"]
    settings.CLEARANCE_CACHE_SECONDS = prod["CLEARANCE_CACHE_SECONDS"]
    settings.API_WRITE_RATE = prod["API_WRITE_RATE"]  # the write throttle counts in the cache
    assert settings.CLEARANCE_CACHE_SECONDS > 0 and settings.API_WRITE_RATE
    outbox._broker_down_until = 0.0
    with celery_broker(private_redis.url(1)):
        yield private_redis
    outbox._broker_down_until = 0.0  # this process's pause after the outage must not reach other tests


def _csv(name: str = "rows.csv") -> io.BytesIO:
    fh = io.BytesIO(b"id,amount\n1,10\n2,20\n3,30\n")
    fh.name = name
    return fh


def test_writes_and_clearance_answer_while_redis_is_down_and_notifications_follow(
    on_private_redis, live_worker_factory, webhook_receiver, make_user, api_client_for
):
    owner, steward = make_user("olga_owner", email="olga@example.org"), make_user("stu_steward")
    requester = make_user("rhea_requester", email="rhea@example.org")
    hook_url, received = webhook_receiver
    on_private_redis.stop()

    as_owner = api_client_for(owner)
    created = as_owner.post(
        "/api/v1/datasets/",
        {
            "namespace": "s3://lake",
            "name": "outage/orders",
            "sensitivity": "confidential",
            "stewards": [steward.username],
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    ds = created.json()

    uploaded = as_owner.post(f"/api/v1/datasets/{ds['id']}/versions/", {"file": _csv()}, format="multipart")
    assert uploaded.status_code == 201, uploaded.content
    version = DatasetVersion.objects.get(dataset_id=ds["id"], number=uploaded.json()["number"])
    assert default_storage.exists(version.file.name), "the committed version lost its file"

    asked = api_client_for(requester).post(
        "/api/v1/access-requests/",
        {"datasets": [ds["urn"]], "purpose": "training", "justification": "fraud model"},
        format="json",
    )
    assert asked.status_code == 201, asked.content
    rid = asked.json()["id"]
    approved = api_client_for(steward).post(f"/api/v1/access-requests/{rid}/approve", format="json")
    assert approved.status_code == 200, approved.content

    clearance = api_client_for(requester).get(f"/api/v1/clearance?datasets={ds['urn']}&purpose=training")
    assert clearance.status_code == 200, clearance.content
    assert clearance.json()["allowed"] is True

    waiting = OutboxMessage.objects.filter(
        sent_at__isnull=True, task="governance.tasks.notify_access_request_event"
    )
    assert waiting.count() == 2  # the two steps' notifications, kept while the broker was down

    # The broker is back (empty, as after a restart without persistence): a worker starting sends
    # what the outbox kept, oldest first, once each.
    on_private_redis.start()
    worker = live_worker_factory(
        extra_env={
            "REDIS_URL": on_private_redis.url(0),
            # What the worker itself queues (the outbox it sweeps) goes to the queue it listens on.
            "CELERY_TASK_DEFAULT_QUEUE": app.conf.task_default_queue,
            "GOVERNANCE_WEBHOOK_URL": hook_url,
            "GOVERNANCE_WEBHOOK_SECRET": SECRET,
        }
    )
    worker.wait_until(lambda: len(received) >= 2, timeout=60)
    assert [(m["event"], m["access_request"]["id"]) for m in received] == [
        ("access_request.created", rid),
        ("access_request.approved", rid),
    ]
    assert AccessRequestEvent.objects.filter(request_id=rid).count() == 2
    worker.wait_until(lambda: not OutboxMessage.objects.filter(sent_at__isnull=True).exists())
    # The e-mails (console backend): sent is not yet run, and the webhooks may have gone first (one
    # delivery run, queued by an earlier event's message, delivers every event waiting).
    worker.wait_until(lambda: f"Access request #{rid} created" in worker.log())


def test_no_cached_clearance_answer_outlives_a_change_made_while_redis_was_down(
    on_private_redis, make_user, api_client_for
):
    """Redis comes back with what it held (persistence, or it was only out of reach): the answer it
    cached before the outage must not be served after a revocation made during the outage."""
    from catalog import services as catalog_services
    from governance import access_requests

    owner, steward, requester = make_user("o_owner"), make_user("s_steward"), make_user("r_requester")
    ds = catalog_services.create_dataset(
        actor=owner,
        namespace="s3://lake",
        name="outage/claims",
        sensitivity="confidential",
        stewards=[steward.username],
    )
    req = access_requests.create_access_request(
        actor=requester, datasets=[ds.urn], purpose="training", justification="x"
    )
    access_requests.approve_access_request(actor=steward, request=req)
    client = api_client_for(requester)
    url = f"/api/v1/clearance?datasets={ds.urn}&purpose=training"
    assert client.get(url).json()["allowed"] is True
    assert client.get(url).json()["allowed"] is True  # served from the cache now

    on_private_redis.stop(keep_data=True)
    revoked = api_client_for(owner).post(f"/api/v1/access-requests/{req.pk}/revoke", format="json")
    assert revoked.status_code == 200, revoked.content
    assert client.get(url).json()["allowed"] is False  # computed from the database meanwhile

    on_private_redis.start()
    assert on_private_redis.client().dbsize() > 0  # the old answer is back in Redis
    body = client.get(url).json()
    assert body["allowed"] is False, body
