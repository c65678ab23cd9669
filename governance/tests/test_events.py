"""The event catalogue: each event recorded with the change it reports (and only then), what it
carries, and who may see it."""

import json
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from catalog import scans
from catalog import signals as catalog_signals
from catalog.models import OutboxMessage, ScanStatus, Source, SourceScan
from governance import access_requests, events, registry
from governance.models import Event
from governance.tests.conftest import credit_csv
from profiling import signals as profiling_signals
from profiling import suites as profiling_suites

pytestmark = pytest.mark.django_db


def names() -> list[str]:
    return list(Event.objects.order_by("pk").values_list("name", flat=True))


def test_patterns_name_events_of_the_catalogue():
    assert events.names_matching("access_request.*") == [
        f"access_request.{s}" for s in events.ACCESS_REQUEST_STEPS
    ]
    assert events.names_matching("*") == list(events.EVENT_NAMES)
    assert events.pattern_problem("alert.*") is None
    assert "names no event" in events.pattern_problem("alerts.*")
    assert "not an event name" in events.pattern_problem("Access_Request.[a-z]")
    assert "not an event name" in events.pattern_problem(12)
    assert events.matches(["profile.*", "quality.failed"], "quality.failed")
    assert not events.matches(["profile.*"], "version.stored")


def test_an_access_request_step_is_recorded_in_its_own_transaction(requester, steward, make_dataset):
    ds = make_dataset("confidential")
    req = access_requests.create_access_request(
        actor=requester, datasets=[ds.urn], purpose="training", justification="x"
    )
    access_requests.approve_access_request(actor=steward, request=req, comment="fine")
    assert names() == ["access_request.created", "access_request.approved"]
    approved = Event.objects.get(name="access_request.approved")
    assert approved.subject == f"access_request:{req.pk}" and approved.dataset_ids == [ds.pk]
    assert approved.namespaces == [ds.namespace]
    assert approved.data["access_request"]["status"] == "approved" and approved.data["comment"] == "fine"
    assert approved.data["actor"] == steward.username
    # Each event queued its delivery through the outbox, in the same transaction.
    assert OutboxMessage.objects.filter(task=events.DELIVER_TASK).count() == 2


def test_no_event_without_its_change(requester, make_dataset):
    ds = make_dataset("confidential")
    with pytest.raises(Exception):  # noqa: B017 - one unknown dataset refuses the whole request
        access_requests.create_access_request(
            actor=requester, datasets=[ds.urn, "dataset:x:missing"], purpose="training", justification="x"
        )
    assert names() == []
    assert not OutboxMessage.objects.filter(task=events.DELIVER_TASK).exists()


def test_a_stored_version_and_its_profile_are_recorded(owner, make_dataset, add_version):
    ds = make_dataset("internal", name="risk/credit", sensitive_columns=["gender"])
    add_version(ds, credit_csv(60))
    assert names()[:2] == ["version.stored", "profile.finished"]
    stored = Event.objects.get(name="version.stored")
    assert stored.data["dataset"]["urn"] == ds.urn and stored.data["version"]["number"] == 1
    assert stored.data["actor"] == owner.username and stored.dataset_ids == [ds.pk]
    done = Event.objects.get(name="profile.finished").data
    assert done["status"] == "succeeded" and done["version"] == 1 and done["row_count"] == 60
    assert done["error"] is None and done["drift"] is None


def test_a_failing_quality_suite_is_its_own_event(owner, make_dataset, add_version):
    ds = make_dataset("confidential", name="risk/scored")
    profiling_suites.save_suite(
        actor=owner,
        dataset=ds,
        expectations=[
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "age", "min_value": 0, "max_value": 20},
            },
            {"type": "expect_column_to_exist", "kwargs": {"column": "age"}},
        ],
    )
    add_version(ds, credit_csv(40))
    done = Event.objects.get(name="profile.finished").data
    assert done["quality"] == {"success": False, "score": 0.5, "evaluated": 2, "failed": 1}
    failed = Event.objects.get(name="quality.failed").data
    assert failed["score"] == 0.5 and failed["version"] == 1
    assert failed["failed_expectations"] == [
        {"expectation": "expect_column_values_to_be_between", "column": "age"}
    ]
    # Figures only: no observed values of a confidential dataset in the event.
    assert "observed" not in str(failed) and "kwargs" not in str(failed)


def test_a_failed_profile_tells_its_reason_only_for_open_data(make_dataset):
    closed, open_ = make_dataset("restricted"), make_dataset("public")
    for ds in (closed, open_):
        version = SimpleNamespace(dataset=ds, number=3, dataset_id=ds.pk)
        profiling_signals.profile_finished_in_transaction.send(
            sender=None, version=version, status="failed", error="row 7: 'Jane'"
        )
    closed_data, open_data = (e.data for e in Event.objects.filter(name="profile.finished").order_by("pk"))
    assert closed_data["error"] == "The profile failed." and open_data["error"] == "row 7: 'Jane'"


def test_a_model_registration_is_recorded_with_its_training_data(requester, make_dataset):
    ds = make_dataset("internal")
    mv = registry.register_model_version(
        actor=requester, namespace="mlflow://ml", name="credit", version="3", trained_on=[ds.urn]
    )
    event = Event.objects.get(name="model.registered")
    assert event.data["model"] == {
        "id": mv.pk,
        "namespace": "mlflow://ml",
        "name": "credit",
        "version": "3",
        "run_id": None,
        "cleared": True,
    }
    assert event.data["trained_on"] == [ds.urn] and event.dataset_ids == [ds.pk]
    assert set(event.namespaces) == {"mlflow://ml", ds.namespace}


def test_a_finished_scan_is_recorded(owner):
    source = Source.objects.create(name="lake", kind="folder", uri="file:///srv/lake", owner=owner)
    scan = SourceScan.objects.create(source=source, status=ScanStatus.RUNNING, claim_token="t", found=4)
    scans._finish(scan.pk, status=ScanStatus.SUCCEEDED, token="t", registered=2, changed=1)
    data = Event.objects.get(name="source.scan.finished").data
    assert data["source"] == {"id": source.pk, "name": "lake", "kind": "folder"}
    assert data["scan"]["status"] == "succeeded" and data["scan"]["registered"] == 2


def test_alerts_and_drift_from_the_monitors_are_recorded(make_dataset):
    ds = make_dataset("internal")
    from profiling.models import Alert

    # A real alert row (what the monitor writes), sent as the monitor sends it.
    alert = Alert.objects.create(
        dataset=ds,
        status="open",
        rule_spec={"metric": "psi", "column": "age", "op": ">", "threshold": 0.2},
        message="PSI of age is 0.31",
        version_number=4,
        reference_version=3,
        figures={"psi": 0.31},
        history=[{"status": "open"}],
        opened_at=timezone.now(),
    )
    profiling_signals.alert_opened_in_transaction.send(sender=None, alert=alert)
    profiling_signals.drift_detected_in_transaction.send(
        sender=None, alert=alert, version=4, reference=3, columns={"age": {"psi": 0.31}}
    )
    alert.status, alert.resolution = "resolved", "passed"
    profiling_signals.alert_resolved_in_transaction.send(sender=None, alert=alert)
    assert names() == ["alert.opened", "drift.detected", "alert.resolved"]
    opened = Event.objects.get(name="alert.opened").data["alert"]
    assert opened["message"] == "PSI of age is 0.31" and opened["figures"] == {"psi": 0.31}
    drift = Event.objects.get(name="drift.detected").data
    assert drift["version"] == 4 and drift["reference_version"] == 3 and drift["alert"] == alert.pk
    assert Event.objects.get(name="alert.resolved").data["alert"]["resolution"] == "passed"


def test_the_after_commit_signals_record_no_event(make_dataset):
    """Events come from the in-transaction signals only: the after-commit ones, still sent for their
    other listeners, must not record them a second time."""
    ds = make_dataset("internal")
    scan = SimpleNamespace(pk=1, source=SimpleNamespace(pk=1, name="x", kind="folder"), source_id=1)
    catalog_signals.source_scanned.send(sender=SourceScan, scan=scan)
    version = SimpleNamespace(dataset=ds, number=3, dataset_id=ds.pk)
    profiling_signals.profile_finished.send(sender=None, version=version, status="failed", error="x")
    assert names() == []


def test_who_may_see_which_event(owner, steward, outsider, requester, staff, make_dataset):
    ds = make_dataset("confidential")
    req = access_requests.create_access_request(
        actor=requester, datasets=[ds.urn], purpose="training", justification="x"
    )
    step = Event.objects.get(name="access_request.created")
    about_dataset = events.record("version.stored", {"dataset": events.dataset_ref(ds)}, datasets=[ds])
    scan = events.record("source.scan.finished", {}, subject="source:1")
    every = [step, about_dataset, scan]
    for person in (owner, steward, requester, staff):
        assert events.visible_event_ids(person, every) == {e.pk for e in every}, person
    assert events.visible_event_ids(outsider, every) == {about_dataset.pk, scan.pk}
    outsider.is_active = False
    assert events.visible_event_ids(outsider, every) == set()
    # A dataset deleted since: its events reach nobody.
    ds.delete()
    assert about_dataset.pk not in events.visible_event_ids(owner, [about_dataset])
    assert req.pk


def test_summaries_say_what_happened_in_one_line(make_dataset):
    ds = make_dataset("internal")
    ref = events.dataset_ref(ds)
    line = events.summary(
        "profile.finished",
        {
            "dataset": ref,
            "version": 2,
            "status": "succeeded",
            "quality": {"success": True, "score": 1.0},
            "drift": {"drifted_columns": ["age"]},
        },
    )
    assert line == f"Profile of {ds.urn}@2 succeeded: quality passed (100%), drift in age."
    for name in events.EVENT_NAMES:
        assert "\n" not in events.summary(name, {"dataset": ref})
    assert Group.objects.count() == 0


def test_profile_finished_carries_the_drift_figures_and_no_values(make_dataset, add_version):
    ds = make_dataset("confidential", name="risk/drifting")
    rows = credit_csv(300)
    add_version(ds, rows)
    header, *lines = rows.splitlines()
    # Every applicant one gender, and a new column: drift and a schema change.
    changed = [header + ",score"] + [line.replace(",F,", ",M,") + ",1.5" for line in lines]
    add_version(ds, "\n".join(changed) + "\n")
    second = Event.objects.filter(name="profile.finished").order_by("pk").last().data
    drift = second["drift"]
    assert drift["previous_version"] == 1 and "gender" in drift["drifted_columns"]
    assert drift["columns"]["gender"]["drifted"] and drift["columns"]["gender"]["psi"] > 0.2
    assert set(drift["columns"]) == {"id", "age", "income", "gender", "email", "approved"}
    assert drift["columns_omitted"] == 0
    assert {"change": "added", "column": "score"}.items() <= drift["schema_changes"][0].items()
    assert second["quality"]["evaluated"] >= 1 and second["quality"]["failed"] >= 0
    # Figures and names only: not one value of the (confidential) data.
    text = json.dumps(second)
    assert "user1@example.org" not in text and '"M"' not in text and '"F"' not in text


def test_a_wide_profile_keeps_the_drifted_columns_figures_first():
    columns = {f"c{i:03d}": {"psi": i / 1000, "ks_pvalue": None, "drifted": False} for i in range(250)}
    columns["c007"] = {"psi": 0.5, "ks_pvalue": float("nan"), "drifted": True}
    drift = events._drift({"drift": {"previous_version": 1, "columns": columns, "schema_changes": []}})
    assert drift["drifted_columns"] == ["c007"] and drift["columns_omitted"] == 50
    assert len(drift["columns"]) == events.MAX_DRIFT_COLUMNS and "c007" in drift["columns"]
    assert drift["columns"]["c007"] == {"psi": 0.5, "ks_pvalue": None, "drifted": True}  # NaN is no JSON
    assert "c249" in drift["columns"] and "c006" not in drift["columns"]  # then the highest PSI
