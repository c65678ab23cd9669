"""Scans end to end on the embedded default: a folder source under DATA_ROOTS, scanned through the
service and the API (tasks run inline in the unit tests; tests/integration runs a real worker)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog import scans, sources
from catalog.models import Dataset, DatasetVersion, Origin, ScanStatus, SourceScan

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def lake(data_root):
    folder = data_root / "lake"
    (folder / "events" / "date=2026-12-01").mkdir(parents=True)
    (folder / "events" / "date=2026-12-02").mkdir(parents=True)
    (folder / "events" / "date=2026-12-01" / "part-0.csv").write_text("user,amount\nann,3\nbob,4\n")
    (folder / "events" / "date=2026-12-02" / "part-0.csv").write_text("user,amount\ncid,5\n")
    (folder / "customers.csv").write_text("id,email\n1,a@example.org\n2,b@example.org\n")
    (folder / "notes.txt").write_text("not data")
    return folder


@pytest.fixture
def source(staff, owner, steward, lake):
    return sources.create_source(
        actor=staff,
        name="lake",
        kind="folder",
        uri=lake.as_uri(),
        owner=owner.username,
        stewards=[steward.username],
        sensitivity="confidential",
    )


def scan_now(actor, source) -> SourceScan:
    scan = scans.request_scan(actor=actor, source=source)
    scan.refresh_from_db()
    if scan.status == ScanStatus.PENDING:  # eager tasks ran it on commit; else run it here
        scans.run_scan(scan.pk)
        scan.refresh_from_db()
    return scan


def test_first_scan_registers_each_dataset_by_reference(source, owner, steward):
    scan = scan_now(owner, source)
    assert scan.status == ScanStatus.SUCCEEDED, scan.errors
    assert (scan.registered, scan.changed, scan.unchanged, scan.removed) == (2, 0, 0, 0)
    datasets = {d.name: d for d in Dataset.objects.filter(source=source)}
    assert len(datasets) == 2
    partitioned = next(d for n, d in datasets.items() if n.endswith("/events"))
    assert partitioned.origin == Origin.SOURCE
    assert partitioned.owner == owner and list(partitioned.stewards.all()) == [steward]
    assert partitioned.sensitivity == "confidential"
    version = partitioned.versions.get()
    assert version.is_reference and version.fingerprint and version.checksum == version.fingerprint
    assert version.source_uri.endswith("/events/")
    assert len(version.reference["parts"]) == 2
    assert not version.file  # nothing copied


def test_unchanged_source_writes_nothing(source, owner):
    scan_now(owner, source)
    before = (Dataset.objects.count(), DatasetVersion.objects.count())
    from governance.models import AuditRecord, Event

    audits = AuditRecord.objects.count()
    events = Event.objects.count()
    with CaptureQueriesContext(connection) as queries:
        scan = scan_now(owner, source)
    assert (scan.registered, scan.changed, scan.unchanged) == (0, 0, 2)
    assert (Dataset.objects.count(), DatasetVersion.objects.count()) == before
    assert AuditRecord.objects.count() == audits
    # The scan's own rows, its messages, and its one event (source.scan.finished, and its fan-out).
    assert list(Event.objects.order_by("pk").values_list("name", flat=True)[events:]) == [
        "source.scan.finished"
    ]
    own = ("catalog_sourcescan", "catalog_outboxmessage", "governance_event", "governance_delivery")
    writes = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
        and not any(table in q["sql"] for table in own)
        and not q["sql"].startswith('UPDATE "catalog_source" SET "last_scan_at"')
    ]
    assert writes == []


def test_a_changed_part_is_a_new_version_and_a_gone_file_is_marked_removed(source, owner, lake):
    scan_now(owner, source)
    (lake / "events" / "date=2026-12-03").mkdir()
    (lake / "events" / "date=2026-12-03" / "part-0.csv").write_text("user,amount\ndan,6\n")
    (lake / "customers.csv").unlink()
    scan = scan_now(owner, source)
    assert (scan.registered, scan.changed, scan.unchanged, scan.removed) == (0, 1, 0, 1)
    events = Dataset.objects.get(source=source, name__endswith="/events")
    assert events.versions.count() == 2
    customers = Dataset.objects.get(source=source, name__endswith="customers.csv")
    assert customers.removed_at_source and customers.versions.count() == 1  # kept, with its history
    (lake / "customers.csv").write_text("id,email\n1,a@example.org\n2,b@example.org\n")
    scan = scan_now(owner, source)
    customers.refresh_from_db()
    assert not customers.removed_at_source


def test_a_bad_file_is_an_error_of_the_scan_and_the_rest_is_registered(source, owner, lake):
    (lake / "broken.parquet").write_bytes(b"this is not parquet at all")
    scan = scan_now(owner, source)
    assert scan.status == ScanStatus.PARTIAL
    assert any("broken.parquet" in (e.get("name") or "") for e in scan.errors)
    assert scan.registered == 2
    assert not Dataset.objects.filter(name__endswith="broken.parquet").exists()


def test_a_source_that_cannot_be_read_fails_the_scan_and_changes_nothing(source, owner, lake):
    scan_now(owner, source)
    import shutil

    shutil.rmtree(lake)
    scan = scan_now(owner, source)
    assert scan.status == ScanStatus.FAILED and scan.errors[0]["message"]
    assert not Dataset.objects.filter(source=source, removed_at_source=True).exists()


def test_one_scan_at_a_time(source, owner):
    from django.db import transaction

    with transaction.atomic():  # its message is sent (and run, eagerly) only once this commits
        first = scans.request_scan(actor=owner, source=source)
        again = scans.request_scan(actor=owner, source=source)
        assert first.pk == again.pk and SourceScan.objects.count() == 1
    first.refresh_from_db()
    if first.status == ScanStatus.PENDING:
        assert scans.run_scan(first.pk) == ScanStatus.SUCCEEDED
    assert scans.run_scan(first.pk) == "done-before"  # a second delivery does nothing
    assert SourceScan.objects.get(pk=first.pk).status == ScanStatus.SUCCEEDED


def test_outsiders_may_not_scan_or_test(source, outsider):
    from config.errors import NotAllowed

    with pytest.raises(NotAllowed):
        scans.request_scan(actor=outsider, source=source)
    with pytest.raises(NotAllowed):
        sources.test_source(actor=outsider, source=source)


def test_test_connection_lists_without_writing(source, owner):
    counts = (Dataset.objects.count(), DatasetVersion.objects.count(), SourceScan.objects.count())
    answer = sources.test_source(actor=owner, source=source)
    assert answer["ok"] is True and len(answer["would_register"]) == 2
    assert (Dataset.objects.count(), DatasetVersion.objects.count(), SourceScan.objects.count()) == counts


def test_schedule_is_a_periodic_task_kept_in_step(source, owner):
    from django_celery_beat.models import PeriodicTask

    sources.update_source(actor=owner, source=source, schedule="15 3 * * 1-5")
    source.refresh_from_db()
    task = PeriodicTask.objects.get(pk=source.periodic_task_id)
    assert task.task == "catalog.scheduled_scan" and task.args == f"[{source.pk}]"
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == ("15", "3", "1-5")
    sources.update_source(actor=owner, source=source, schedule="")
    assert not PeriodicTask.objects.filter(pk=task.pk).exists()


@pytest.mark.parametrize("bad", ["every day", "61 * * * *", "* * * *", "* * 32 * *"])
def test_a_bad_cron_is_refused(source, owner, bad):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as info:
        sources.update_source(actor=owner, source=source, schedule=bad)
    assert "schedule" in info.value.message_dict


def test_the_api_scans_and_reports_counts(source, owner, api_client_for):
    client = api_client_for(owner)
    started = client.post(f"/api/v1/sources/{source.pk}/scans")
    assert started.status_code == 202, started.content
    scan = client.get(f"/api/v1/sources/{source.pk}/scans/{started.json()['id']}").json()
    assert scan["status"] == "succeeded" and scan["registered"] == 2
    datasets = client.get("/api/v1/datasets/", {"q": "customers"}).json()["results"]
    assert datasets and datasets[0]["source"] == source.pk and datasets[0]["removed_at_source"] is False
    ds = Dataset.objects.get(source=source, name__endswith="customers.csv")
    version = client.get(f"/api/v1/datasets/{ds.pk}/versions/1/").json()
    assert version["uri"].startswith("file://") and version["fingerprint"]


def test_credentials_are_never_answered(staff, api_client_for, monkeypatch):
    monkeypatch.setenv("WAREHOUSE_DSN", "postgresql://app:hunter2@127.0.0.1:1/nothing")
    client = api_client_for(staff)
    made = client.post(
        "/api/v1/sources/",
        {
            "name": "wh",
            "kind": "postgres",
            "uri": "postgres://127.0.0.1:1/nothing",
            "secret": "WAREHOUSE_DSN",
        },
        format="json",
    )
    assert made.status_code == 201, made.content
    tested = client.post(f"/api/v1/sources/{made.json()['id']}/test").json()
    assert tested["ok"] is False and tested["error"]
    scan = client.post(f"/api/v1/sources/{made.json()['id']}/scans").json()
    detail = client.get(f"/api/v1/sources/{made.json()['id']}/scans/{scan['id']}").json()
    assert detail["status"] == "failed"
    for body in (made.content, str(tested).encode(), str(detail).encode()):
        assert b"hunter2" not in body


def test_a_source_that_does_not_profile_marks_its_versions_not_profiled(source, owner):
    from profiling.models import ProfileRun

    sources.update_source(actor=owner, source=source, profile=False)
    scan_now(owner, source)
    versions = DatasetVersion.objects.filter(dataset__source=source)
    assert versions.count() == 2 and set(versions.values_list("profile_status", flat=True)) == {"skipped"}
    assert not ProfileRun.objects.filter(version__in=versions).exists()
