"""The lease rules of catalog.leases, on a source scan (an MLflow sync takes the same rules):
claimed once, taken over when the worker died, abandoned after its attempts, ended by its holder only,
re-queued when stale, and a worker that lost its lease stops."""

from datetime import timedelta

import pytest
from django.utils import timezone

from catalog import leases, sources
from catalog.models import OutboxMessage, ScanStatus, SourceScan

pytestmark = pytest.mark.django_db

TASK = "catalog.run_scan"


@pytest.fixture
def scan(staff, owner, data_root):
    (data_root / "lake").mkdir()
    source = sources.create_source(
        actor=staff, name="lake", kind="folder", uri=(data_root / "lake").as_uri(), owner=owner.username
    )
    return SourceScan.objects.create(source=source)


def claim(scan, token, **kwargs):
    kwargs.setdefault("max_attempts", 3)
    kwargs.setdefault(
        "abandon", lambda job, message: leases.end(SourceScan, job.pk, status="failed", errors=[message])
    )
    return leases.claim(SourceScan, scan.pk, token, lease_seconds=60, **kwargs)


def test_a_job_is_claimed_once_while_its_lease_lives(scan):
    job, state = claim(scan, "a")
    assert state == "claimed" and job.status == "running" and job.claim_token == "a" and job.attempts == 1
    assert claim(scan, "b") == (None, "busy")


def test_a_job_whose_worker_died_is_taken_over_and_the_first_holder_cannot_end_it(scan):
    claim(scan, "a")
    SourceScan.objects.filter(pk=scan.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=61))
    job, state = claim(scan, "b")
    assert state == "claimed" and job.claim_token == "b" and job.attempts == 2
    assert not leases.end(SourceScan, scan.pk, status=ScanStatus.SUCCEEDED, token="a")
    assert leases.end(SourceScan, scan.pk, status=ScanStatus.SUCCEEDED, token="b", found=3)
    scan.refresh_from_db()
    assert (scan.status, scan.found, scan.claim_token) == ("succeeded", 3, "")
    assert scan.finished_at is not None
    assert claim(scan, "c") == (None, "done-before")


def test_a_job_is_abandoned_after_its_attempts_with_the_reason(scan):
    SourceScan.objects.filter(pk=scan.pk).update(attempts=3)
    assert claim(scan, "a") == (None, "failed")
    scan.refresh_from_db()
    assert scan.status == "failed"
    assert scan.errors == ["The scan was abandoned after 3 attempts: its worker stopped each time."]


def test_a_request_answers_the_active_job_and_requeues_it_when_its_worker_died(scan):
    first = leases.request(SourceScan, task=TASK, lease_seconds=60, active={"source": scan.source}, create={})
    assert first.pk == scan.pk  # the pending one, no second job
    assert SourceScan.objects.count() == 1
    claim(scan, "a")
    SourceScan.objects.filter(pk=scan.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=61))
    before = OutboxMessage.objects.filter(task=TASK).count()
    assert (
        leases.request(SourceScan, task=TASK, lease_seconds=60, active={"source": scan.source}, create={})
        == scan
    )
    assert OutboxMessage.objects.filter(task=TASK).count() == before + 1


def test_stale_jobs_are_the_silent_running_ones_and_the_long_pending_ones(scan):
    assert not leases.stale(SourceScan, lease_seconds=60).exists()
    SourceScan.objects.filter(pk=scan.pk).update(created_at=timezone.now() - timedelta(seconds=121))
    assert list(leases.stale(SourceScan, lease_seconds=60)) == [scan]
    claim(scan, "a")
    assert not leases.stale(SourceScan, lease_seconds=60).exists()  # beating
    SourceScan.objects.filter(pk=scan.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=61))
    assert leases.requeue_stale(SourceScan, task=TASK, lease_seconds=60) == [scan.pk]


def test_a_worker_that_lost_its_lease_stops_at_its_next_progress(scan):
    claim(scan, "a")
    with leases.Lease(SourceScan, scan.pk, "a", lease_seconds=60) as lease:
        lease.progress({"found": 1}, force=True)
        SourceScan.objects.filter(pk=scan.pk).update(claim_token="b")  # taken over
        with pytest.raises(leases.LostLease):
            lease.progress({"found": 2}, force=True)
    scan.refresh_from_db()
    assert scan.found == 1


@pytest.mark.django_db(transaction=True)  # the heartbeat's thread has its own connection
def test_the_heartbeat_beats_from_its_thread(scan):
    claim(scan, "a")
    SourceScan.objects.filter(pk=scan.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=30))
    with leases.Lease(SourceScan, scan.pk, "a", lease_seconds=0.8) as lease:
        lease.heartbeat.stop.wait(0.7)
        assert not lease.lost.is_set()
    scan.refresh_from_db()
    assert scan.heartbeat_at > timezone.now() - timedelta(seconds=5)
