"""Dataset monitors: rules judged after each profile (each metric fires and clears), one active alert
per rule, the alert's life, freshness, the schedule kept in step with beat, and the scheduled run."""

import itertools
import json
from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from catalog import services as catalog_services
from catalog import sources as catalog_sources
from catalog import versions as catalog_versions
from catalog.models import SourceScan
from config.celery import app as celery_app
from config.errors import Conflict, NotAllowed
from governance.models import AuditRecord
from profiling import alerts, monitors, signals
from profiling.models import Alert, Monitor, ProfileRun
from profiling.tests.factories import credit_csv

pytestmark = pytest.mark.django_db

HEADER = "id,age,income,gender,email\n"


@pytest.fixture
def watched(dataset, owner):
    catalog_services.update_dataset(actor=owner, dataset=dataset, sensitive_columns=["gender"])
    dataset.refresh_from_db()
    return dataset


@pytest.fixture
def crafted(watched, data_root, owner):
    """crafted(**profile) → the dataset's next version, its profile 'succeeded' with these figures
    (written as the profiler writes them; no engine run)."""
    counter = itertools.count(1)

    def make(**fields):
        i = next(counter)
        path = data_root / f"v{i}.csv"
        path.write_text(HEADER + f"{i},30,100,F,a{i}@example.org\n")
        version, _ = catalog_versions.add_version_from_uri(actor=owner, dataset=watched, uri=path.as_uri())
        figures = {"columns": [], "quality": None, "bias": None, "pii": {}, "drift": None, **fields}
        ProfileRun.objects.create(
            version=version,
            dataset=watched,
            version_number=version.number,
            status="succeeded",
            finished_at=timezone.now(),
            **figures,
        )
        return version

    return make


def judge(version):
    return monitors.evaluate_latest(dataset_id=version.dataset_id, version_number=version.number)


def drift(**columns):
    return {"previous_version": 1, "columns": columns, "schema_changes": []}


# metric: (rule, figures of a version that breaks it, figures of one that passes)
CASES = {
    "psi": (
        {"metric": "psi", "column": "age"},
        {"drift": drift(age={"psi": 0.9})},
        {"drift": drift(age={"psi": 0.01})},
    ),
    "ks_pvalue": (
        {"metric": "ks_pvalue"},
        {"drift": drift(age={"ks_pvalue": 0.0001}, income={"ks_pvalue": 0.5})},
        {"drift": drift(age={"ks_pvalue": 0.3}, income={"ks_pvalue": 0.5})},
    ),
    "quality_score": (
        {"metric": "quality_score", "threshold": 0.9},
        {"quality": {"success": False, "score": 0.5, "results": [{"success": False}]}},
        {"quality": {"success": True, "score": 1.0, "results": [{"success": True}]}},
    ),
    "null_fraction": (
        {"metric": "null_fraction", "column": "income", "op": ">", "threshold": 0.2},
        {"columns": [{"name": "income", "null_fraction": 0.6}]},
        {"columns": [{"name": "income", "null_fraction": 0.0}]},
    ),
    "group_share": (
        {"metric": "group_share", "column": "gender", "group": "F", "threshold": 0.2},
        {"bias": {"attributes": {"gender": {"groups": {"F": {"share": 0.1}, "M": {"share": 0.9}}}}}},
        {"bias": {"attributes": {"gender": {"groups": {"F": {"share": 0.5}, "M": {"share": 0.5}}}}}},
    ),
    "pii": (
        {"metric": "pii"},
        {"pii": {"email": ["email"]}, "drift": drift()},
        {"pii": {"email": ["email"]}, "drift": {**drift(), "previous_version": 2}},
    ),
    "schema_change": (
        {"metric": "schema_change"},
        {
            "drift": {
                **drift(),
                "schema_changes": [{"change": "removed", "column": "age", "before": "integer"}],
            }
        },
        {"drift": drift()},
    ),
}


@pytest.mark.parametrize("metric", sorted(CASES))
def test_each_metric_fires_then_clears(metric, crafted, watched, owner):
    rule, bad, good = CASES[metric]
    crafted(pii={}, drift=None)  # version 1: the reference
    monitors.set_monitor(actor=owner, dataset=watched, rules=[rule])
    assert not Alert.objects.exists()

    v2 = crafted(**bad)
    assert judge(v2) == 1
    alert = Alert.objects.get()
    assert alert.status == "open" and alert.version_number == 2
    assert alert.figures["metric"] == metric and alert.figures["threshold"] == alert.rule.threshold
    assert alert.message and alert.rule_spec["metric"] == metric

    v3 = crafted(**good)  # pii: version 3 has the e-mails version 2 had, nothing new
    assert judge(v3) == 1
    alert.refresh_from_db()
    assert alert.status == "resolved" and alert.resolution == "passed" and alert.resolved_by is None
    assert alert.resolved_figures["version"] == 3
    assert [h["status"] for h in alert.history] == ["open", "resolved"]


def test_one_active_alert_per_rule(crafted, watched, owner):
    crafted()
    monitors.set_monitor(actor=owner, dataset=watched, rules=[{"metric": "quality_score", "threshold": 0.9}])
    bad = crafted(quality={"success": False, "score": 0.2, "results": [{}]})
    judge(bad)
    judge(bad)
    monitors.evaluate_latest(dataset_id=watched.pk)
    alert = Alert.objects.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        Alert.objects.create(
            dataset=watched, rule=alert.rule, rule_spec={}, message="twice", opened_at=timezone.now()
        )
    # An older version profiled again changes nothing.
    assert monitors.evaluate_latest(dataset_id=watched.pk, version_number=1) == 0


def test_alert_lifecycle_by_hand(crafted, watched, owner, steward, outsider):
    crafted()
    monitors.set_monitor(actor=owner, dataset=watched, rules=[{"metric": "quality_score", "threshold": 0.9}])
    judge(crafted(quality={"success": False, "score": 0.2, "results": [{}]}))
    alert = Alert.objects.get()

    with pytest.raises(NotAllowed):
        alerts.acknowledge_alert(actor=outsider, alert=alert)
    alerts.acknowledge_alert(actor=steward, alert=alert, comment="Looking at the loader.")
    with pytest.raises(Conflict):
        alerts.acknowledge_alert(actor=steward, alert=alert)
    done = alerts.resolve_alert(actor=owner, alert=alert, comment="Fixed upstream.")
    assert done.status == "resolved" and done.resolution == "by_hand" and done.resolved_by == owner
    assert [(h["status"], h["by"], h.get("comment")) for h in done.history] == [
        ("open", None, None),
        ("acknowledged", steward.username, "Looking at the loader."),
        ("resolved", owner.username, "Fixed upstream."),
    ]
    with pytest.raises(Conflict):
        alerts.resolve_alert(actor=owner, alert=done)
    # The rule still fires on the same version: judged again, a new alert opens.
    monitors.evaluate_latest(dataset_id=watched.pk)
    assert Alert.objects.filter(status="open").count() == 1 and Alert.objects.count() == 2


def test_rules_sent_again_keep_their_alert_and_removed_ones_resolve(crafted, watched, owner):
    crafted()
    rules = [{"metric": "quality_score", "threshold": 0.9}, {"metric": "null_fraction", "threshold": 0.5}]
    monitors.set_monitor(actor=owner, dataset=watched, rules=rules)
    judge(crafted(quality={"success": False, "score": 0.2, "results": [{}]}))
    alert = Alert.objects.get()
    monitors.set_monitor(actor=owner, dataset=watched, rules=list(reversed(rules)))
    alert.refresh_from_db()
    assert alert.status == "open" and alert.rule is not None
    monitors.set_monitor(actor=owner, dataset=watched, rules=rules[1:])
    alert.refresh_from_db()
    assert alert.status == "resolved" and alert.resolution == "rule_removed" and alert.rule is None
    assert alert.rule_spec["metric"] == "quality_score"


def test_setting_a_monitor_judges_the_latest_profile_at_once(crafted, watched, owner, outsider):
    crafted()
    crafted(quality={"success": False, "score": 0.2, "results": [{}]})
    with pytest.raises(NotAllowed):
        monitors.set_monitor(actor=outsider, dataset=watched, rules=[])
    monitors.set_monitor(actor=owner, dataset=watched, rules=[{"metric": "quality_score", "threshold": 0.9}])
    assert Alert.objects.get().version_number == 2
    assert Monitor.objects.get().last_evaluated_version == 2


def test_pinned_reference_with_real_profiles(dataset, add_version, owner):
    """Version 2 drifts from the pinned version 1 (an alert); version 3 is like version 1 again, so
    the alert resolves, though it drifted from version 2."""
    add_version(dataset, credit_csv(300))
    monitors.set_monitor(
        actor=owner, dataset=dataset, reference=1, rules=[{"metric": "psi", "column": "region"}]
    )
    seen = []

    def listen(sender, version, columns, reference, **kw):
        seen.append((version.number, sorted(columns), reference))

    signals.drift_detected.connect(listen)
    try:
        add_version(
            dataset, credit_csv(300, seed=5).replace(",north,", ",west,").replace(",south,", ",west,")
        )
        alert = Alert.objects.get()
        assert alert.status == "open" and alert.reference_version == 1 and alert.figures["column"] == "region"
        add_version(dataset, credit_csv(300, seed=9))
    finally:
        signals.drift_detected.disconnect(listen)
    alert.refresh_from_db()
    assert alert.status == "resolved" and alert.resolution == "passed"
    assert alert.resolved_figures["reference"] == 1 and alert.resolved_figures["value"] < 0.2
    assert seen[0][0] == 2 and "region" in seen[0][1] and seen[0][2] == 1


def test_freshness_alert_from_the_sweep_and_cleared_by_a_new_version(crafted, watched, owner):
    first = crafted()
    monitors.set_monitor(actor=owner, dataset=watched, rules=[{"metric": "freshness_hours", "threshold": 24}])
    monitor = Monitor.objects.get()
    assert monitor.freshness_due_at == first.created_at + timedelta(hours=24)
    assert monitors.due_monitor_ids() == []
    later = timezone.now() + timedelta(hours=25)
    assert monitors.due_monitor_ids(now=later) == [monitor.pk]

    assert monitors.sweep_freshness(now=later) == 1
    alert = Alert.objects.get()
    assert alert.status == "open" and alert.figures["value"] >= 24 and alert.figures["latest_version"] == 1
    monitor.refresh_from_db()
    assert monitor.freshness_due_at is None  # nothing more to wait for while it is open
    assert monitors.sweep_freshness(now=later) == 0

    # Resolved by hand while the data is still stale: the next sweep opens a new one.
    alerts.resolve_alert(actor=owner, alert=alert, comment="the feed is paused")
    assert monitors.sweep_freshness(now=later) == 1
    alert = Alert.objects.get(status="open")

    second = crafted()
    signals_sent = catalog_versions.signals.version_stored.send(sender=None, version=second)
    assert signals_sent  # profiling's receivers restart the clock
    alert.refresh_from_db()
    assert alert.status == "resolved" and alert.resolution == "passed"
    monitor.refresh_from_db()
    assert monitor.freshness_due_at == second.created_at + timedelta(hours=24)


def test_schedule_kept_in_step_with_beat(watched, owner, data_root, staff):
    monitors.set_monitor(actor=owner, dataset=watched, schedule="15 3 * * 1-5", rules=[])
    monitor = Monitor.objects.get()
    task = PeriodicTask.objects.get(name=f"dataset-monitor-{watched.pk}")
    assert monitor.periodic_task == task and task.task == "profiling.run_monitor"
    assert json.loads(task.args) == [monitor.pk] and task.enabled
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == ("15", "3", "1-5")
    # As beat's database scheduler reads it: the entry, its cron, and a task the worker knows.
    entry = DatabaseScheduler.Entry(task, app=celery_app)
    assert entry.task == "profiling.run_monitor" and entry.args == [monitor.pk]
    assert (
        entry.schedule.minute == {15}
        and entry.schedule.hour == {3}
        and entry.schedule.day_of_week == set(range(1, 6))
    )
    assert celery_app.tasks[entry.task](*entry.args) == "Rules judged on the latest profile."
    assert Monitor.objects.get().last_run_at is not None

    monitors.set_monitor(actor=owner, dataset=watched, schedule="0  4 * * *", rules=[])
    task.refresh_from_db()
    assert PeriodicTask.objects.filter(task="profiling.run_monitor").count() == 1
    assert (task.crontab.minute, task.crontab.hour) == ("0", "4")

    monitors.set_monitor(actor=owner, dataset=watched, rules=[])
    assert not PeriodicTask.objects.filter(task="profiling.run_monitor").exists()
    assert Monitor.objects.get().periodic_task is None

    # Sources keep their scans' schedule through the same code.
    (data_root / "lake").mkdir()
    source = catalog_sources.create_source(
        actor=staff, name="lake", kind="folder", uri=(data_root / "lake").as_uri(), schedule="*/30 * * * *"
    )
    entry = PeriodicTask.objects.get(name=f"source-scan-{source.pk}")
    assert entry.task == "catalog.scheduled_scan" and json.loads(entry.args) == [source.pk]
    catalog_sources.update_source(actor=staff, source=source, schedule="")
    assert not PeriodicTask.objects.filter(name=f"source-scan-{source.pk}").exists()


def test_scheduled_run_reads_a_registered_path_again(watched, owner, data_root):
    path = data_root / "registered.csv"
    path.write_text(HEADER + "1,30,100,F,a@example.org\n")
    catalog_versions.add_version_from_uri(actor=owner, dataset=watched, uri=path.as_uri())
    monitors.set_monitor(actor=owner, dataset=watched, schedule="0 * * * *", rules=[])
    monitor = Monitor.objects.get()

    note = monitors.run_scheduled(monitor.pk)
    assert "unchanged" in note and watched.versions.count() == 1
    path.write_text(HEADER + "1,30,100,F,a@example.org\n2,40,200,M,b@example.org\n")
    assert "version 2 stored" in monitors.run_scheduled(monitor.pk)
    new = watched.versions.get(number=2)
    assert new.created_by is None and new.source_uri == path.as_uri()
    path.unlink()
    assert "Could not look at the data again" in monitors.run_scheduled(monitor.pk)
    monitor.refresh_from_db()
    assert monitor.last_run_at is not None and "Could not" in monitor.last_run_note


def test_scheduled_run_of_an_upload_judges_and_of_a_source_scans(crafted, watched, owner, data_root, staff):
    crafted(quality={"success": False, "score": 0.2, "results": [{}]})
    monitors.set_monitor(actor=owner, dataset=watched, rules=[])
    monitor = Monitor.objects.get()
    watched.versions.update(source_uri="")  # an uploaded copy, not a path
    assert monitors.run_scheduled(monitor.pk) == "Rules judged on the latest profile."

    (data_root / "lake").mkdir()
    source = catalog_sources.create_source(
        actor=staff, name="lake", kind="folder", uri=(data_root / "lake").as_uri()
    )
    type(watched).objects.filter(pk=watched.pk).update(source=source)
    assert "queued" in monitors.run_scheduled(monitor.pk)
    assert SourceScan.objects.get(source=source).trigger == "monitor"


def test_the_entry_of_a_deleted_datasets_monitor_goes(watched, owner, django_capture_on_commit_callbacks):
    monitors.set_monitor(actor=owner, dataset=watched, schedule="0 * * * *", rules=[])
    monitor = Monitor.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        catalog_services.delete_dataset(actor=owner, dataset=watched)
    assert not PeriodicTask.objects.filter(task="profiling.run_monitor").exists()
    # An entry left behind anyway (the hook failed) goes at its first run.
    PeriodicTask.objects.create(
        name="left",
        task="profiling.run_monitor",
        args=json.dumps([monitor.pk]),
        interval=IntervalSchedule.objects.create(every=1, period="hours"),
    )
    assert monitors.run_scheduled(monitor.pk) == "no such monitor"
    assert not PeriodicTask.objects.filter(task="profiling.run_monitor").exists()


def test_steps_are_announced_after_commit_and_audited(
    crafted, watched, owner, steward, django_capture_on_commit_callbacks
):
    crafted()
    heard = []
    for name in ("alert_opened", "alert_acknowledged", "alert_resolved"):
        getattr(signals, name).connect(
            lambda sender, alert, name=name, **kw: heard.append((name, alert.status)),
            weak=False,
            dispatch_uid=f"t-{name}",
        )
    try:
        with django_capture_on_commit_callbacks(execute=True):
            monitors.set_monitor(
                actor=owner, dataset=watched, rules=[{"metric": "quality_score", "threshold": 0.9}]
            )
        bad = crafted(quality={"success": False, "score": 0.2, "results": [{}]})
        with django_capture_on_commit_callbacks(execute=True):
            judge(bad)
        alert = Alert.objects.get()
        with django_capture_on_commit_callbacks(execute=True):
            alerts.acknowledge_alert(actor=steward, alert=alert, comment="on it")
        with django_capture_on_commit_callbacks(execute=True):
            alerts.resolve_alert(actor=steward, alert=alert, comment="done", via="ui")
    finally:
        for name in ("alert_opened", "alert_acknowledged", "alert_resolved"):
            getattr(signals, name).disconnect(dispatch_uid=f"t-{name}")
    assert heard == [
        ("alert_opened", "open"),
        ("alert_acknowledged", "acknowledged"),
        ("alert_resolved", "resolved"),
    ]
    records = {r.action: r for r in AuditRecord.objects.all() if r.action.startswith(("alert.", "monitor."))}
    assert set(records) == {"monitor.changed", "alert.opened", "alert.acknowledged", "alert.resolved"}
    assert records["alert.resolved"].actor == steward.username and records["alert.resolved"].via == "ui"
    assert records["alert.resolved"].after["comment"] == "done"
    assert watched.urn in records["alert.opened"].object_urns
    assert records["monitor.changed"].after["rules"][0]["metric"] == "quality_score"
