"""Cached clearance answers across processes: a change made in a worker reaches the web's cache."""

import pytest
from django.conf import settings

from catalog import services as catalog_services
from config.celery import app
from governance import access_requests
from governance.models import AccessRequest

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.mark.skipif(
    "redis" not in settings.CACHES["default"]["BACKEND"].lower(),
    reason="needs the shared cache of production (set REDIS_URL=redis://...)",
)
def test_a_revocation_made_by_a_worker_refuses_the_next_question(
    live_worker_factory, settings, make_user, owner, steward, api_client_for
):
    settings.CLEARANCE_CACHE_SECONDS = 300
    worker = live_worker_factory(include=("tests.integration.tasks",))
    requester = make_user("rita_shared_cache")
    conf = catalog_services.create_dataset(
        actor=owner,
        namespace="s3://lake",
        name="warehouse/shared_cache",
        sensitivity="confidential",
        stewards=[steward.username],
    )
    req = access_requests.create_access_request(
        actor=requester, datasets=[conf.urn], purpose="training", justification="needed"
    )
    access_requests.approve_access_request(actor=steward, request=req)
    client = api_client_for(requester)
    url = f"/api/v1/clearance?datasets={conf.urn}&purpose=training"
    assert client.get(url).json()["allowed"] is True
    assert client.get(url).json()["allowed"] is True  # now from the cache

    app.send_task("tests.integration.tasks.revoke_access_request", args=[req.pk, owner.username])
    worker.wait_until(lambda: AccessRequest.objects.get(pk=req.pk).status == "revoked")
    body = client.get(url).json()
    assert body["allowed"] is False
    assert f"access request #{req.pk} for training is revoked" in body["datasets"][0]["reasons"][0]
