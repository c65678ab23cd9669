"""Clearance answers on a lineage graph that holds every event posted before the question
(LINEAGE_APPLY=deferred). The evaluation itself only reads; the clearance endpoint, the access panel
and model registration each fold the pending events first (lineage's catch_up, for up to
CLEARANCE_LINEAGE_WAIT_SECONDS), and while some posted before the question are still pending they
clear nothing and say why."""

import json

import pytest
from django.urls import reverse

from catalog.selectors import dataset_by_urn
from lineage.models import EventState, LineageEvent
from lineage.tests.events import ds, run_event

pytestmark = pytest.mark.django_db

T0 = "dataset:s3://lake:t0"
STILL_FOLDING = "3 events posted before this question are still being folded"


@pytest.fixture
def deferred(settings):
    settings.LINEAGE_APPLY = "deferred"
    # A wait of 0 s folds nothing: the three events posted before the question stay pending.
    settings.LINEAGE_READ_FOLD_SECONDS = 0
    return settings


def pending() -> int:
    return LineageEvent.objects.filter(state=EventState.PENDING).count()


def post_events(client, prefix: str, n: int = 3) -> None:
    for i in range(n):
        body = run_event(f"{prefix}_{i}", outputs=[ds("s3://lake", f"{prefix[0]}{i}")])
        r = client.post("/api/v1/lineage", json.dumps(body), content_type="application/json")
        assert r.status_code == 201, r.content


def reasons(answer: dict) -> str:
    return " ".join(answer["datasets"][0]["reasons"])


def test_the_clearance_endpoint_folds_the_backlog_first(deferred, owner, api_client_for):
    client = api_client_for(owner)
    post_events(client, "t")
    assert pending() == 3
    # Time enough: every event posted before the question is folded first.
    r = client.get("/api/v1/clearance", {"datasets": T0, "purpose": "training"})
    assert r.status_code == 200 and r.json()["allowed"] is True
    assert pending() == 0
    # Not enough: nothing is cleared, and the reason says why.
    deferred.CLEARANCE_LINEAGE_WAIT_SECONDS = 0
    post_events(client, "u")
    body = client.get("/api/v1/clearance", {"datasets": T0, "purpose": "training"}).json()
    assert pending() > 0 and body["allowed"] is False
    assert STILL_FOLDING in reasons(body)


def test_the_access_panel_folds_the_backlog_first(deferred, owner, api_client_for, client):
    post_events(api_client_for(owner), "t")
    client.force_login(owner)
    api_client_for(owner).get("/api/v1/clearance", {"datasets": T0, "purpose": "training"})
    url = reverse("governance:dataset-access", args=[dataset_by_urn(T0).pk])
    deferred.CLEARANCE_LINEAGE_WAIT_SECONDS = 0
    post_events(api_client_for(owner), "u")
    html = client.get(url).content.decode()
    assert STILL_FOLDING in html
    deferred.CLEARANCE_LINEAGE_WAIT_SECONDS = 10
    html = client.get(url).content.decode()
    assert "still being folded" not in html and pending() == 0


def test_a_model_registered_on_a_graph_behind_is_not_cleared(deferred, owner, api_client_for):
    client = api_client_for(owner)
    post_events(client, "t")
    client.get("/api/v1/clearance", {"datasets": T0, "purpose": "training"})  # folds t0..t2
    deferred.CLEARANCE_LINEAGE_WAIT_SECONDS = 0
    post_events(client, "u")
    body = {"namespace": "ml", "name": "m", "version": "1", "trained_on": [T0]}
    r = client.post("/api/v1/models/", body, format="json")
    assert r.status_code == 201, r.content
    assert r.json()["cleared"] is False
    assert STILL_FOLDING in reasons(r.json()["clearance"])
