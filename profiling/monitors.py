"""Dataset monitors: setting one (schedule, reference, rules), judging its rules whenever a profile of
the dataset finishes, the freshness sweep, and the scheduled run that looks at the data again.

- ``set_monitor`` (owner, steward or staff) replaces the schedule, the reference and the rules in one
  transaction, keeps the beat entry in step (catalog.schedules), resolves the alerts of removed
  rules and judges the rules on the latest profile at once.
- ``evaluate_latest`` runs after every profile (profiling.receivers): the latest succeeded profile
  against the reference (the pinned version, else the previous one) opens an alert for each rule
  that fires and has none, and resolves the alert of each rule that passes again. It also announces
  drift (profiling.signals.drift_detected, and drift_detected_in_transaction inside the judgement's
  transaction, where governance records drift.detected), monitor or not.
- ``sweep_freshness`` (beat) reads only the monitors whose ``freshness_due_at`` has come.
- ``run_scheduled`` (beat, the monitor's cron): a dataset of a source → a scan of its source; a
  registered path → that file again (a new version only if its bytes changed); else the rules on
  the latest profile.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from catalog import scans as catalog_scans
from catalog import schedules
from catalog import versions as catalog_versions
from catalog.models import Dataset
from catalog.permissions import can_change_dataset
from config.errors import NotAllowed
from profiling import alerts, signals
from profiling.models import ACTIVE_ALERT, Alert, Metric, Monitor, MonitorRule, ProfileRun
from profiling.monitor_rules import PROFILE_METRICS, Snapshot, clean_rules, evaluate, evaluate_freshness
from profiling.monitor_selectors import latest_succeeded_run, snapshot_of_run

log = logging.getLogger(__name__)

RUN_TASK = "profiling.run_monitor"
PREVIOUS = "previous"


# ---------------------------------------------------------------------------------------------
# Setting a monitor


def _reference(dataset: Dataset, value: Any) -> int | None:
    if value in (None, "", PREVIOUS):
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError({"reference": ['"previous" or a version number of this dataset.']})
    if not dataset.versions.filter(number=value).exists():
        raise ValidationError({"reference": [f"This dataset has no version {value}."]})
    return value


def _checked(dataset: Dataset, *, schedule: Any, reference: Any, rules: Any) -> tuple[str, int | None, list]:
    """(cron, pinned version, rules) as stored, or one ValidationError naming every field at fault."""
    errors: dict[str, list[str]] = {}
    columns = list(dataset.columns.values_list("name", flat=True))
    checks = (
        ("cron", lambda: schedules.check_cron(schedule) if schedule not in (None, "") else ""),
        ("pinned", lambda: _reference(dataset, reference)),
        (
            "cleaned",
            lambda: clean_rules(rules, columns=columns, sensitive_columns=dataset.sensitive_columns or []),
        ),
    )
    found = {}
    for name, check in checks:
        try:
            found[name] = check()
        except ValidationError as exc:
            for key, messages in exc.message_dict.items():
                errors.setdefault(key, []).extend(messages)
    if errors:
        raise ValidationError(errors)
    return found["cron"], found["pinned"], found["cleaned"]


def _snapshot_of(monitor: Monitor) -> dict[str, Any]:
    return {
        "schedule": monitor.schedule or None,
        "reference": monitor.reference_version or PREVIOUS,
        "rules": [r.spec() for r in monitor.rules.all()],
    }


@transaction.atomic
def set_monitor(
    *,
    actor,
    dataset: Dataset,
    schedule: Any = None,
    reference: Any = None,
    rules: Any = None,
    via: str = "api",
) -> Monitor:
    """Set the dataset's monitor as a whole (a PUT): what is not given is cleared (no schedule, the
    previous version as reference, no rules). Bad input: ValidationError naming the field."""
    if not can_change_dataset(actor, dataset):
        raise NotAllowed("Only the dataset's owner, a steward or staff may set its monitor.")
    cron, pinned, cleaned = _checked(dataset, schedule=schedule, reference=reference, rules=rules)
    locked = Dataset.objects.select_for_update().only("pk").get(pk=dataset.pk)
    monitor, _ = Monitor.objects.select_for_update().get_or_create(dataset=locked)
    before = _snapshot_of(monitor)
    monitor.schedule, monitor.reference_version = cron, pinned
    monitor.updated_by = actor if actor.is_authenticated else None
    monitor.save()
    _replace_rules(monitor, cleaned)
    _keep_schedule(monitor)
    after = _snapshot_of(monitor)
    changes = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
    _judge(monitor, version_number=None, announce_drift=False)
    refresh_freshness(monitor)
    if changes:
        transaction.on_commit(
            lambda: signals.monitor_changed.send(
                sender=Monitor, dataset=dataset, actor=actor, monitor=monitor, changes=changes, via=via
            ),
            robust=True,
        )
    return monitor


def _replace_rules(monitor: Monitor, cleaned: list[dict[str, Any]]) -> None:
    """Keep the rows of rules sent again unchanged (and so their alerts), add the new ones, and
    remove the others, resolving their alerts."""
    kept: dict[tuple, MonitorRule] = {}
    for rule in monitor.rules.all():
        key = _key(rule.spec())
        if key in kept or key not in {_key(c) for c in cleaned}:
            for alert in Alert.objects.filter(rule=rule, status__in=ACTIVE_ALERT):
                alerts.resolve_by_itself(alert, resolution="rule_removed", note="Its rule was removed.")
            rule.delete()
        else:
            kept[key] = rule
    for position, spec in enumerate(cleaned):
        row = kept.get(_key(spec))
        if row is None:
            MonitorRule.objects.create(monitor=monitor, position=position, **spec)
        elif row.position != position:
            row.position = position
            row.save(update_fields=["position"])


def _key(spec: dict[str, Any]) -> tuple:
    return (spec["metric"], spec["column"] or "", spec["group"] or "", spec["op"], float(spec["threshold"]))


def entry_name(dataset_id: int) -> str:
    """The name of a dataset monitor's beat entry."""
    return f"dataset-monitor-{dataset_id}"


def _keep_schedule(monitor: Monitor) -> None:
    current = monitor.periodic_task
    if current is not None and not monitor.schedule:
        Monitor.objects.filter(pk=monitor.pk).update(periodic_task=None)
        monitor.periodic_task = None
    task = schedules.keep_periodic_task(
        current,
        name=entry_name(monitor.dataset_id),
        task=RUN_TASK,
        args=[monitor.pk],
        cron=monitor.schedule,
        description=f"Monitor of dataset {monitor.dataset_id}",
    )
    if task is not None and monitor.periodic_task_id != task.pk:
        Monitor.objects.filter(pk=monitor.pk).update(periodic_task=task)
        monitor.periodic_task = task


# ---------------------------------------------------------------------------------------------
# Judging the rules on the latest profile


def evaluate_latest(
    *, dataset_id: int, version_number: int | None = None, announce_drift: bool = False
) -> int:
    """Judge the dataset's monitor on its latest succeeded profile → how many alerts opened or resolved.

    ``version_number``: the version whose profile just finished; an older one than the latest
    (profiled again) changes nothing. ``announce_drift``: send drift_detected when columns drifted."""
    with transaction.atomic():
        monitor = Monitor.objects.select_for_update().filter(dataset_id=dataset_id).first()
        if monitor is None and not announce_drift:
            return 0
        return _judge(
            monitor, version_number=version_number, announce_drift=announce_drift, dataset_id=dataset_id
        )


def _judge(
    monitor: Monitor | None, *, version_number, announce_drift: bool, dataset_id: int | None = None
) -> int:
    dataset_id = monitor.dataset_id if monitor is not None else dataset_id
    run = latest_succeeded_run(dataset_id)
    if run is None or (version_number is not None and run.version_number != version_number):
        return 0
    snap = snapshot_of_run(run, pinned=monitor.reference_version if monitor is not None else None)
    if announce_drift:
        _announce_drift(run, snap)
    if monitor is None:
        return 0
    changed = 0
    active = {a.rule_id: a for a in Alert.objects.filter(dataset_id=dataset_id, status__in=ACTIVE_ALERT)}
    for rule in monitor.rules.filter(metric__in=PROFILE_METRICS).select_related("monitor"):
        result = evaluate(rule.spec(), snap)
        changed += _apply(rule, result, active.get(rule.pk), version=snap.version, reference=snap.reference)
    monitor.last_evaluated_version = snap.version
    monitor.save(update_fields=["last_evaluated_version"])
    return changed


def _apply(rule: MonitorRule, result, alert: Alert | None, *, version, reference) -> int:
    """Keep the rule's last judgement; open an alert for a rule that fired and has none, resolve the
    alert of a rule that passes."""
    rule.state = {True: "firing", False: "passing", None: "unknown"}[result.fired]
    rule.value, rule.judged_version = result.value, version
    rule.save(update_fields=["state", "value", "judged_version"])
    if result.fired and alert is None:
        alerts.open_alert(
            rule=rule, version=version, reference=reference, message=result.message, figures=result.figures
        )
        return 1
    if result.fired is False and alert is not None:
        alerts.resolve_by_itself(alert, resolution="passed", figures=result.figures, note=result.message)
        return 1
    return 0


def _announce_drift(run: ProfileRun, snap: Snapshot) -> None:
    drifted = {
        name: {"psi": c.get("psi"), "ks_pvalue": c.get("ks_pvalue"), "drifted": True}
        for name, c in sorted(((snap.drift or {}).get("columns") or {}).items())
        if c.get("drifted")
    }
    if not drifted:
        return
    version = run.version
    reference = snap.reference
    signals.drift_detected_in_transaction.send(
        sender=ProfileRun, version=version, columns=drifted, reference=reference
    )
    transaction.on_commit(
        lambda: signals.drift_detected.send(
            sender=ProfileRun, version=version, columns=drifted, reference=reference
        ),
        robust=True,
    )


# ---------------------------------------------------------------------------------------------
# Freshness: no new version for N hours


def _freshness_base(monitor: Monitor):
    latest = monitor.dataset.versions.order_by("-number").values_list("number", "created_at").first()
    return (latest[0], latest[1]) if latest else (None, monitor.created_at)


def refresh_freshness(monitor: Monitor) -> None:
    """Set when the sweep must look at this monitor next: the earliest moment a freshness rule
    without an active alert would fire (None: no such rule)."""
    rules = list(monitor.rules.filter(metric=Metric.FRESHNESS_HOURS))
    alerted = set(
        Alert.objects.filter(rule__in=rules, status__in=ACTIVE_ALERT).values_list("rule_id", flat=True)
    )
    waiting = [r.threshold for r in rules if r.pk not in alerted]
    due = None
    if waiting:
        _, base = _freshness_base(monitor)
        due = base + timedelta(hours=min(waiting))
    if due != monitor.freshness_due_at:
        Monitor.objects.filter(pk=monitor.pk).update(freshness_due_at=due)
        monitor.freshness_due_at = due


def due_monitor_ids(*, now=None, limit: int = 1000) -> list[int]:
    """The monitors whose freshness moment has come (one range of an index)."""
    now = now or timezone.now()
    return list(
        Monitor.objects.filter(freshness_due_at__lte=now)
        .order_by("freshness_due_at")
        .values_list("pk", flat=True)[:limit]
    )


def sweep_freshness(*, now=None, limit: int = 1000) -> int:
    """Beat: judge the freshness rules of the monitors that are due → alerts opened."""
    opened = 0
    for pk in due_monitor_ids(now=now, limit=limit):
        with transaction.atomic():
            monitor = Monitor.objects.select_for_update().select_related("dataset").filter(pk=pk).first()
            if monitor is not None:
                opened += _judge_freshness(monitor, now=now or timezone.now())
    return opened


def _judge_freshness(monitor: Monitor, *, now) -> int:
    latest_number, base = _freshness_base(monitor)
    hours = max(0.0, (now - base).total_seconds() / 3600)
    changed = 0
    active = {
        a.rule_id: a for a in Alert.objects.filter(dataset_id=monitor.dataset_id, status__in=ACTIVE_ALERT)
    }
    for rule in monitor.rules.filter(metric=Metric.FRESHNESS_HOURS).select_related("monitor"):
        result = evaluate_freshness(rule.spec(), hours=hours, latest_version=latest_number)
        changed += _apply(rule, result, active.get(rule.pk), version=latest_number, reference=None)
    refresh_freshness(monitor)
    return changed


def after_version_stored(*, dataset_id: int) -> None:
    """A new version: the freshness rules pass again (their alerts resolve) and their clock restarts."""
    with transaction.atomic():
        monitor = (
            Monitor.objects.select_for_update()
            .select_related("dataset")
            .filter(dataset_id=dataset_id)
            .first()
        )
        if monitor is None or not monitor.rules.filter(metric=Metric.FRESHNESS_HOURS).exists():
            return
        _judge_freshness(monitor, now=timezone.now())


# ---------------------------------------------------------------------------------------------
# The monitor's own schedule


def forget_schedule(*, dataset_id: int) -> None:
    """A deleted dataset's monitor went with it (cascade): remove the beat entry it leaves."""
    PeriodicTask.objects.filter(name=entry_name(dataset_id), task=RUN_TASK).delete()


def run_scheduled(monitor_id: int) -> str:
    """Beat's entry for a monitor's cron: look at the data again → what was done (also kept in
    ``last_run_note``). Never raises for the data's sake: a file that cannot be read is noted."""
    monitor = Monitor.objects.select_related("dataset", "dataset__source").filter(pk=monitor_id).first()
    if monitor is None:
        # Its dataset was deleted (the monitor with it): the beat entry it left goes too.
        PeriodicTask.objects.filter(task=RUN_TASK, args=json.dumps([monitor_id])).delete()
        return "no such monitor"
    dataset = monitor.dataset
    latest = dataset.versions.order_by("-number").first()
    try:
        if dataset.source_id is not None and not dataset.removed_at_source:
            scan = catalog_scans.request_scan(actor=None, source=dataset.source, trigger="monitor")
            note = f"Scan {scan.pk} of source {dataset.source.name} queued."
        elif latest is not None and latest.source_uri.startswith("file:") and not latest.is_reference:
            version, created = catalog_versions.add_version_from_uri(
                actor=None, dataset=dataset, uri=latest.source_uri, via="system", check=False
            )
            if created:
                note = f"The file changed: version {version.number} stored, its profile decides."
            else:
                evaluate_latest(dataset_id=dataset.pk)
                note = f"The file is unchanged (version {version.number}); rules judged on its profile."
        else:
            evaluate_latest(dataset_id=dataset.pk)
            note = "Rules judged on the latest profile."
    except (ValidationError, OSError) as exc:
        message = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        note = f"Could not look at the data again: {message[:500]}"
        log.warning("monitor %s: %s", monitor_id, note)
    Monitor.objects.filter(pk=monitor.pk).update(last_run_at=timezone.now(), last_run_note=note)
    return note
