"""The lower apps' events are written in the transaction of their change: there before it commits,
gone when it rolls back, and a change whose event cannot be written fails whole (nothing committed
without its event, nothing announced that did not happen)."""

import uuid

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import OperationalError, transaction

from catalog import scans
from catalog import versions as catalog_versions
from catalog.models import DatasetVersion, OutboxMessage, ScanStatus, Source, SourceScan
from governance import events
from governance.models import Event
from governance.tests.conftest import credit_csv
from profiling import alerts, jobs, monitors, runner
from profiling.models import Alert, ProfileRun, RunStatus

pytestmark = pytest.mark.django_db


class Boom(Exception):
    """The rest of the change failed after its event was written."""


def recorded(name: str | None = None) -> list[Event]:
    qs = Event.objects.order_by("pk")
    return list(qs.filter(name=name) if name else qs)


def deliveries_queued() -> int:
    return OutboxMessage.objects.filter(task=events.DELIVER_TASK).count()


@pytest.fixture
def failing_record(monkeypatch):
    """failing_record("profile.finished") → events.record raises OperationalError (a database that
    went away) for that event name; other names are recorded as usual."""
    real = events.record

    def arm(*names: str):
        def record(name, *args, **kwargs):
            if name in names:
                raise OperationalError(f"{name} could not be written")
            return real(name, *args, **kwargs)

        monkeypatch.setattr(events, "record", record)

    return arm


def test_version_stored_is_written_with_the_version_and_rolls_back_with_it(owner, make_dataset, data_root):
    ds = make_dataset("internal")
    path = data_root / "v1.csv"
    path.write_text(credit_csv(20))
    with pytest.raises(Boom), transaction.atomic():
        version, _ = catalog_versions.add_version_from_uri(actor=owner, dataset=ds, uri=path.as_uri())
        # Before any commit, and before any after-commit hook ran: in the version's transaction.
        [event] = recorded("version.stored")
        assert event.data["version"]["number"] == version.number and event.dataset_ids == [ds.pk]
        assert deliveries_queued() == 1
        raise Boom
    assert not DatasetVersion.objects.filter(dataset=ds).exists()
    assert recorded() == [] and deliveries_queued() == 0


def test_a_version_whose_event_cannot_be_written_is_not_stored(
    owner, make_dataset, failing_record, settings, tmp_path
):
    settings.MEDIA_ROOT = str(tmp_path)  # this test's own: files of earlier tests do not count
    ds = make_dataset("internal")
    failing_record("version.stored")
    upload = SimpleUploadedFile("v1.csv", credit_csv(20).encode(), content_type="text/csv")
    with pytest.raises(OperationalError):
        catalog_versions.add_version_from_upload(actor=owner, dataset=ds, upload=upload)
    # Nothing half-written: no row, no stored file, no event; the uploader is told and sends it again.
    assert not DatasetVersion.objects.filter(dataset=ds).exists()
    folder = f"versions/{ds.pk}"
    assert not default_storage.exists(folder) or default_storage.listdir(folder)[1] == []
    assert recorded() == [] and deliveries_queued() == 0


def _pending_run(owner, ds, data_root, rows: str) -> ProfileRun:
    """A stored version and its pending profile job, queued but not run (the test runs it)."""
    path = data_root / f"{uuid.uuid4().hex}.csv"
    path.write_text(rows)
    version, _ = catalog_versions.add_version_from_uri(actor=owner, dataset=ds, uri=path.as_uri())
    return jobs.queue_profile(version=version)


def test_a_profile_whose_event_cannot_be_written_is_retried_and_then_announced_once(
    owner, make_dataset, data_root, failing_record, monkeypatch
):
    ds = make_dataset("internal")
    run = _pending_run(owner, ds, data_root, credit_csv(40))
    failing_record("profile.finished")
    with pytest.raises(runner.TransientProfileError):
        runner.execute_profile_run(run_id=run.pk, heartbeat=False)
    run.refresh_from_db()
    # The results went with the event: the job is given back for the task's retry.
    assert run.status == RunStatus.PENDING and run.row_count is None
    assert recorded("profile.finished") == []

    monkeypatch.undo()
    assert runner.execute_profile_run(run_id=run.pk, heartbeat=False).state == "succeeded"
    [event] = recorded("profile.finished")
    assert event.data["status"] == "succeeded" and event.data["row_count"] == 40


def test_a_profile_that_rolls_back_announces_nothing(owner, make_dataset, data_root):
    ds = make_dataset("internal")
    run = _pending_run(owner, ds, data_root, credit_csv(30))
    with pytest.raises(Boom), transaction.atomic():
        assert runner.execute_profile_run(run_id=run.pk, heartbeat=False).state == "succeeded"
        assert [e.data["status"] for e in recorded("profile.finished")] == ["succeeded"]
        raise Boom
    run.refresh_from_db()
    assert run.status == RunStatus.PENDING and recorded("profile.finished") == []


@pytest.fixture
def psi_rule(owner, make_dataset):
    ds = make_dataset("internal")
    monitor = monitors.set_monitor(actor=owner, dataset=ds, rules=[{"metric": "psi", "threshold": 0.2}])
    return monitor.rules.get()


def _open(rule) -> Alert:
    return alerts.open_alert(
        rule=rule, version=2, reference=1, message="PSI of age is 0.31", figures={"psi": 0.31}
    )


def test_alert_events_are_written_with_the_alert_and_roll_back_with_it(psi_rule, owner):
    with pytest.raises(Boom), transaction.atomic():
        alert = _open(psi_rule)
        assert recorded("alert.opened")[0].subject == f"alert:{alert.pk}"
        raise Boom
    assert not Alert.objects.exists() and recorded() == [] and deliveries_queued() == 0

    alert = _open(psi_rule)
    alerts.resolve_alert(actor=owner, alert=alert, comment="expected: a new region")
    assert [e.name for e in recorded()] == ["alert.opened", "alert.resolved"]
    assert recorded("alert.resolved")[0].data["alert"]["resolution"] == "by_hand"


def test_an_alert_step_whose_event_cannot_be_written_does_not_happen(psi_rule, owner, failing_record):
    alert = _open(psi_rule)
    failing_record("alert.resolved")
    with pytest.raises(OperationalError):
        alerts.resolve_alert(actor=owner, alert=alert, comment="looked at it")
    alert.refresh_from_db()
    assert alert.status == "open" and [e.name for e in recorded()] == ["alert.opened"]


def test_drift_detected_is_written_in_the_monitors_judgement(make_dataset, owner, data_root):
    ds = make_dataset("internal")
    monitors.set_monitor(actor=owner, dataset=ds, rules=[{"metric": "psi", "threshold": 0.2}])
    rows = credit_csv(300, seed=1)
    for text in (rows, rows.replace(",F,", ",M,")):  # every applicant one gender: the column drifts
        runner.execute_profile_run(run_id=_pending_run(owner, ds, data_root, text).pk, heartbeat=False)
    before = [e.name for e in recorded()]
    assert before == ["version.stored", "profile.finished"] * 2
    with pytest.raises(Boom), transaction.atomic():
        assert monitors.evaluate_latest(dataset_id=ds.pk, version_number=2, announce_drift=True) == 1
        assert sorted(e.name for e in recorded()[len(before) :]) == ["alert.opened", "drift.detected"]
        assert recorded("drift.detected")[0].data["columns"]["gender"]["drifted"]
        raise Boom
    assert [e.name for e in recorded()] == before and not Alert.objects.exists()


def _running_scan(owner) -> SourceScan:
    source = Source.objects.create(name="lake", kind="folder", uri="file:///srv/lake", owner=owner)
    return SourceScan.objects.create(source=source, status=ScanStatus.RUNNING, claim_token="t", found=4)


def test_a_finished_scan_is_written_with_its_status_and_rolls_back_with_it(owner, failing_record):
    scan = _running_scan(owner)
    with pytest.raises(Boom), transaction.atomic():
        assert scans._finish(scan.pk, status=ScanStatus.SUCCEEDED, token="t", registered=2) is not None
        assert recorded("source.scan.finished")[0].data["scan"]["registered"] == 2
        raise Boom
    scan.refresh_from_db()
    assert scan.status == ScanStatus.RUNNING and recorded() == []

    failing_record("source.scan.finished")
    with pytest.raises(OperationalError):
        scans._finish(scan.pk, status=ScanStatus.SUCCEEDED, token="t", registered=2)
    scan.refresh_from_db()
    # Still running under its lease: requeue_stale_scans takes it over once the lease runs out.
    assert scan.status == ScanStatus.RUNNING and scan.source.last_scan_at is None and recorded() == []


def test_a_scan_abandoned_after_its_attempts_is_announced_failed(owner, settings):
    settings.SCAN_MAX_ATTEMPTS = 3
    scan = _running_scan(owner)
    SourceScan.objects.filter(pk=scan.pk).update(status=ScanStatus.PENDING, attempts=3)
    assert scans.run_scan(scan.pk) == "failed"
    [event] = recorded("source.scan.finished")
    assert (
        event.data["scan"]["status"] == "failed" and "abandoned" in event.data["scan"]["errors"][0]["message"]
    )
