"""Cached clearance answers: served again only while nothing they rest on has changed.

Every change below is made inside ``django_capture_on_commit_callbacks(execute=True)``: the cache is
invalidated after the change's transaction commits, as in production.
"""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog import services as catalog_services
from governance import access_requests, clearance_cache, dataset_policies
from governance.models import AccessRequest, ClearanceGeneration
from governance.tests.test_clearance import _approved, _ask

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def cached(settings):
    """The cache on, in this process's memory (the test run's Redis, if any, is left alone)."""
    settings.CLEARANCE_CACHE_SECONDS = 300
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    cache.clear()
    clearance_cache.bump()  # a generation, as after any committed change (nothing is cached before)


def test_the_same_question_again_is_answered_from_the_cache(
    requester, steward, make_dataset, api_client_for, django_assert_num_queries
):
    conf, public = make_dataset("confidential"), make_dataset("public")
    _approved(requester, [steward], [conf])
    client = api_client_for(requester)
    first = _ask(client, [conf, public])
    assert first.status_code == 200 and first.json()["allowed"] is True
    with django_assert_num_queries(2):  # the token and the generation; nothing of the answer
        again = _ask(client, [conf, public])
    assert again.status_code == 200 and again["Content-Type"] == "application/json"
    assert again.content == first.content
    # Another order, purpose or principal is another question.
    assert [d["urn"] for d in _ask(client, [public, conf]).json()["datasets"]] == [public.urn, conf.urn]
    assert _ask(client, [conf, public], purpose="evaluation").json()["allowed"] is False
    assert _ask(api_client_for(steward), [conf, public]).json()["allowed"] is False


def test_off_without_a_shared_cache(settings, requester, make_dataset, api_client_for):
    settings.CLEARANCE_CACHE_SECONDS = 0
    public = make_dataset("public")
    client = api_client_for(requester)
    assert _ask(client, [public]).json()["allowed"] is True
    with CaptureQueriesContext(connection) as queries:
        assert _ask(client, [public]).json()["allowed"] is True
    assert len(queries) > 1  # computed again


def test_a_revocation_refuses_the_next_question(
    requester, owner, steward, make_dataset, derive, api_client_for, django_capture_on_commit_callbacks
):
    source = make_dataset("restricted", name="raw/patients")
    features = make_dataset("internal", name="features/patients")
    with django_capture_on_commit_callbacks(execute=True):
        derive(features, source)
        req = _approved(requester, [steward, owner], [source])
    client = api_client_for(requester)
    assert _ask(client, [features]).json()["allowed"] is True
    assert _ask(client, [features]).json()["allowed"] is True  # cached
    with django_capture_on_commit_callbacks(execute=True):
        access_requests.revoke_access_request(actor=owner, request=req, comment="study over")
    again = _ask(client, [features]).json()
    assert again["allowed"] is False and again["datasets"][0]["upstream_blockers"] == [source.urn]


def test_a_stricter_sensitivity_is_seen_at_once(
    requester, owner, make_dataset, api_client_for, django_capture_on_commit_callbacks
):
    ds = make_dataset("internal")
    client = api_client_for(requester)
    assert _ask(client, [ds]).json()["allowed"] is True
    with django_capture_on_commit_callbacks(execute=True):
        catalog_services.update_dataset(actor=owner, dataset=ds, sensitivity="restricted")
    body = _ask(client, [ds]).json()
    assert body["allowed"] is False and body["datasets"][0]["sensitivity"] == "restricted"


def test_a_new_lineage_edge_from_a_restricted_source_is_seen_at_once(
    requester, make_dataset, derive, api_client_for, django_capture_on_commit_callbacks
):
    source = make_dataset("restricted", name="raw/claims")
    features = make_dataset("internal", name="features/claims")
    client = api_client_for(requester)
    assert _ask(client, [features]).json()["allowed"] is True
    with django_capture_on_commit_callbacks(execute=True):
        derive(features, source)
    body = _ask(client, [features]).json()
    assert body["allowed"] is False and body["datasets"][0]["upstream_blockers"] == [source.urn]


def test_an_answer_is_not_served_past_the_expiry_of_an_approval_it_rests_on(
    requester, steward, make_dataset, api_client_for, monkeypatch
):
    conf = make_dataset("confidential")
    req = _approved(requester, [steward], [conf])
    AccessRequest.objects.filter(pk=req.pk).update(expires_at=timezone.now() + timedelta(hours=1))
    client = api_client_for(requester)
    assert _ask(client, [conf]).json()["allowed"] is True
    # Two hours later (nothing changed in the database but the clock): the approval has expired.
    later = timezone.now() + timedelta(hours=2)
    AccessRequest.objects.filter(pk=req.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    monkeypatch.setattr(clearance_cache.time, "time", lambda: later.timestamp())
    body = _ask(client, [conf]).json()
    assert body["allowed"] is False and "expired" in body["datasets"][0]["reasons"][0]


def test_a_lost_generation_never_revives_an_old_answer(
    requester, steward, make_dataset, api_client_for, django_capture_on_commit_callbacks
):
    conf = make_dataset("confidential")
    req = _approved(requester, [steward], [conf])
    client = api_client_for(requester)
    assert _ask(client, [conf]).json()["allowed"] is True
    # The generation is lost (a flushed database), and a change is made meanwhile.
    ClearanceGeneration.objects.all().delete()
    AccessRequest.objects.filter(pk=req.pk).update(status="revoked")
    assert _ask(client, [conf]).json()["allowed"] is False


def test_profiles_and_audited_changes_move_the_generation(
    owner, make_dataset, django_capture_on_commit_callbacks
):
    from profiling import signals as profiling_signals

    ds = make_dataset("confidential")
    start = clearance_cache.generation() or 0
    profiling_signals.profile_finished.send(sender=None, version=None, status="failed")
    after_profile = clearance_cache.generation()
    assert after_profile > start
    with django_capture_on_commit_callbacks(execute=True):
        dataset_policies.set_dataset_policy(actor=owner, dataset=ds, require_quality_pass=True)
    after_policy = clearance_cache.generation()
    assert after_policy > after_profile


def test_nothing_is_cached_before_the_first_change_and_reading_writes_nothing(
    requester, make_dataset, api_client_for
):
    from tests.read_only import no_writes

    public = make_dataset("public")  # its commit callbacks (and their bump) never run here
    ClearanceGeneration.objects.all().delete()
    client = api_client_for(requester)
    with no_writes():
        assert _ask(client, [public]).json()["allowed"] is True
        assert _ask(client, [public]).json()["allowed"] is True
    assert not ClearanceGeneration.objects.exists()
    assert cache.get(clearance_cache._key(requester.pk, "training", [public.urn])) is None
    clearance_cache.bump()
    assert ClearanceGeneration.objects.get().value > 0


@pytest.mark.django_db(transaction=True)
def test_a_pending_lineage_event_is_folded_before_a_cached_answer_is_served(
    settings, requester, make_dataset, derive, api_client_for, monkeypatch
):
    """Deferred ingestion: the event is stored pending; the next question folds it first (as every
    lineage read does), the new edge moves the generation, and the cached answer is not served."""
    from lineage import fold as lineage_services
    from lineage.models import LineageEvent

    settings.LINEAGE_APPLY = "deferred"
    # The folder has not come round yet (its message is queued, or lost): only the read may fold.
    monkeypatch.setattr(lineage_services, "request_fold", lambda: None)
    source = make_dataset("restricted", name="raw/visits")
    features = make_dataset("internal", name="features/visits")
    client = api_client_for(requester)
    assert _ask(client, [features]).json()["allowed"] is True
    derive(features, source)
    assert LineageEvent.objects.filter(state="pending").count() == 1
    body = _ask(client, [features]).json()
    assert body["allowed"] is False and body["datasets"][0]["upstream_blockers"] == [source.urn]


def test_no_cached_answer_while_events_posted_before_the_question_wait_to_be_folded(
    settings, requester, make_dataset, derive, api_client_for, monkeypatch, django_capture_on_commit_callbacks
):
    """A backlog longer than CLEARANCE_LINEAGE_WAIT_SECONDS: the cached 'allowed' is not served, the
    answer clears nothing and says to ask again, and is not kept; once folded, the edge decides."""
    from lineage import fold as lineage_services

    settings.LINEAGE_APPLY = "deferred"
    monkeypatch.setattr(lineage_services, "request_fold", lambda: None)
    source = make_dataset("restricted", name="raw/visits")
    features = make_dataset("internal", name="features/visits")
    client = api_client_for(requester)
    assert _ask(client, [features]).json()["allowed"] is True  # cached
    derive(features, source)
    derive(features, make_dataset("internal", name="raw/other"), job="another_job")
    settings.CLEARANCE_LINEAGE_WAIT_SECONDS = 0
    settings.LINEAGE_READ_FOLD_SECONDS = 0
    body = _ask(client, [features]).json()  # no time to fold: both events are still pending
    assert body["allowed"] is False
    assert "still being folded" in " ".join(body["datasets"][0]["reasons"])
    settings.CLEARANCE_LINEAGE_WAIT_SECONDS = 10
    # Folded (as the endpoint's own catch-up would; here the folds' commits must run their hooks,
    # which move the generation, before the question is asked): the edge decides.
    with django_capture_on_commit_callbacks(execute=True):
        lineage_services.catch_up()
    body = _ask(client, [features]).json()
    assert body["allowed"] is False and body["datasets"][0]["upstream_blockers"] == [source.urn]
